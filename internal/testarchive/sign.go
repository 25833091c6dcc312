package testarchive

import (
	"bytes"
	"crypto"
	"crypto/dsa" //nolint:staticcheck // sarge's archive key is DSA; that is the point.
	"crypto/hmac"
	_ "crypto/sha1" // sarge signatures are SHA-1; registers crypto.SHA1.
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGP signature types (RFC 4880 section 5.2.1).
const (
	sigTypeBinary = 0x00
	sigTypeText   = 0x01
)

// OpenPGP hash algorithm ids (RFC 4880 section 9.4).
var hashIDs = map[crypto.Hash]byte{crypto.SHA1: 2, crypto.SHA256: 8, crypto.SHA512: 10}

var hashNames = map[crypto.Hash]string{crypto.SHA1: "SHA1", crypto.SHA256: "SHA256", crypto.SHA512: "SHA512"}

// signer makes OpenPGP v4 signatures that are byte-for-byte reproducible:
// same key, time, hash and message give the same signature.
type signer struct {
	key  *openpgp.Entity
	time time.Time
	hash crypto.Hash
}

// detach returns an armored detached signature of msg (sig type binary for
// Release.gpg, text for the clearsigned InRelease).
func (s signer) detach(msg []byte, sigType byte) ([]byte, error) {
	if s.key == nil || s.key.PrivateKey == nil {
		return nil, errors.New("testarchive: signing key has no private part")
	}
	if s.key.PrivateKey.Encrypted {
		return nil, errors.New("testarchive: signing key is encrypted")
	}
	var raw bytes.Buffer
	if dk, ok := s.key.PrivateKey.PrivateKey.(*dsa.PrivateKey); ok {
		// go-crypto draws DSA nonces from crypto/rand (Go 1.26 ignores a
		// custom reader), so DSA signatures are made here with a nonce
		// derived from the key and the digest.
		pkt, err := s.dsaSign(dk, msg, sigType)
		if err != nil {
			return nil, err
		}
		raw.Write(pkt)
	} else {
		no := false
		cfg := &packet.Config{
			DefaultHash:                           s.hash,
			Time:                                  func() time.Time { return s.time },
			NonDeterministicSignaturesViaNotation: &no,
		}
		var err error
		if sigType == sigTypeText {
			err = openpgp.DetachSignText(&raw, s.key, bytes.NewReader(msg), cfg)
		} else {
			err = openpgp.DetachSign(&raw, s.key, bytes.NewReader(msg), cfg)
		}
		if err != nil {
			return nil, fmt.Errorf("signing with key %X: %w", s.key.PrimaryKey.Fingerprint, err)
		}
	}
	var out bytes.Buffer
	w, err := armor.Encode(&out, "PGP SIGNATURE", nil)
	if err != nil {
		return nil, fmt.Errorf("armoring signature: %w", err)
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, fmt.Errorf("armoring signature: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("armoring signature: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// canonicalText turns LF line ends into CRLF and drops trailing blanks on
// each line, the form a text signature covers (RFC 4880 section 7.1).
func canonicalText(msg []byte) []byte {
	lines := strings.Split(string(msg), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return []byte(strings.Join(lines, "\r\n"))
}

// dsaSign returns a complete old-format signature packet (tag 2), laid out
// as GnuPG 1.4 wrote them in 2005: creation time hashed, issuer unhashed.
func (s signer) dsaSign(k *dsa.PrivateKey, msg []byte, sigType byte) ([]byte, error) {
	hid, ok := hashIDs[s.hash]
	if !ok {
		return nil, fmt.Errorf("testarchive: unsupported hash %v", s.hash)
	}
	hashed := []byte{5, 2, 0, 0, 0, 0} // subpacket: length 5, type 2 (creation time)
	binary.BigEndian.PutUint32(hashed[2:], uint32(s.time.Unix()))
	body := []byte{4, sigType, 17, hid, 0, byte(len(hashed))}
	body = append(body, hashed...)

	h := s.hash.New()
	if sigType == sigTypeText {
		h.Write(canonicalText(msg))
	} else {
		h.Write(msg)
	}
	h.Write(body)
	trailer := []byte{4, 0xff, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(trailer[2:], uint32(len(body)))
	h.Write(trailer)
	digest := h.Sum(nil)

	z := digest
	if n := (k.Q.BitLen() + 7) / 8; len(z) > n {
		z = z[:n]
	}
	r, sv, err := dsaDeterministic(k, z)
	if err != nil {
		return nil, err
	}

	keyID := s.key.PrimaryKey.KeyId
	unhashed := []byte{9, 16, 0, 0, 0, 0, 0, 0, 0, 0} // length 9, type 16 (issuer)
	binary.BigEndian.PutUint64(unhashed[2:], keyID)
	body = append(body, 0, byte(len(unhashed)))
	body = append(body, unhashed...)
	body = append(body, digest[0], digest[1])
	body = append(body, mpi(r)...)
	body = append(body, mpi(sv)...)
	if len(body) > 255 {
		return nil, errors.New("testarchive: DSA signature packet too long")
	}
	return append([]byte{0x88, byte(len(body))}, body...), nil
}

// dsaDeterministic signs digest z with a nonce derived by HMAC-SHA256 from
// the private key and the digest (in the spirit of RFC 6979; these are test
// keys, the point is reproducibility).
func dsaDeterministic(k *dsa.PrivateKey, z []byte) (r, s *big.Int, err error) {
	q, p, g := k.Q, k.P, k.G
	if q.Sign() <= 0 || p.Sign() <= 0 || g.Sign() <= 0 {
		return nil, nil, errors.New("testarchive: invalid DSA key")
	}
	zi := new(big.Int).SetBytes(z)
	for ctr := byte(0); ctr < 64; ctr++ {
		m := hmac.New(sha256.New, k.X.Bytes())
		m.Write(z)
		m.Write([]byte{ctr})
		seed := m.Sum(nil)
		m.Reset()
		m.Write(seed)
		seed = append(seed, m.Sum(nil)...) // 512 bits, reduced mod q below
		kk := new(big.Int).SetBytes(seed)
		kk.Mod(kk, q)
		if kk.Sign() == 0 {
			continue
		}
		r = new(big.Int).Exp(g, kk, p)
		r.Mod(r, q)
		if r.Sign() == 0 {
			continue
		}
		kinv := new(big.Int).ModInverse(kk, q)
		if kinv == nil {
			continue
		}
		s = new(big.Int).Mul(k.X, r)
		s.Add(s, zi)
		s.Mul(s, kinv)
		s.Mod(s, q)
		if s.Sign() == 0 {
			continue
		}
		return r, s, nil
	}
	return nil, nil, errors.New("testarchive: no usable DSA nonce")
}

// mpi encodes an OpenPGP multiprecision integer: bit count, then bytes.
func mpi(n *big.Int) []byte {
	b := n.Bytes()
	out := []byte{byte(n.BitLen() >> 8), byte(n.BitLen())}
	return append(out, b...)
}

// clearsign returns msg as an OpenPGP cleartext signed message (InRelease).
// msg must end with a newline; that last newline is not signed, as in
// every InRelease Debian publishes.
func (s signer) clearsign(msg []byte) ([]byte, error) {
	text := bytes.TrimSuffix(msg, []byte("\n"))
	sig, err := s.detach(text, sigTypeText)
	if err != nil {
		return nil, err
	}
	hash, err := sigHash(sig)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "-----BEGIN PGP SIGNED MESSAGE-----\nHash: %s\n\n", hashNames[hash])
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "-") {
			out.WriteString("- ")
		}
		out.WriteString(l)
		out.WriteByte('\n')
	}
	out.Write(sig)
	return out.Bytes(), nil
}

// sigHash reads back the hash algorithm of an armored signature.
func sigHash(armored []byte) (crypto.Hash, error) {
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return 0, fmt.Errorf("reading back signature: %w", err)
	}
	p, err := packet.Read(blk.Body)
	if err != nil {
		return 0, fmt.Errorf("reading back signature: %w", err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return 0, fmt.Errorf("reading back signature: got %T", p)
	}
	if _, ok := hashNames[sig.Hash]; !ok {
		return 0, fmt.Errorf("testarchive: signature uses unexpected hash %v", sig.Hash)
	}
	return sig.Hash, nil
}
