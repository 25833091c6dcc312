package sshkey

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/xenimg/xenimg/internal/testenv"
)

func seedOf(s string) Seed {
	var z Seed
	return DeriveSeed(z, "test", s)
}

// testKeys caches generated keys: RSA generation is the slow part.
var testKeys = map[string]*Key{}

func key(t *testing.T, seed string, typ Type, bits int) *Key {
	t.Helper()
	id := seed + "/" + string(typ) + "/" + strconv.Itoa(bits)
	if k, ok := testKeys[id]; ok {
		return k
	}
	k, err := Generate(seedOf(seed), typ, bits, "root@slave1")
	if err != nil {
		t.Fatalf("Generate(%s, %d): %v", typ, bits, err)
	}
	testKeys[id] = k
	return k
}

var cases = []struct {
	typ  Type
	bits int
}{
	{RSA, 1024}, {RSA, 2048}, {DSA, 0}, {ECDSA, 0}, {Ed25519, 0},
}

func TestBitsAndBlobParse(t *testing.T) {
	for _, c := range cases {
		k := key(t, "a", c.typ, c.bits)
		want := c.bits
		if want == 0 {
			want = map[Type]int{DSA: 1024, ECDSA: 256, Ed25519: 256}[c.typ]
		}
		if k.Bits() != want {
			t.Errorf("%s: Bits() = %d, want %d", c.typ, k.Bits(), want)
		}
		if c.typ == DSA {
			continue // x/crypto/ssh dropped ssh-dss; ssh-keygen judges it below
		}
		// x/crypto/ssh is an independent parser of the wire format.
		pub, _, _, _, err := ssh.ParseAuthorizedKey(k.AuthorizedKey())
		if err != nil {
			t.Errorf("%s: x/crypto/ssh rejects %q: %v", c.typ, k.AuthorizedKey(), err)
			continue
		}
		if pub.Type() != k.Algorithm() || !bytes.Equal(pub.Marshal(), k.PublicBlob()) {
			t.Errorf("%s: x/crypto/ssh round trip differs", c.typ)
		}
		if got := ssh.FingerprintSHA256(pub); got != k.FingerprintSHA256() {
			t.Errorf("%s: SHA256 fingerprint %s, x/crypto/ssh says %s", c.typ, k.FingerprintSHA256(), got)
		}
		if got := "MD5:" + ssh.FingerprintLegacyMD5(pub); got != k.FingerprintMD5() {
			t.Errorf("%s: MD5 fingerprint %s, x/crypto/ssh says %s", c.typ, k.FingerprintMD5(), got)
		}
		// The private encodings parse back to the same public key.
		encs := map[string][]byte{"openssh": k.MarshalOpenSSH()}
		if c.typ != Ed25519 {
			p, err := k.MarshalPEM()
			if err != nil {
				t.Fatalf("%s: MarshalPEM: %v", c.typ, err)
			}
			encs["pem"] = p
		}
		for name, enc := range encs {
			signer, err := ssh.ParsePrivateKey(enc)
			if err != nil {
				t.Errorf("%s %s: x/crypto/ssh cannot parse: %v\n%s", c.typ, name, err, enc)
				continue
			}
			if !bytes.Equal(signer.PublicKey().Marshal(), k.PublicBlob()) {
				t.Errorf("%s %s: private key holds another public key", c.typ, name)
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, c := range cases {
		a := key(t, "a", c.typ, c.bits)
		again, err := Generate(seedOf("a"), c.typ, c.bits, "root@slave1")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.MarshalOpenSSH(), again.MarshalOpenSSH()) {
			t.Errorf("%s: same seed, different bytes", c.typ)
		}
		b := key(t, "b", c.typ, c.bits)
		if bytes.Equal(a.PublicBlob(), b.PublicBlob()) {
			t.Errorf("%s: different seeds, same key", c.typ)
		}
	}
	for _, c := range cases {
		k := key(t, "a", c.typ, c.bits)
		p, err := ParsePublicKey(k.AuthorizedKey())
		if err != nil || !bytes.Equal(p.Blob, k.PublicBlob()) || p.Comment != k.Comment || p.Algorithm != k.Algorithm() {
			t.Errorf("%s: ParsePublicKey(AuthorizedKey()) = %+v, %v", c.typ, p, err)
		}
	}
	if DeriveSeed(Seed{}, "ab", "c") == DeriveSeed(Seed{}, "a", "bc") {
		t.Error("DeriveSeed labels are not length-prefixed")
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		bits int
		want string
	}{
		{RSA, 512, "RSA size 512 bits"},
		{RSA, 1025, "RSA size 1025 bits"},
		{DSA, 2048, "DSA size 2048 bits: OpenSSH only accepts 1024"},
		{ECDSA, 384, "only P-256"},
		{"rsa1", 0, `unknown key type "rsa1"`},
	} {
		_, err := Generate(Seed{}, c.typ, c.bits, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%s, %d) error %v, want %q", c.typ, c.bits, err, c.want)
		}
	}
	for _, c := range []struct{ line, want string }{
		{"ssh-rsa", "want \"algorithm base64 [comment]\""},
		{"ssh-rsa !!!", "decoding ssh-rsa public key"},
		{"ssh-rsa AAA=", "truncated"},
		{"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==", "does not start with its algorithm"},
		{"ssh-rsa AAAA/w==", "does not start with its algorithm"},
	} {
		_, err := ParsePublicKey([]byte(c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePublicKey(%q) error %v, want %q", c.line, err, c.want)
		}
	}
	if _, err := EraFor("hamm"); err == nil || !strings.Contains(err.Error(), `"hamm"`) {
		t.Errorf("EraFor(hamm) error %v", err)
	}
	if _, err := HostKeys(Seed{}, Era(9), Options{}); err == nil {
		t.Error("HostKeys accepted Era(9)")
	}
	k := key(t, "a", Ed25519, 0)
	if _, err := k.MarshalPEM(); err == nil {
		t.Error("MarshalPEM of Ed25519 succeeded")
	}
}

// sshKeygen runs ssh-keygen on a private key file and checks that it derives
// our .pub and our fingerprints.
func sshKeygen(t *testing.T, bin, dir, name string, priv []byte, k *Key) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-y", "-f", p).CombinedOutput()
	if err != nil {
		t.Errorf("%s: ssh-keygen -y: %v\n%s", name, err, out)
		return
	}
	want := k.Algorithm() + " " + k.PublicBase64()
	if got := strings.TrimSpace(string(out)); got != want && got != want+" "+k.Comment {
		t.Errorf("%s: ssh-keygen -y printed\n%s\nwant\n%s", name, got, want)
	}
	// ssh-keygen -l reads the .pub next to the key; write ours there.
	if err := os.WriteFile(p+".pub", k.AuthorizedKey(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, hash := range []string{"sha256", "md5"} {
		out, err := exec.Command(bin, "-l", "-E", hash, "-f", p).CombinedOutput()
		if err != nil {
			t.Errorf("%s: ssh-keygen -l: %v\n%s", name, err, out)
			continue
		}
		f := strings.Fields(string(out))
		fp := k.FingerprintSHA256()
		if hash == "md5" {
			fp = k.FingerprintMD5()
		}
		if len(f) < 2 || f[0] != strconv.Itoa(k.Bits()) || f[1] != fp {
			t.Errorf("%s: ssh-keygen -l -E %s printed %q, want %d %s", name, hash, out, k.Bits(), fp)
		}
	}
}

func TestSSHKeygenReadsKeys(t *testing.T) {
	bin := testenv.Tool(t, "ssh-keygen")
	dir := t.TempDir()
	for _, c := range cases {
		k := key(t, "a", c.typ, c.bits)
		sshKeygen(t, bin, dir, string(c.typ)+"-openssh", k.MarshalOpenSSH(), k)
		if c.typ != Ed25519 {
			p, err := k.MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			sshKeygen(t, bin, dir, string(c.typ)+"-pem", p, k)
		}
	}
}

func TestOpenSSLChecksPEM(t *testing.T) {
	bin := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	for _, c := range []struct {
		typ  Type
		bits int
		cmd  string
	}{{RSA, 2048, "rsa"}, {DSA, 0, "dsa"}, {ECDSA, 0, "ec"}} {
		k := key(t, "a", c.typ, c.bits)
		p, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, string(c.typ)+".pem")
		if err := os.WriteFile(f, p, 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{c.cmd, "-in", f, "-check", "-noout"}
		if c.typ == DSA {
			// openssl dsa has no -check; pkey -check verifies p, q, g, x, y.
			args = []string{"pkey", "-in", f, "-check", "-noout"}
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("%s: openssl %v: %v\n%s", c.typ, args, err, out)
		}
		// The PEM must be the traditional (not PKCS#8) form old OpenSSL reads.
		if !bytes.HasPrefix(p, []byte("-----BEGIN "+strings.ToUpper(map[string]string{"rsa": "RSA", "dsa": "DSA", "ec": "EC"}[c.cmd])+" PRIVATE KEY-----\n")) {
			t.Errorf("%s: unexpected PEM header: %.40q", c.typ, p)
		}
	}
}

func TestHostKeysFiles(t *testing.T) {
	for _, c := range []struct {
		era   Era
		files []string
		head  string
	}{
		{Legacy, []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_dsa_key", "ssh_host_dsa_key.pub"}, "-----BEGIN RSA PRIVATE KEY-----"},
		{PEMWithECDSA, []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_dsa_key", "ssh_host_dsa_key.pub", "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub"}, "-----BEGIN RSA PRIVATE KEY-----"},
		{Modern, []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"}, "-----BEGIN OPENSSH PRIVATE KEY-----"},
	} {
		set, err := HostKeys(seedOf("h"), c.era, Options{Comment: "root@slave1", RSABits: 1024})
		if err != nil {
			t.Fatalf("%v: %v", c.era, err)
		}
		var got []string
		for _, f := range set.Files {
			got = append(got, strings.TrimPrefix(f.Path, "/etc/ssh/"))
			want := os.FileMode(0o600)
			if strings.HasSuffix(f.Path, ".pub") {
				want = 0o644
			}
			if f.Mode != want {
				t.Errorf("%v %s: mode %o, want %o", c.era, f.Path, f.Mode, want)
			}
		}
		if strings.Join(got, " ") != strings.Join(c.files, " ") {
			t.Errorf("%v: files %v, want %v", c.era, got, c.files)
		}
		if !bytes.HasPrefix(set.Files[0].Data, []byte(c.head)) {
			t.Errorf("%v: first key starts %.40q, want %s", c.era, set.Files[0].Data, c.head)
		}
		if len(set.Keys) != len(c.files)/2 || !strings.HasSuffix(string(set.Files[1].Data), " root@slave1\n") {
			t.Errorf("%v: keys %d, pub %q", c.era, len(set.Keys), set.Files[1].Data)
		}
	}
	// A host key differs from a user key of the same seed and type.
	hs, err := HostKeys(seedOf("h"), Modern, Options{RSABits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	us, err := UserKey(seedOf("h"), Modern, Options{Comment: "root@master"})
	if err != nil {
		t.Fatal(err)
	}
	if us.Files[0].Path != "id_ed25519" || us.Files[1].Path != "id_ed25519.pub" {
		t.Errorf("user key files %s %s", us.Files[0].Path, us.Files[1].Path)
	}
	if bytes.Equal(hs.Keys[2].PublicBlob(), us.Keys[0].PublicBlob()) {
		t.Error("host and user ed25519 keys are equal")
	}
	ul, err := UserKey(seedOf("h"), Legacy, Options{RSABits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if ul.Files[0].Path != "id_rsa" || ul.Keys[0].Type != RSA {
		t.Errorf("legacy user key is %s %s", ul.Files[0].Path, ul.Keys[0].Type)
	}
}

func BenchmarkRSA3072(b *testing.B) {
	for i := range b.N {
		if _, err := Generate(DeriveSeed(Seed{}, "bench", strconv.Itoa(i)), RSA, 3072, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRSA2048(b *testing.B) {
	for i := range b.N {
		if _, err := Generate(DeriveSeed(Seed{}, "bench", strconv.Itoa(i)), RSA, 2048, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDSA(b *testing.B) {
	for i := range b.N {
		if _, err := Generate(DeriveSeed(Seed{}, "bench", strconv.Itoa(i)), DSA, 0, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== c"))
	f.Add([]byte("ssh-rsa AAAA/w=="))
	f.Fuzz(func(t *testing.T, line []byte) {
		p, err := ParsePublicKey(line)
		if err != nil {
			return
		}
		q, err := ParsePublicKey(p.AuthorizedKey())
		if err != nil || !bytes.Equal(p.Blob, q.Blob) || p.Algorithm != q.Algorithm {
			t.Fatalf("round trip of %q: %+v, %v", line, q, err)
		}
	})
}

var update = flag.Bool("update", false, "rewrite testdata/hostkeys.golden")

// TestHostKeysGolden pins the bytes a fixed seed gives, so a change in the
// derivation (or in math/big's primality test or ChaCha8) that would give
// re-run clones new keys is caught. testdata/hostkeys.golden is written by
// "go test ./clone/sshkey -run TestHostKeysGolden -update".
func TestHostKeysGolden(t *testing.T) {
	var b strings.Builder
	for _, era := range []Era{Legacy, PEMWithECDSA, Modern} {
		set, err := HostKeys(DeriveSeed(Seed{}, "golden"), era, Options{Comment: "root@slave1", RSABits: 1024})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range set.Files {
			fmt.Fprintf(&b, "%s %s %04o %x\n", era, f.Path, f.Mode, sha256.Sum256(f.Data))
		}
		for _, k := range set.Keys {
			fmt.Fprintf(&b, "%s %s %s\n", era, k.Algorithm(), k.FingerprintSHA256())
		}
	}
	path := filepath.Join("testdata", "hostkeys.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("host keys of the golden seed changed:\n%s\nwant\n%s", b.String(), want)
	}
}

func BenchmarkHostKeys(b *testing.B) {
	for _, era := range []Era{Legacy, PEMWithECDSA, Modern} {
		b.Run(era.String(), func(b *testing.B) {
			for i := range b.N {
				if _, err := HostKeys(DeriveSeed(Seed{}, "bench", strconv.Itoa(i)), era, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
