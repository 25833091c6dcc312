package release

import (
	"bytes"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/xenimg/xenimg/internal/testarchive"
)

var (
	now      = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	in2005   = time.Date(2005, 6, 6, 12, 0, 0, 0, time.UTC)
	in2020   = time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	modernRe = "Origin: Test\nCodename: bookworm\nDate: Mon, 01 Mar 2021 00:00:00 UTC\nArchitectures: amd64 i386\nComponents: main\nSHA256:\n " +
		strings.Repeat("ab", 32) + " 123 main/binary-amd64/Packages.xz\n"
)

func sigConfig(when time.Time, h crypto.Hash) *packet.Config {
	return &packet.Config{Time: func() time.Time { return when }, DefaultHash: h}
}

func detachSign(t *testing.T, e *openpgp.Entity, msg []byte, when time.Time, h crypto.Hash, armored bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if armored {
		err = openpgp.ArmoredDetachSign(&buf, e, bytes.NewReader(msg), sigConfig(when, h))
	} else {
		err = openpgp.DetachSign(&buf, e, bytes.NewReader(msg), sigConfig(when, h))
	}
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return buf.Bytes()
}

func clearSign(t *testing.T, e *openpgp.Entity, msg []byte, when time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, sigConfig(when, crypto.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pubRing(t *testing.T, names ...testarchive.KeyName) openpgp.EntityList {
	t.Helper()
	var el openpgp.EntityList
	for _, n := range names {
		b, err := testarchive.PublicKey(n, n == testarchive.KeyModern)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ReadKeyring(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		el = append(el, k...)
	}
	return el
}

func TestVerifyInRelease(t *testing.T) {
	in := clearSign(t, testarchive.ModernKey(t), []byte(modernRe), in2020)
	v, err := VerifyInRelease(in, VerifyOptions{Keyring: pubRing(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if v.Release.Codename != "bookworm" || len(v.Warnings) != 0 || len(v.Signers) != 1 {
		t.Fatalf("got %+v", v)
	}
	if s := v.Signers[0]; !strings.Contains(s.UserID, "Modern Test Archive") || !s.Signed.Equal(in2020) || s.Expired {
		t.Errorf("signer %+v", s)
	}
	if f, ok := v.Release.Lookup("main/binary-amd64/Packages.xz"); !ok || f.Size != 123 {
		t.Errorf("Lookup: %+v %v", f, ok)
	}
}

func TestVerifyInReleaseRejects(t *testing.T) {
	modern := testarchive.ModernKey(t)
	good := clearSign(t, modern, []byte(modernRe), in2020)
	ring := pubRing(t, testarchive.KeyModern)
	tests := []struct {
		name string
		data []byte
		ring openpgp.EntityList
		want string
		as   any
	}{
		{"tampered", bytes.Replace(good, []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1), ring,
			"release: bad signature by key", new(*BadSignatureError)},
		{"tampered sum", bytes.Replace(good, []byte(" 123 main"), []byte(" 124 main"), 1), ring,
			"altered or corrupted", new(*BadSignatureError)},
		{"unknown signer", clearSign(t, testarchive.OtherKey(t), []byte(modernRe), in2020), ring,
			"release: signed by unknown key(s) " + testarchive.OtherKey(t).PrimaryKey.KeyIdString(), new(*UnknownSignerError)},
		{"not clearsigned", []byte(modernRe), ring, "not a clearsigned message", nil},
		{"text before", append([]byte("Codename: evil\n\n"), good...), ring, "not a clearsigned message", nil},
		{"text after", append(append([]byte{}, good...), "Codename: evil\n"...), ring, "text after the signature", nil},
		{"truncated", good[:len(good)-40], ring, "not a clearsigned message", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := VerifyInRelease(tt.data, VerifyOptions{Keyring: tt.ring, Now: now, AllowExpired: true})
			if err == nil {
				t.Fatalf("accepted: %+v", v.Release)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.as != nil && !errors.As(err, tt.as) {
				t.Errorf("error %T is not %T", err, tt.as)
			}
		})
	}
}

// sargeFixture writes a sarge-format archive signed at signTime by the
// expired DSA test key and returns dists/sarge/Release and Release.gpg
// (armored, or its binary packets).
func sargeFixture(t *testing.T, signTime time.Time, armored bool) (rel, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	a := &testarchive.Archive{
		Codename: "sarge", Suite: "oldstable", Version: "3.1r8", Style: testarchive.Sarge,
		Key: testarchive.SargeKey(t), SignTime: signTime, Arches: []string{"i386"},
		Packages: []testarchive.Package{{Name: "base-files", Version: "3.1.2", Arch: "i386"}},
	}
	if err := a.Write(dir); err != nil {
		t.Fatal(err)
	}
	rel = mustRead(t, filepath.Join(dir, "dists/sarge/Release"))
	sig = mustRead(t, filepath.Join(dir, "dists/sarge/Release.gpg"))
	if _, err := os.Stat(filepath.Join(dir, "dists/sarge/InRelease")); err == nil {
		t.Fatal("sarge fixture has an InRelease")
	}
	if !armored {
		blk, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			t.Fatalf("Release.gpg is not armored: %v", err)
		}
		if sig, err = io.ReadAll(blk.Body); err != nil {
			t.Fatal(err)
		}
	}
	return rel, sig
}

func TestVerifySargeExpiredKey(t *testing.T) {
	sarge := testarchive.SargeKey(t)
	if sarge.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoDSA {
		t.Fatalf("sarge test key is %v, want DSA", sarge.PrimaryKey.PubKeyAlgo)
	}
	ring := pubRing(t, testarchive.KeySarge)
	for _, armored := range []bool{false, true} {
		rel, sig := sargeFixture(t, in2005, armored)
		if p, err := packet.Read(bytes.NewReader(mustBinary(t, sig))); err != nil || p.(*packet.Signature).Hash != crypto.SHA1 {
			t.Fatalf("fixture signature is not SHA-1: %v", err)
		}

		// Without AllowExpired: an error naming the key and its expiry.
		_, err := VerifyDetached(rel, sig, VerifyOptions{Keyring: ring, Now: now})
		var ee *ExpiredKeyError
		if !errors.As(err, &ee) {
			t.Fatalf("armored=%v: error %v, want *ExpiredKeyError", armored, err)
		}
		for _, want := range []string{sarge.PrimaryKey.KeyIdString(), "Sarge Test Archive", "expired on 2006-06-01", "allow expired keys"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}

		// With it: accepted, with a warning.
		v, err := VerifyDetached(rel, sig, VerifyOptions{Keyring: ring, Now: now, AllowExpired: true})
		if err != nil {
			t.Fatalf("armored=%v AllowExpired: %v", armored, err)
		}
		if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "expired key "+sarge.PrimaryKey.KeyIdString()) || !strings.Contains(v.Warnings[0], "signed 2005-06-06") {
			t.Errorf("warnings %q", v.Warnings)
		}
		if v.Release.Codename != "sarge" {
			t.Errorf("Codename %q", v.Release.Codename)
		}
		f, ok := v.Release.Lookup("main/binary-i386/Packages.gz")
		if alg, _ := f.Best(); !ok || alg != "MD5Sum" || f.SHA256 != "" {
			t.Errorf("Lookup %+v %v: want MD5 only", f, ok)
		}

		// While the key was valid no flag is needed.
		if _, err := VerifyDetached(rel, sig, VerifyOptions{Keyring: ring, Now: in2005.Add(time.Hour)}); err != nil {
			t.Errorf("checked in 2005: %v", err)
		}
	}
}

func mustBinary(t *testing.T, sig []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(sig, []byte("-----BEGIN")) {
		return sig
	}
	blk, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(blk.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyDetachedRejects(t *testing.T) {
	sarge := testarchive.SargeKey(t)
	ring := pubRing(t, testarchive.KeySarge)
	rel, sig := sargeFixture(t, in2005, true)

	// A signature made after the key expired is refused even with the flag.
	rel2, late := sargeFixture(t, time.Date(2007, 1, 1, 0, 0, 0, 0, time.UTC), true)
	_, err := VerifyDetached(rel2, late, VerifyOptions{Keyring: ring, Now: now, AllowExpired: true})
	if err == nil || !strings.Contains(err.Error(), "outside the key's validity (created 2004-06-01, expired 2006-06-01)") {
		t.Errorf("late signature: %v", err)
	}

	tampered := bytes.Replace(rel, []byte("Codename: sarge"), []byte("Codename: sargf"), 1)
	if bytes.Equal(tampered, rel) {
		t.Fatal("fixture has no Codename line")
	}
	_, err = VerifyDetached(tampered, sig, VerifyOptions{Keyring: ring, Now: now, AllowExpired: true})
	var bad *BadSignatureError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "bad signature by key "+sarge.PrimaryKey.KeyIdString()) {
		t.Errorf("tampered Release: %v", err)
	}

	_, err = VerifyDetached(rel, sig, VerifyOptions{Keyring: pubRing(t, testarchive.KeyModern), Now: now, AllowExpired: true})
	var unk *UnknownSignerError
	if !errors.As(err, &unk) || unk.KeyIDs[0] != sarge.PrimaryKey.KeyIdString() {
		t.Errorf("unknown signer: %v", err)
	}

	bin := mustBinary(t, sig)
	if _, err := VerifyDetached(rel, bin[:len(bin)-5], VerifyOptions{Keyring: ring, Now: now, AllowExpired: true}); err == nil {
		t.Error("truncated signature accepted")
	}
	if _, err := VerifyDetached(rel, nil, VerifyOptions{Keyring: ring, Now: now}); err == nil || !strings.Contains(err.Error(), "no signature found") {
		t.Errorf("empty signature: %v", err)
	}
	if _, err := VerifyDetached(rel, sig, VerifyOptions{Keyring: ring}); err == nil || !strings.Contains(err.Error(), "Now is required") {
		t.Errorf("zero Now: %v", err)
	}
}

func TestVerifyValidUntil(t *testing.T) {
	msg := []byte(modernRe + "Valid-Until: Mon, 08 Mar 2021 00:00:00 UTC\n")
	in := clearSign(t, testarchive.ModernKey(t), msg, in2020)
	ring := pubRing(t, testarchive.KeyModern)
	if _, err := VerifyInRelease(in, VerifyOptions{Keyring: ring, Now: in2020.Add(24 * time.Hour)}); err != nil {
		t.Errorf("before Valid-Until: %v", err)
	}
	_, err := VerifyInRelease(in, VerifyOptions{Keyring: ring, Now: now})
	var vu *ValidUntilError
	if !errors.As(err, &vu) || !strings.Contains(err.Error(), "Valid-Until 2021-03-08T00:00:00Z has passed") {
		t.Errorf("after Valid-Until: %v", err)
	}
	v, err := VerifyInRelease(in, VerifyOptions{Keyring: ring, Now: now, AllowExpired: true})
	if err != nil || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "Valid-Until") {
		t.Errorf("AllowExpired: %v %+v", err, v)
	}
}

// Two signatures, one by an unknown key: the known one suffices (Debian
// signs InRelease with two or three keys).
func TestVerifyMultipleSigners(t *testing.T) {
	rel := []byte(modernRe)
	a := detachSign(t, testarchive.OtherKey(t), rel, in2020, crypto.SHA256, false)
	b := detachSign(t, testarchive.ModernKey(t), rel, in2020, crypto.SHA512, false)
	v, err := VerifyDetached(rel, append(a, b...), VerifyOptions{Keyring: pubRing(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Signers) != 1 || v.Signers[0].KeyID != testarchive.ModernKey(t).PrimaryKey.KeyIdString() {
		t.Errorf("signers %+v", v.Signers)
	}
}

func TestDefaultKeyring(t *testing.T) {
	has := func(el openpgp.EntityList, id uint64) bool { return len(el.KeysById(id)) > 0 }
	sarge, err := DefaultKeyring("sarge")
	if err != nil {
		t.Fatal(err)
	}
	// Debian Archive Automatic Signing Key (2005), DSA-1024: signed sarge.
	if !has(sarge, 0xF1D53D8C4F368D5D) {
		t.Error("sarge keyring lacks the 2005 archive key F1D53D8C4F368D5D")
	}
	bookworm, err := DefaultKeyring("bookworm")
	if err != nil {
		t.Fatal(err)
	}
	// Debian Archive Automatic Signing Key (12/bookworm).
	if !has(bookworm, 0xB7C5D7D6350947F8) {
		t.Error("bookworm keyring lacks B7C5D7D6350947F8")
	}
	if has(bookworm, 0xF1D53D8C4F368D5D) {
		t.Error("bookworm keyring trusts a removed key")
	}
	// Armored and binary keyring files read the same key.
	for _, armored := range []bool{false, true} {
		p := testarchive.PublicKeyring(t, testarchive.KeySarge, armored)
		el, err := LoadKeyring(p)
		if err != nil || len(el) != 1 {
			t.Errorf("LoadKeyring(%s): %d keys, %v", p, len(el), err)
		}
	}
	if _, err := ReadKeyring(strings.NewReader("not a key")); err == nil {
		t.Error("garbage keyring accepted")
	}
}

func FuzzVerifyInRelease(f *testing.F) {
	f.Add([]byte(modernRe), []byte(""))
	f.Fuzz(func(t *testing.T, text, garble []byte) {
		if len(text) > 4096 {
			return
		}
		in := clearSign(t, testarchive.ModernKey(t), text, in2020)
		ring := pubRing(t, testarchive.KeyModern)
		orig, origErr := VerifyInRelease(in, VerifyOptions{Keyring: ring, Now: now})
		in = append([]byte(nil), in...)
		// Overwrite a slice of the signed message with fuzz bytes.
		if len(garble) > 0 {
			pos := int(garble[0]) * len(in) / 256
			copy(in[pos:], garble[1:])
		}
		v, err := VerifyInRelease(in, VerifyOptions{Keyring: ring, Now: now})
		if err != nil {
			return
		}
		if v.Release == nil || len(v.Signers) != 1 {
			t.Fatalf("accepted without a Release or signer: %+v", v)
		}
		// Whatever the garbling, only the text the key signed is accepted.
		if origErr != nil || !bytes.Equal(v.Signed, orig.Signed) {
			t.Fatalf("accepted altered text %q (original %q, %v)", v.Signed, text, origErr)
		}
	})
}
