package publish

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// SumsFile and SigFile are the checksum list and its detached signature.
const (
	SumsFile = "SHA256SUMS"
	SigFile  = "SHA256SUMS.gpg"
)

// Sum is one line of SHA256SUMS.
type Sum struct {
	SHA256 string // lower-case hex
	Name   string
}

// FormatSums writes sums in sha256sum's text format, sorted by name.
func FormatSums(sums []Sum) []byte {
	s := append([]Sum(nil), sums...)
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	var b bytes.Buffer
	for _, x := range s {
		fmt.Fprintf(&b, "%s  %s\n", x.SHA256, x.Name)
	}
	return b.Bytes()
}

// ParseSums reads sha256sum output ("HEX  NAME" or "HEX *NAME"). Names
// must be plain file names: no directories, no "..".
func ParseSums(data []byte) ([]Sum, error) {
	var out []Sum
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := sc.Text()
		if t == "" {
			continue
		}
		if len(t) < 67 || (t[64:66] != "  " && t[64:66] != " *") {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line: %q", SumsFile, line, t)
		}
		sum, name := t[:64], t[66:]
		if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
			return nil, fmt.Errorf("%s:%d: bad checksum %q", SumsFile, line, sum)
		}
		if name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			return nil, fmt.Errorf("%s:%d: file name %q is not a plain name", SumsFile, line, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s:%d: %s listed twice", SumsFile, line, name)
		}
		seen[name] = true
		out = append(out, Sum{SHA256: sum, Name: name})
	}
	return out, sc.Err()
}

// readKeyRing reads an armored or binary OpenPGP key ring.
func readKeyRing(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key ring: %w", err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading key ring %s: %w", path, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("reading key ring %s: no keys", path)
	}
	return el, nil
}

// Sign makes an armored detached signature of msg with the first key in
// the armored secret key file keyFile. The signature time is epoch, or the
// signing key's creation time if that is later (a signature older than its
// key does not verify); no random salt notation is added, so RSA and EdDSA
// signatures are byte-identical from run to run.
func Sign(msg []byte, keyFile string, epoch time.Time) ([]byte, error) {
	el, err := readKeyRing(keyFile)
	if err != nil {
		return nil, err
	}
	e := el[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("signing: %s holds no secret key", keyFile)
	}
	if e.PrivateKey.Encrypted {
		return nil, fmt.Errorf("signing: the secret key in %s is protected by a passphrase (not supported; export it without one for CI)", keyFile)
	}
	t := epoch
	if c := e.PrimaryKey.CreationTime; c.After(t) {
		t = c
	}
	for _, sk := range e.Subkeys { // a signing subkey may be newer
		if sk.PrivateKey != nil && sk.Sig != nil && sk.Sig.FlagsValid && sk.Sig.FlagSign && sk.PublicKey.CreationTime.After(t) {
			t = sk.PublicKey.CreationTime
		}
	}
	no := false
	cfg := &packet.Config{Time: func() time.Time { return t }, NonDeterministicSignaturesViaNotation: &no}
	var out bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&out, e, bytes.NewReader(msg), cfg); err != nil {
		return nil, fmt.Errorf("signing with %s: %w", keyFile, err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// CheckSignature verifies an armored or binary detached signature sig over
// msg with the keys in keyringFile, at time now. It returns the signer's
// fingerprint.
func CheckSignature(msg, sig []byte, keyringFile string, now time.Time) (string, error) {
	el, err := readKeyRing(keyringFile)
	if err != nil {
		return "", err
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	check := openpgp.CheckDetachedSignature
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		check = openpgp.CheckArmoredDetachedSignature
	}
	e, err := check(el, bytes.NewReader(msg), bytes.NewReader(sig), cfg)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), nil
}
