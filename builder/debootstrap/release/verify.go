package release

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// VerifyOptions controls signature and validity checks.
type VerifyOptions struct {
	// Keyring holds the keys trusted to sign the Release file.
	Keyring openpgp.EntityList
	// Now is the time to check key expiry and Valid-Until against. It is
	// required: the package never reads the clock.
	Now time.Time
	// AllowExpired accepts a signature by a key that has expired by Now if
	// the signature was made while the key was valid, and a Release file
	// whose Valid-Until has passed. Each such acceptance adds a warning.
	// Archived suites (sarge ... stretch) need it.
	AllowExpired bool
}

// Signer describes a key whose signature was accepted.
type Signer struct {
	KeyID   string    // 16 upper-case hex digits of the signing (sub)key
	Primary string    // 16 hex digits of the primary key
	UserID  string    // the primary user ID, e.g. "Debian Archive Automatic Signing Key (2005) <ftpmaster@debian.org>"
	Signed  time.Time // signature creation time, UTC
	// KeyCreated is the signing (sub)key's creation time, UTC.
	KeyCreated time.Time
	// Expires is when the key stops being valid, UTC; zero if never.
	Expires time.Time
	// Expired reports that the key had expired by VerifyOptions.Now.
	Expired bool
}

func (s Signer) String() string {
	if s.UserID == "" {
		return s.KeyID
	}
	return fmt.Sprintf("%s (%s)", s.KeyID, s.UserID)
}

// Verified is a Release file whose signature was checked.
type Verified struct {
	Release *Release
	// Signed is the exact signed text that Release was parsed from.
	Signed []byte
	// Signers lists accepted signatures, in signature packet order.
	Signers []Signer
	// Warnings are things the caller should show the user (on stderr):
	// expired keys or a passed Valid-Until accepted by AllowExpired.
	Warnings []string
}

// Errors returned by verification; match them with errors.As.
type (
	// UnknownSignerError: no signature was made by a key in the keyring.
	UnknownSignerError struct {
		KeyIDs []string // issuer key IDs found in the signature(s)
	}
	// BadSignatureError: a signature by a key in the keyring does not
	// match the signed text (the file was altered or corrupted).
	BadSignatureError struct {
		Key string
		Err error
	}
	// ExpiredKeyError: the only valid signatures are by keys that expired
	// before Now, and AllowExpired is false; or, with AllowExpired, the
	// signature was made outside the key's validity.
	ExpiredKeyError struct {
		Signer Signer
		Now    time.Time
		// OutsideValidity is set when the signature itself was made after
		// the key had expired (or before it existed): AllowExpired does not help.
		OutsideValidity bool
	}
	// RevokedKeyError: the signing key has been revoked.
	RevokedKeyError struct{ Key string }
	// ValidUntilError: Now is past the Release file's Valid-Until.
	ValidUntilError struct{ ValidUntil, Now time.Time }
)

func (e *UnknownSignerError) Error() string {
	if len(e.KeyIDs) == 0 {
		return "release: no signature found"
	}
	return fmt.Sprintf("release: signed by unknown key(s) %s: not in the keyring", strings.Join(e.KeyIDs, ", "))
}

func (e *BadSignatureError) Error() string {
	return fmt.Sprintf("release: bad signature by key %s (altered or corrupted file): %v", e.Key, e.Err)
}
func (e *BadSignatureError) Unwrap() error { return e.Err }

func (e *ExpiredKeyError) Error() string {
	if e.OutsideValidity {
		return fmt.Sprintf("release: signature by key %s made %s, outside the key's validity (created %s, expired %s)",
			e.Signer, day(e.Signer.Signed), day(e.Signer.KeyCreated), day(e.Signer.Expires))
	}
	return fmt.Sprintf("release: signed by key %s, which expired on %s (checked at %s); allow expired keys to accept signatures made while the key was valid",
		e.Signer, day(e.Signer.Expires), day(e.Now))
}

func (e *RevokedKeyError) Error() string {
	return fmt.Sprintf("release: signing key %s is revoked", e.Key)
}

func (e *ValidUntilError) Error() string {
	return fmt.Sprintf("release: Valid-Until %s has passed (checked at %s); the mirror is stale or the suite is archived",
		e.ValidUntil.Format(time.RFC3339), e.Now.Format(time.RFC3339))
}

