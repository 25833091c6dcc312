package sshkey

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
)

// wire builds SSH wire-format data (RFC 4251 section 5).
type wire []byte

func (w *wire) uint32(v uint32) { *w = binary.BigEndian.AppendUint32(*w, v) }
func (w *wire) bytes(b []byte)  { w.uint32(uint32(len(b))); *w = append(*w, b...) }
func (w *wire) string(s string) { w.bytes([]byte(s)) }

// mpint appends a non-negative integer as an SSH mpint: big-endian, a
// leading zero byte when the top bit is set, empty for zero.
func (w *wire) mpint(n *big.Int) {
	b := n.Bytes()
	if len(b) > 0 && b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	w.bytes(b)
}

// Algorithm returns the SSH public key algorithm name, e.g. "ssh-rsa".
func (k *Key) Algorithm() string {
	switch k.Type {
	case RSA:
		return "ssh-rsa"
	case DSA:
		return "ssh-dss"
	case ECDSA:
		return "ecdsa-sha2-nistp256"
	default:
		return "ssh-ed25519"
	}
}

// PublicBlob returns the public key in SSH wire format (RFC 4253 6.6,
// RFC 5656 3.1, RFC 8709 4).
func (k *Key) PublicBlob() []byte {
	var w wire
	w.string(k.Algorithm())
	switch k.Type {
	case RSA:
		w.mpint(big.NewInt(int64(k.rsa.E)))
		w.mpint(k.rsa.N)
	case DSA:
		w.mpint(k.dsa.P)
		w.mpint(k.dsa.Q)
		w.mpint(k.dsa.G)
		w.mpint(k.dsa.Y)
	case ECDSA:
		w.string("nistp256")
		q, _ := k.ecdsa.PublicKey.Bytes() // P-256 keys always encode
		w.bytes(q)
	default:
		w.bytes(k.ed25519[32:])
	}
	return w
}

// Public returns the public half of k.
func (k *Key) Public() PublicKey {
	return PublicKey{Algorithm: k.Algorithm(), Blob: k.PublicBlob(), Comment: k.Comment}
}

// PublicBase64 returns the base64 public blob as authorized_keys carries it.
func (k *Key) PublicBase64() string { return k.Public().Base64() }

// AuthorizedKey returns the .pub / authorized_keys line, newline included.
func (k *Key) AuthorizedKey() []byte { return k.Public().AuthorizedKey() }

// FingerprintSHA256 returns "SHA256:<base64>" as ssh-keygen -l prints it.
func (k *Key) FingerprintSHA256() string { return k.Public().FingerprintSHA256() }

// FingerprintMD5 returns "MD5:aa:bb:…" as ssh-keygen -l -E md5 prints it.
func (k *Key) FingerprintMD5() string { return k.Public().FingerprintMD5() }

// PublicKey is a public key as a .pub file or known_hosts carries it.
type PublicKey struct {
	Algorithm string // "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ssh-ed25519"
	Blob      []byte // SSH wire format
	Comment   string
}

// ParsePublicKey parses one "algorithm base64 [comment]" line (a .pub
// file or an authorized_keys line without options).
func ParsePublicKey(line []byte) (PublicKey, error) {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return PublicKey{}, fmt.Errorf("sshkey: public key line %.40q: want \"algorithm base64 [comment]\"", line)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return PublicKey{}, fmt.Errorf("sshkey: decoding %s public key: %w", f[0], err)
	}
	if len(blob) < 4 {
		return PublicKey{}, fmt.Errorf("sshkey: %s public key blob of %d bytes is truncated", f[0], len(blob))
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != f[0] {
		return PublicKey{}, fmt.Errorf("sshkey: public key blob does not start with its algorithm %q", f[0])
	}
	return PublicKey{Algorithm: f[0], Blob: blob, Comment: strings.Join(f[2:], " ")}, nil
}

// Base64 returns the base64 blob.
func (p PublicKey) Base64() string { return base64.StdEncoding.EncodeToString(p.Blob) }

// AuthorizedKey returns the .pub / authorized_keys line, newline included.
func (p PublicKey) AuthorizedKey() []byte {
	s := p.Algorithm + " " + p.Base64()
	if p.Comment != "" {
		s += " " + p.Comment
	}
	return []byte(s + "\n")
}

