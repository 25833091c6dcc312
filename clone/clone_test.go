package clone_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/clone"
	"github.com/xenimg/xenimg/clone/sshkey"
	"github.com/xenimg/xenimg/internal/testenv"
)

func testSeed(b byte) *sshkey.Seed {
	var s sshkey.Seed
	for i := range s {
		s[i] = b + byte(i)
	}
	return &s
}

// run validates and runs a clone job.
func run(t testing.TB, o clone.Options) (*clone.Result, error) {
	t.Helper()
	c, err := clone.New(context.Background(), o)
	if err != nil {
		return nil, err
	}
	return c.Run(context.Background())
}

// debugfsCat reads a file of an image with debugfs.
func debugfsCat(t testing.TB, img, p string) string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "debugfs"), "-R", "cat "+p, img).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s %s: %v", img, p, err)
	}
	return string(out)
}

// debugfsStat returns debugfs's stat output of a path.
func debugfsStat(t testing.TB, img, p string) string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "debugfs"), "-R", "stat "+p, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat %s %s: %v\n%s", img, p, err, out)
	}
	return string(out)
}

func e2fsck(t testing.TB, img string) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "e2fsck"), "-fn", img).CombinedOutput()
	if err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
}

func fileHash(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// treeState lists every file under dir with its hash, to prove a failed
// run wrote nothing.
func treeState(t testing.TB, dir string) map[string]string {
	t.Helper()
	st := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.Mode().IsRegular() {
			st[rel] = fileHash(t, p)
		} else {
			st[rel] = fi.Mode().String()
		}
		return nil
	})
	return st
}

func sameState(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %s changed", what, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s: %s appeared", what, k)
		}
	}
}