// ErrNotClearsigned is returned for an InRelease file that is not a
// clearsigned message.
var ErrNotClearsigned = errors.New("release: InRelease is not a clearsigned message")

func day(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02")
}

// VerifyInRelease checks a clearsigned InRelease file and parses the
// signed Release text. Text before the signed message or after the
// signature is refused (it would not be covered by the signature).
func VerifyInRelease(data []byte, opts VerifyOptions) (*Verified, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, ErrNotClearsigned
	}
	block, rest := clearsign.Decode(trimmed)
	if block == nil {
		return nil, ErrNotClearsigned
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: text after the signature", ErrNotClearsigned)
	}
	if block.ArmoredSignature == nil || block.ArmoredSignature.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: no PGP SIGNATURE block", ErrNotClearsigned)
	}
	sigData, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("reading InRelease signature: %w", err)
	}
	return verify(block.Bytes, block.Plaintext, sigData, opts)
}

// VerifyDetached checks a Release file against its detached signature
// (Release.gpg, armored or binary) and parses it.
func VerifyDetached(releaseData, signature []byte, opts VerifyOptions) (*Verified, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	sigData := signature
	if bytes.HasPrefix(bytes.TrimLeft(signature, " \t\r\n"), []byte("-----BEGIN PGP")) {
		blk, err := armor.Decode(bytes.NewReader(signature))
		if err != nil {
			return nil, fmt.Errorf("reading Release.gpg armor: %w", err)
		}
		if blk.Type != openpgp.SignatureType {
			return nil, fmt.Errorf("reading Release.gpg: armor type %q, want %q", blk.Type, openpgp.SignatureType)
		}
		if sigData, err = io.ReadAll(blk.Body); err != nil {
			return nil, fmt.Errorf("reading Release.gpg armor: %w", err)
		}
	}
	return verify(releaseData, releaseData, sigData, opts)
}

func checkOptions(opts VerifyOptions) error {
	if opts.Now.IsZero() {
		return errors.New("release: VerifyOptions.Now is required")
	}
	if len(opts.Keyring) == 0 {
		return errors.New("release: empty keyring")
	}
	return nil
}

// verify checks the signature packets in sigData over signed, then parses
// text (the signed content as the archive wrote it).
func verify(signed, text, sigData []byte, opts VerifyOptions) (*Verified, error) {
	var unknown []string
	var good []Signer
	pr := packet.NewReader(bytes.NewReader(sigData))
	for {
		p, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading signature packets: %w", err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			return nil, fmt.Errorf("reading signature packets: unexpected %T packet", p)
		}
		id, ok := issuer(sig)
		if !ok {
			return nil, errors.New("release: signature names no issuer key")
		}
		keys := opts.Keyring.KeysById(id)
		if len(keys) == 0 {
			unknown = append(unknown, fmt.Sprintf("%016X", id))
			continue
		}
		g, err := checkSig(signed, sig, keys)
		if err != nil {
			return nil, err
		}
		good = append(good, g)
	}
	if len(good) == 0 {
		return nil, &UnknownSignerError{KeyIDs: unknown}
	}

	v := &Verified{Signed: signed}
	var expired []Signer
	for _, g := range good {
		g.Expired = !g.Expires.IsZero() && opts.Now.After(g.Expires)
		if g.Expired {
			expired = append(expired, g)
			continue
		}
		v.Signers = append(v.Signers, g)
	}
	if len(v.Signers) == 0 {
		g := expired[0]
		if !opts.AllowExpired {
			return nil, &ExpiredKeyError{Signer: g, Now: opts.Now}
		}
		for _, g := range expired {
			if g.Signed.After(g.Expires) || g.Signed.Before(g.KeyCreated) {
				continue
			}
			v.Signers = append(v.Signers, g)
			v.Warnings = append(v.Warnings, fmt.Sprintf(
				"release: accepting signature by expired key %s: signed %s, key expired %s (expired keys allowed)",
				g, day(g.Signed), day(g.Expires)))
		}
		if len(v.Signers) == 0 {
			return nil, &ExpiredKeyError{Signer: g, Now: opts.Now, OutsideValidity: true}
		}
	}

	rel, err := Parse(text)
	if err != nil {
		return nil, err
	}
	v.Release = rel
	if !rel.ValidUntil.IsZero() && opts.Now.After(rel.ValidUntil) {
		if !opts.AllowExpired {
			return nil, &ValidUntilError{ValidUntil: rel.ValidUntil, Now: opts.Now}
		}
		v.Warnings = append(v.Warnings, fmt.Sprintf("release: Valid-Until %s has passed (expired files allowed)", rel.ValidUntil.Format(time.RFC3339)))
	}
	return v, nil
}