// FingerprintSHA256 returns "SHA256:<base64>" as ssh-keygen -l prints it.
func (p PublicKey) FingerprintSHA256() string {
	sum := sha256.Sum256(p.Blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// FingerprintMD5 returns "MD5:aa:bb:…" as ssh-keygen -l -E md5 prints it;
// OpenSSH before 6.8 printed the part after "MD5:".
func (p PublicKey) FingerprintMD5() string {
	sum := md5.Sum(p.Blob)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return "MD5:" + strings.Join(parts, ":")
}

// MarshalPEM encodes the private key in the PEM form OpenSSH before 6.5
// reads: "RSA PRIVATE KEY" (PKCS#1), "DSA PRIVATE KEY" (OpenSSL's
// SEQUENCE{version 0, p, q, g, y, x}) or "EC PRIVATE KEY" (SEC 1).
// Ed25519 has no PEM form in OpenSSH.
func (k *Key) MarshalPEM() ([]byte, error) {
	var blk pem.Block
	switch k.Type {
	case RSA:
		blk = pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}
	case DSA:
		der, err := asn1.Marshal(struct {
			Version       int
			P, Q, G, Y, X *big.Int
		}{0, k.dsa.P, k.dsa.Q, k.dsa.G, k.dsa.Y, k.dsa.X})
		if err != nil {
			return nil, fmt.Errorf("encoding DSA private key: %w", err)
		}
		blk = pem.Block{Type: "DSA PRIVATE KEY", Bytes: der}
	case ECDSA:
		der, err := x509.MarshalECPrivateKey(k.ecdsa)
		if err != nil {
			return nil, fmt.Errorf("encoding ECDSA private key: %w", err)
		}
		blk = pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		return nil, fmt.Errorf("sshkey: %s keys have no PEM form", k.Type)
	}
	return pem.EncodeToMemory(&blk), nil
}

// MarshalOpenSSH encodes the private key unencrypted in the
// "openssh-key-v1" format of OpenSSH 6.5 and later (PROTOCOL.key). The
// check integers are drawn from the key's seed, so the bytes are
// deterministic.
func (k *Key) MarshalOpenSSH() []byte {
	var priv wire
	priv.uint32(k.check)
	priv.uint32(k.check)
	priv.string(k.Algorithm())
	switch k.Type {
	case RSA:
		priv.mpint(k.rsa.N)
		priv.mpint(big.NewInt(int64(k.rsa.E)))
		priv.mpint(k.rsa.D)
		priv.mpint(k.rsa.Precomputed.Qinv) // q^-1 mod p
		priv.mpint(k.rsa.Primes[0])
		priv.mpint(k.rsa.Primes[1])
	case DSA:
		priv.mpint(k.dsa.P)
		priv.mpint(k.dsa.Q)
		priv.mpint(k.dsa.G)
		priv.mpint(k.dsa.Y)
		priv.mpint(k.dsa.X)
	case ECDSA:
		priv.string("nistp256")
		q, _ := k.ecdsa.PublicKey.Bytes()
		priv.bytes(q)
		d, _ := k.ecdsa.Bytes()
		priv.mpint(new(big.Int).SetBytes(d))
	default:
		priv.bytes(k.ed25519[32:])
		priv.bytes(k.ed25519)
	}
	priv.string(k.Comment)
	for i := byte(1); len(priv)%8 != 0; i++ {
		priv = append(priv, i)
	}

	var w wire
	w = append(w, "openssh-key-v1\x00"...)
	w.string("none") // cipher
	w.string("none") // kdf
	w.string("")     // kdf options
	w.uint32(1)      // number of keys
	w.bytes(k.PublicBlob())
	w.bytes(priv)

	b64 := base64.StdEncoding.EncodeToString(w)
	var sb strings.Builder
	sb.WriteString("-----BEGIN OPENSSH PRIVATE KEY-----\n")
	for len(b64) > 70 { // ssh-keygen's line length
		sb.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	sb.WriteString(b64 + "\n")
	sb.WriteString("-----END OPENSSH PRIVATE KEY-----\n")
	return []byte(sb.String())
}