// TestCloneDir clones 8 slaves on image files and checks every identity
// item with e2fsprogs, blkid and ssh-keygen, then grows to 10, forces, and
// refuses a foreign volume.
func TestCloneDir(t *testing.T) {
	for _, tool := range []string{"e2fsck", "debugfs", "dumpe2fs", "blkid", "ssh-keygen"} {
		testenv.Tool(t, tool)
	}
	tmpl := makeTemplate(t, tmplOptions{})
	twin := makeTemplate(t, tmplOptions{}) // for the determinism check
	tmplHash := fileHash(t, filepath.Join(tmpl, "root.img"))
	seed := testSeed(1)
	res, err := run(t, clone.Options{From: tmpl, N: 8, Seed: seed, Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Made) != 8 || len(res.Kept) != 0 {
		t.Fatalf("made %v kept %v", res.Made, res.Kept)
	}
	if h := fileHash(t, filepath.Join(tmpl, "root.img")); h != tmplHash {
		t.Errorf("the template changed")
	}
	masterPub, err := os.ReadFile(filepath.Join(tmpl, "cluster/ssh/id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(tmpl, "cluster/ssh/id_ed25519")).Output(); err != nil || !bytes.Equal(bytes.Fields(out)[1], bytes.Fields(masterPub)[1]) {
		t.Errorf("ssh-keygen -y of the master key: %v\n%s\nwant %s", err, out, masterPub)
	}
	fi, err := os.Stat(filepath.Join(tmpl, "cluster/ssh/id_ed25519"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master private key: %v %v", fi, err)
	}
	knownHosts := filepath.Join(tmpl, "cluster/known_hosts")
	seen := map[string]map[string]string{} // item -> value -> slave
	unique := func(item, value, slave string) {
		if seen[item] == nil {
			seen[item] = map[string]string{}
		}
		if value == "" {
			t.Errorf("%s: empty %s", slave, item)
		}
		if o, ok := seen[item][value]; ok {
			t.Errorf("%s and %s share %s %q", o, slave, item, value)
		}
		seen[item][value] = slave
	}
	uuidRE := regexp.MustCompile(`(?m)^Filesystem UUID:\s+(\S+)$`)
	for n := 1; n <= 8; n++ {
		h := fmt.Sprintf("slave%d", n)
		ip := fmt.Sprintf("10.0.0.%d", 10+n)
		root := filepath.Join(tmpl, "slaves", h, "root.img")
		swapImg := filepath.Join(tmpl, "slaves", h, "swap.img")
		e2fsck(t, root)
		if got := debugfsCat(t, root, "/etc/hostname"); got != h+"\n" {
			t.Errorf("%s: /etc/hostname %q", h, got)
		}
		if got := debugfsCat(t, root, "/etc/mailname"); got != h+"\n" {
			t.Errorf("%s: /etc/mailname %q", h, got)
		}
		hosts := debugfsCat(t, root, "/etc/hosts")
		for m := 1; m <= 8; m++ {
			if !strings.Contains(hosts, fmt.Sprintf("10.0.0.%d\tslave%d\n", 10+m, m)) {
				t.Errorf("%s: /etc/hosts lacks slave%d:\n%s", h, m, hosts)
			}
		}
		if !strings.Contains(hosts, "10.0.0.1\tmaster\n") || !strings.HasPrefix(hosts, "127.0.0.1\tlocalhost\n"+ip+"\t"+h+"\n") || strings.Contains(hosts, "template") || !strings.Contains(hosts, "::1\tlocalhost ip6-localhost") {
			t.Errorf("%s: /etc/hosts:\n%s", h, hosts)
		}
		ifaces := debugfsCat(t, root, "/etc/network/interfaces")
		if !strings.Contains(ifaces, "iface eth0 inet static\n  address "+ip+"\n  netmask 255.255.255.0\n  gateway 10.0.0.1\n") {
			t.Errorf("%s: /etc/network/interfaces:\n%s", h, ifaces)
		}
		// Host keys: the template's are gone, the new ones are real keys.
		ls := debugfsLs(t, root, "/etc/ssh")
		for _, want := range []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "sshd_config"} {
			if !ls[want] {
				t.Errorf("%s: /etc/ssh lacks %s", h, want)
			}
		}
		if ls["ssh_host_dsa_key"] || ls["ssh_host_dsa_key.pub"] {
			t.Errorf("%s: the template's DSA host key survived", h)
		}
		pub := debugfsCat(t, root, "/etc/ssh/ssh_host_ed25519_key.pub")
		pubFile := filepath.Join(t.TempDir(), "k.pub")
		os.WriteFile(pubFile, []byte(pub), 0o644)
		fp, err := exec.Command("ssh-keygen", "-l", "-f", pubFile).Output()
		if err != nil {
			t.Fatalf("%s: ssh-keygen -l: %v", h, err)
		}
		unique("ed25519 host key", strings.Fields(string(fp))[1], h)
		priv := debugfsCat(t, root, "/etc/ssh/ssh_host_ed25519_key")
		privFile := filepath.Join(t.TempDir(), "k")
		os.WriteFile(privFile, []byte(priv), 0o600)
		if out, err := exec.Command("ssh-keygen", "-y", "-f", privFile).Output(); err != nil || !bytes.Equal(bytes.Fields(out)[1], bytes.Fields([]byte(pub))[1]) {
			t.Errorf("%s: private host key does not match its .pub: %v", h, err)
		}
		if st := debugfsStat(t, root, "/etc/ssh/ssh_host_ed25519_key"); !strings.Contains(st, "Mode:  0600") {
			t.Errorf("%s: host key mode:\n%s", h, st)
		}
		// known_hosts has this key under the slave's name and IP.
		for _, name := range []string{h, ip} {
			out, err := exec.Command("ssh-keygen", "-F", name, "-f", knownHosts).Output()
			if err != nil || !strings.Contains(string(out), strings.Fields(pub)[1]) {
				t.Errorf("%s: ssh-keygen -F %s: %v\n%s", h, name, err, out)
			}
		}
		// authorized_keys.
		for _, f := range []string{"/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2"} {
			if got := debugfsCat(t, root, f); got != string(masterPub) {
				t.Errorf("%s: %s = %q, want the master key %q", h, f, got, masterPub)
			}
			if st := debugfsStat(t, root, f); !strings.Contains(st, "Mode:  0600") || !strings.Contains(st, "User:     0   Group:     0") {
				t.Errorf("%s: %s:\n%s", h, f, st)
			}
		}
		if st := debugfsStat(t, root, "/root/.ssh"); !strings.Contains(st, "Mode:  0700") {
			t.Errorf("%s: /root/.ssh:\n%s", h, st)
		}
		mid := debugfsCat(t, root, "/etc/machine-id")
		if !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(mid) || mid == "0123456789abcdef0123456789abcdef\n" {
			t.Errorf("%s: machine-id %q", h, mid)
		}
		unique("machine-id", mid, h)
		if d := debugfsCat(t, root, "/var/lib/dbus/machine-id"); d != mid {
			t.Errorf("%s: dbus machine-id %q, /etc/machine-id %q", h, d, mid)
		}
		rs := debugfsCat(t, root, "/var/lib/systemd/random-seed")
		if len(rs) != 512 || rs == strings.Repeat("\x42", 512) {
			t.Errorf("%s: random-seed not renewed (%d bytes)", h, len(rs))
		}
		unique("random-seed", rs, h)
		gone := debugfsLs(t, root, "/etc/udev/rules.d")
		if gone["70-persistent-net.rules"] || !gone["75-persistent-net-generator.rules"] {
			t.Errorf("%s: /etc/udev/rules.d: %v", h, gone)
		}
		if debugfsLs(t, root, "/var/lib/dhcp")["dhclient.eth0.leases"] {
			t.Errorf("%s: DHCP lease survived", h)
		}
		// UUIDs: filesystem (dumpe2fs), swap (blkid -p), and fstab names both.
		out, err := exec.Command("dumpe2fs", "-h", root).Output()
		if err != nil {
			t.Fatalf("%s: dumpe2fs: %v", h, err)
		}
		m := uuidRE.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("%s: dumpe2fs -h shows no UUID", h)
		}
		fsUUID := m[1]
		unique("filesystem UUID", fsUUID, h)
		out, err = exec.Command("blkid", "-p", "-o", "value", "-s", "UUID", swapImg).Output()
		if err != nil {
			t.Fatalf("%s: blkid -p %s: %v", h, swapImg, err)
		}
		swapUUID := strings.TrimSpace(string(out))
		unique("swap UUID", swapUUID, h)
		fstab := debugfsCat(t, root, "/etc/fstab")
		if !strings.Contains(fstab, "UUID="+fsUUID+"\t/\t") || !strings.Contains(fstab, "UUID="+swapUUID+"\tnone\tswap") {
			t.Errorf("%s: fstab does not name UUIDs %s and %s:\n%s", h, fsUUID, swapUUID, fstab)
		}
		if debugfsCat(t, root, "/etc/default/keep-me") != "unchanged\n" {
			t.Errorf("%s: an unrelated file changed", h)
		}
		// Sparse: far fewer blocks than the apparent size.
		var st = mustStat(t, root)
		if st.blocks*512 > st.size/4 {
			t.Errorf("%s: root.img uses %d bytes on disk of %d: not sparse", h, st.blocks*512, st.size)
		}
		if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: root.img mode %v, want 0600 (it holds private keys)", h, fi.Mode())
		}
		cfg, err := os.ReadFile(filepath.Join(tmpl, "xen", h+".cfg"))
		if err != nil {
			t.Fatal(err)
		}
		mac := inventoryMAC(t, tmpl, h)
		unique("MAC", mac, h)
		for _, want := range []string{`name = "` + h + `"`, root, swapImg, mac} {
			if !strings.Contains(string(cfg), want) {
				t.Errorf("%s: domain config lacks %q:\n%s", h, want, cfg)
			}
		}
	}
	for _, f := range []string{"hosts", "pvm_hosts", "mpi_hosts", "ssh_config", "inventory.json"} {
		data, err := os.ReadFile(filepath.Join(tmpl, "cluster", f))
		if err != nil || !bytes.Contains(data, []byte("slave8")) {
			t.Errorf("cluster/%s: %v\n%s", f, err, data)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(tmpl, "cluster/ssh_config"))
	if !bytes.Contains(cfg, []byte("IdentityFile "+filepath.Join(tmpl, "cluster/ssh/id_ed25519")+"\n")) {
		t.Errorf("ssh_config:\n%s", cfg)
	}
	if _, err := exec.Command("ssh", "-G", "-F", filepath.Join(tmpl, "cluster/ssh_config"), "slave3").Output(); err != nil {
		t.Errorf("ssh -G rejects ssh_config: %v", err)
	}

	// Same template, same seed: the same bytes, whatever the parallelism.
	if _, err := run(t, clone.Options{From: twin, N: 8, Seed: seed, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"slaves/slave2/root.img", "slaves/slave2/swap.img", "cluster/ssh/id_ed25519"} {
		if fileHash(t, filepath.Join(tmpl, f)) != fileHash(t, filepath.Join(twin, f)) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
	}

	// Growing to 10 leaves 1..8 byte-identical and adds 9 and 10.
	before := treeState(t, filepath.Join(tmpl, "slaves"))
	res, err = run(t, clone.Options{From: tmpl, N: 10, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Made, ",") != "slave9,slave10" || len(res.Kept) != 8 {
		t.Errorf("grow: made %v kept %v", res.Made, res.Kept)
	}
	after := treeState(t, filepath.Join(tmpl, "slaves"))
	for k, v := range before {
		if after[k] != v {
			t.Errorf("grow changed %s", k)
		}
	}
	e2fsck(t, filepath.Join(tmpl, "slaves/slave10/root.img"))
	hosts, _ := os.ReadFile(filepath.Join(tmpl, "cluster/hosts"))
	if !bytes.Contains(hosts, []byte("10.0.0.20\tslave10\n")) {
		t.Errorf("cluster/hosts after growing:\n%s", hosts)
	}
	for _, name := range []string{"slave1", "slave10"} {
		if out, err := exec.Command("ssh-keygen", "-F", name, "-f", knownHosts).Output(); err != nil || len(out) == 0 {
			t.Errorf("known_hosts lacks %s after growing", name)
		}
	}

	// --force remakes every slave; the same seed makes the same bytes again.
	slave1 := filepath.Join(tmpl, "slaves/slave1/root.img")
	wantKey := debugfsCat(t, slave1, "/etc/ssh/ssh_host_ed25519_key.pub")
	f, err := os.OpenFile(slave1, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("damage"), 8192)
	f.Close()
	res, err = run(t, clone.Options{From: tmpl, N: 10, Seed: seed, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Made) != 10 {
		t.Errorf("--force made %v", res.Made)
	}
	e2fsck(t, slave1)
	if got := debugfsCat(t, slave1, "/etc/ssh/ssh_host_ed25519_key.pub"); got != wantKey {
		t.Errorf("--force: slave1's host key changed with the same seed: %q, want %q", got, wantKey)
	}
	if hosts := debugfsCat(t, slave1, "/etc/hosts"); !strings.Contains(hosts, "slave10") {
		t.Errorf("--force: slave1 was not remade for 10 slaves:\n%s", hosts)
	}

	// A foreign volume is refused without --force, naming slave and file,
	// and nothing is written.
	foreign := filepath.Join(tmpl, "slaves/slave11/root.img")
	os.MkdirAll(filepath.Dir(foreign), 0o755)
	os.WriteFile(foreign, []byte("not a slave"), 0o644)
	before = treeState(t, tmpl)
	_, err = run(t, clone.Options{From: tmpl, N: 12, Seed: seed})
	if err == nil || !errors.Is(err, clone.ErrExists) || !strings.Contains(err.Error(), "slave slave11") || !strings.Contains(err.Error(), foreign) {
		t.Errorf("foreign volume: got %v", err)
	}
	sameState(t, "refused run", before, treeState(t, tmpl))
}

type statInfo struct{ size, blocks int64 }

func debugfsLs(t testing.TB, img, dir string) map[string]bool {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "debugfs"), "-R", "ls -l "+dir, img).Output()
	if err != nil {
		t.Fatalf("debugfs ls %s: %v", dir, err)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			names[f[len(f)-1]] = true
		}
	}
	return names
}

func inventoryMAC(t testing.TB, dir, host string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cluster/inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Slaves []struct {
			Name, MAC string
		}
	}
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatal(err)
	}
	for _, s := range inv.Slaves {
		if s.Name == host {
			return s.MAC
		}
	}
	t.Fatalf("inventory.json has no %s", host)
	return ""
}

