package testarchive

import (
	"bytes"
	"embed"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// The keys are generated once by testdata/gen-keys.sh and committed; see
// testdata/README.

//go:embed testdata/*.asc testdata/*.gpg
var keyFiles embed.FS

// KeyName names one of the committed test keys.
type KeyName string

const (
	// KeySarge is a DSA 1024 key created 2004-06-01 that expired on
	// 2006-06-01, like sarge's archive key: sign with a time in 2005.
	KeySarge KeyName = "sarge"
	// KeyModern is an RSA 3072 key without expiry, created 2020-01-01.
	KeyModern KeyName = "modern"
	// KeyOther is an Ed25519 key no recipe trusts (an unknown signer).
	KeyOther KeyName = "other"
)

// Key returns the named key with its secret part, ready to sign.
func Key(t testing.TB, name KeyName) *openpgp.Entity {
	t.Helper()
	b, err := keyFiles.ReadFile("testdata/" + string(name) + "-sec.asc")
	if err != nil {
		t.Fatalf("testarchive: reading key %s: %v", name, err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("testarchive: parsing key %s: %v", name, err)
	}
	if len(el) != 1 {
		t.Fatalf("testarchive: key %s: %d entities, want 1", name, len(el))
	}
	return el[0]
}

// SargeKey is Key(t, KeySarge).
func SargeKey(t testing.TB) *openpgp.Entity { t.Helper(); return Key(t, KeySarge) }

// ModernKey is Key(t, KeyModern).
func ModernKey(t testing.TB) *openpgp.Entity { t.Helper(); return Key(t, KeyModern) }

// OtherKey is Key(t, KeyOther).
func OtherKey(t testing.TB) *openpgp.Entity { t.Helper(); return Key(t, KeyOther) }

// PublicKeyring returns the named public key as a keyring file in a test
// temporary directory, for gpgv and for recipes (`keyring = path`).
// armored selects the ASCII-armored form (.asc); otherwise it is the binary
// keyring (.gpg) that gpgv and debootstrap --keyring read.
func PublicKeyring(t testing.TB, name KeyName, armored bool) string {
	t.Helper()
	ext := ".gpg"
	if armored {
		ext = ".asc"
	}
	b, err := keyFiles.ReadFile("testdata/" + string(name) + "-pub" + ext)
	if err != nil {
		t.Fatalf("testarchive: reading public key %s: %v", name, err)
	}
	p := filepath.Join(t.TempDir(), string(name)+"-archive-keyring"+ext)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatalf("testarchive: writing keyring: %v", err)
	}
	return p
}

// PublicKey returns the raw bytes of the named public key (binary form when
// armored is false).
func PublicKey(name KeyName, armored bool) ([]byte, error) {
	ext := ".gpg"
	if armored {
		ext = ".asc"
	}
	return keyFiles.ReadFile("testdata/" + string(name) + "-pub" + ext)
}