func issuer(sig *packet.Signature) (uint64, bool) {
	if sig.IssuerKeyId != nil {
		return *sig.IssuerKeyId, true
	}
	if n := len(sig.IssuerFingerprint); n >= 8 {
		var id uint64
		for _, b := range sig.IssuerFingerprint[n-8:] {
			id = id<<8 | uint64(b)
		}
		return id, true
	}
	return 0, false
}

// checkSig verifies sig over signed with one of keys (all with the issuer's
// key ID) and works out the key's validity window.
func checkSig(signed []byte, sig *packet.Signature, keys []openpgp.Key) (Signer, error) {
	keyName := fmt.Sprintf("%016X", keys[0].PublicKey.KeyId)
	if sig.Hash == crypto.MD5 {
		return Signer{}, &BadSignatureError{Key: keyName, Err: errors.New("MD5 signatures are not accepted")}
	}
	if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
		return Signer{}, &BadSignatureError{Key: keyName, Err: fmt.Errorf("signature type %#x is not a document signature", sig.SigType)}
	}
	var lastErr error
	for _, key := range keys {
		h, err := sig.PrepareVerify()
		if err != nil {
			return Signer{}, &BadSignatureError{Key: keyName, Err: err}
		}
		w := h
		if sig.SigType == packet.SigTypeText {
			w = openpgp.NewCanonicalTextHash(h)
		}
		w.Write(signed)
		if err := key.PublicKey.VerifySignature(h, sig); err != nil {
			lastErr = err
			continue
		}
		return describe(key, sig)
	}
	return Signer{}, &BadSignatureError{Key: keyName, Err: lastErr}
}

// describe fills in the signer and checks revocation, signature expiry
// and key expiry against the signature's own creation time; expiry
// against Now is judged by the caller.
func describe(key openpgp.Key, sig *packet.Signature) (Signer, error) {
	e := key.Entity
	s := Signer{
		KeyID:   fmt.Sprintf("%016X", key.PublicKey.KeyId),
		Primary: fmt.Sprintf("%016X", e.PrimaryKey.KeyId),
		Signed:  sig.CreationTime.UTC(),
	}
	selfSig, ident := e.PrimarySelfSignature()
	if ident != nil {
		s.UserID = ident.Name
	}
	name := s.String()
	if len(e.Revocations) > 0 || (key.PublicKey != e.PrimaryKey && len(key.Revocations) > 0) {
		return Signer{}, &RevokedKeyError{Key: name}
	}
	s.Expires = expiry(e.PrimaryKey, selfSig)
	if key.PublicKey != e.PrimaryKey {
		if sub := expiry(key.PublicKey, key.SelfSignature); !sub.IsZero() && (s.Expires.IsZero() || sub.Before(s.Expires)) {
			s.Expires = sub
		}
	}
	s.KeyCreated = key.PublicKey.CreationTime.UTC()
	if s.Signed.Before(s.KeyCreated) {
		return Signer{}, &BadSignatureError{Key: name, Err: fmt.Errorf("signature dated %s predates the key (%s)", day(s.Signed), day(s.KeyCreated))}
	}
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		// An expiring document signature is unusual for an archive; treat
		// its end like the key's.
		end := s.Signed.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
		if s.Expires.IsZero() || end.Before(s.Expires) {
			s.Expires = end
		}
	}
	return s, nil
}

func expiry(pk *packet.PublicKey, selfSig *packet.Signature) time.Time {
	if selfSig == nil || selfSig.KeyLifetimeSecs == nil || *selfSig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*selfSig.KeyLifetimeSecs) * time.Second).UTC()
}