// TestCloneLegacySuite: a squeeze-era template gets PEM RSA and DSA host
// keys (OpenSSH 5.5 reads nothing newer), the master an RSA key, and
// ssh_config the options a modern client needs to talk to it.
func TestCloneLegacySuite(t *testing.T) {
	testenv.Tool(t, "ssh-keygen")
	testenv.Tool(t, "debugfs")
	dir := makeTemplate(t, tmplOptions{codename: "squeeze"})
	if _, err := run(t, clone.Options{From: dir, N: 1, Seed: testSeed(2)}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "slaves/slave1/root.img")
	ls := debugfsLs(t, root, "/etc/ssh")
	for _, want := range []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_dsa_key", "ssh_host_dsa_key.pub"} {
		if !ls[want] {
			t.Errorf("/etc/ssh lacks %s", want)
		}
	}
	if ls["ssh_host_ed25519_key"] || ls["ssh_host_ed25519_key.pub"] {
		t.Errorf("the template's ed25519 key survived on a squeeze slave")
	}
	for key, head := range map[string]string{"rsa": "-----BEGIN RSA PRIVATE KEY-----", "dsa": "-----BEGIN DSA PRIVATE KEY-----"} {
		priv := debugfsCat(t, root, "/etc/ssh/ssh_host_"+key+"_key")
		if !strings.HasPrefix(priv, head) {
			t.Errorf("%s host key is not PEM: %.40q", key, priv)
		}
		if strings.Contains(debugfsCat(t, root, "/etc/ssh/ssh_host_dsa_key.pub"), "template") {
			t.Errorf("the template's DSA public key survived")
		}
	}
	priv := filepath.Join(t.TempDir(), "k")
	os.WriteFile(priv, []byte(debugfsCat(t, root, "/etc/ssh/ssh_host_rsa_key")), 0o600)
	if out, err := exec.Command("ssh-keygen", "-y", "-f", priv).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ssh-rsa ") {
		t.Errorf("ssh-keygen -y of the PEM RSA host key: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster/ssh/id_rsa")); err != nil {
		t.Errorf("legacy master key: %v", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "cluster/ssh_config"))
	if !bytes.Contains(cfg, []byte("HostKeyAlgorithms +ssh-rsa")) || !bytes.Contains(cfg, []byte("/cluster/ssh/id_rsa\n")) {
		t.Errorf("ssh_config for a legacy cluster:\n%s", cfg)
	}
	if got := debugfsCat(t, root, "/root/.ssh/authorized_keys"); !strings.HasPrefix(got, "ssh-rsa ") {
		t.Errorf("authorized_keys: %q", got)
	}
}
