package sshkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
)

// Seed is the secret every key is derived from.
type Seed [32]byte

// DeriveSeed derives a sub-seed from a seed and labels (for instance a
// slave's host name and the key type). Distinct label lists give
// independent seeds; labels are length-prefixed, so ("ab","c") and
// ("a","bc") differ.
func DeriveSeed(s Seed, labels ...string) Seed {
	h := sha256.New()
	h.Write([]byte("xenimg sshkey derive v1\x00"))
	h.Write(s[:])
	var n [8]byte
	for _, l := range labels {
		binary.BigEndian.PutUint64(n[:], uint64(len(l)))
		h.Write(n[:])
		h.Write([]byte(l))
	}
	var out Seed
	copy(out[:], h.Sum(nil))
	return out
}

// stream returns the deterministic byte stream of a seed.
func stream(s Seed) io.Reader { return rand.NewChaCha8(s) }

// Type names a key algorithm.
type Type string

// Key types.
const (
	RSA     Type = "rsa"
	DSA     Type = "dsa"
	ECDSA   Type = "ecdsa"
	Ed25519 Type = "ed25519"
)

// DefaultRSABits is the RSA modulus size when none is given (ssh-keygen's
// default since OpenSSH 8.8).
const DefaultRSABits = 3072

// Key is a generated key pair. Exactly one of the private key fields is set.
type Key struct {
	Type    Type
	Comment string // written after the public key, e.g. "root@slave1"

	rsa     *rsa.PrivateKey
	dsa     *dsaKey
	ecdsa   *ecdsa.PrivateKey
	ed25519 ed25519.PrivateKey
	check   uint32 // openssh-key-v1 check integer, drawn from the seed
}

// dsaKey is a DSA key pair (crypto/dsa is deprecated; these are the same
// numbers).
type dsaKey struct {
	P, Q, G, Y, X *big.Int
}

// Bits returns the key size in bits as ssh-keygen -l reports it.
func (k *Key) Bits() int {
	switch k.Type {
	case RSA:
		return k.rsa.N.BitLen()
	case DSA:
		return k.dsa.P.BitLen()
	case ECDSA:
		return 256
	default:
		return 256
	}
}

// Generate derives a key of type t from seed. bits is used for RSA only
// (0 means DefaultRSABits; 1024 is the minimum); DSA is always 1024 bits.
func Generate(seed Seed, t Type, bits int, comment string) (*Key, error) {
	r := stream(DeriveSeed(seed, "key", string(t)))
	k := &Key{Type: t, Comment: comment}
	var err error
	switch t {
	case RSA:
		if bits == 0 {
			bits = DefaultRSABits
		}
		if bits < 1024 || bits > 16384 || bits%2 != 0 {
			return nil, fmt.Errorf("sshkey: RSA size %d bits: want an even number from 1024 to 16384", bits)
		}
		k.rsa, err = generateRSA(r, bits)
	case DSA:
		if bits != 0 && bits != 1024 {
			return nil, fmt.Errorf("sshkey: DSA size %d bits: OpenSSH only accepts 1024", bits)
		}
		k.dsa, err = generateDSA(r)
	case ECDSA:
		if bits != 0 && bits != 256 {
			return nil, fmt.Errorf("sshkey: ECDSA size %d bits: only P-256 is supported", bits)
		}
		k.ecdsa, err = generateECDSA(r)
	case Ed25519:
		var s [ed25519.SeedSize]byte
		if _, err = io.ReadFull(r, s[:]); err == nil {
			k.ed25519 = ed25519.NewKeyFromSeed(s[:])
		}
	default:
		return nil, fmt.Errorf("sshkey: unknown key type %q", t)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", t, err)
	}
	var c [4]byte
	if _, err := io.ReadFull(r, c[:]); err != nil {
		return nil, fmt.Errorf("generating %s key: %w", t, err)
	}
	k.check = binary.BigEndian.Uint32(c[:])
	return k, nil
}

// smallPrimes are the odd primes below 2^16, used to sieve candidates
// before the expensive tests.
var smallPrimes = func() []uint64 {
	var ps []uint64
	for n := uint64(3); n < 1<<16; n += 2 {
		prime := true
		for _, p := range ps {
			if p*p > n {
				break
			}
			if n%p == 0 {
				prime = false
				break
			}
		}
		if prime {
			ps = append(ps, n)
		}
	}
	return ps
}()

// randomOdd reads a bits-long odd number from r with its top two bits set
// (so a product of two such numbers has exactly 2*bits bits).
func randomOdd(r io.Reader, bits int) (*big.Int, error) {
	b := make([]byte, (bits+7)/8)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if extra := len(b)*8 - bits; extra > 0 {
		b[0] &= 0xff >> extra
	}
	n := new(big.Int).SetBytes(b)
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, bits-2, 1)
	n.SetBit(n, 0, 1)
	return n, nil
}

// mrRounds returns the Miller-Rabin rounds nextPrime asks of a prime of
// bits bits. FIPS 186-5 table B.1 asks 5 rounds for the 1024-bit primes
// of RSA-2048 and 4 for the 1536-bit primes of RSA-3072 (error 2^-128
// and 2^-144, for random candidates). big.Int.ProbablyPrime(n) runs n+1
// rounds (base 2 and n pseudo-random bases) and then a strong Lucas test
// (together Baillie-PSW, with no known composite passing), so n = 4 meets
// the table from 1024 bits up. Smaller primes (DSA, RSA below 2048 bits)
// keep 20.
//
// The rounds decide only how sure the test is of a number already found:
// a composite fails its first round with overwhelming odds, so the search
// stops at the same prime and keys are the same bytes with any count.
func mrRounds(bits int) int {
	if bits >= 1024 {
		return 4
	}
	return 20
}

// nextPrime searches upward from the odd number start in steps of step
// (even) for a prime p of exactly bits bits for which accept(p) holds.
// ok is false when the search leaves the bit length.
func nextPrime(start *big.Int, step uint64, bits int, accept func(*big.Int) bool) (*big.Int, bool) {
	rems := make([]uint64, len(smallPrimes))
	m := new(big.Int)
	for i, sp := range smallPrimes {
		rems[i] = m.Mod(start, new(big.Int).SetUint64(sp)).Uint64()
	}
	p := new(big.Int).Set(start)
	bigStep := new(big.Int).SetUint64(step)
	for delta := uint64(0); delta < 1<<20; delta += step {
		if delta > 0 {
			p.Add(p, bigStep)
		}
		if p.BitLen() != bits {
			return nil, false
		}
		composite := false
		for i, sp := range smallPrimes {
			if (rems[i]+delta%sp)%sp == 0 { // p is far larger than sp
				composite = true
				break
			}
		}
		if composite || !accept(p) {
			continue
		}
		if p.ProbablyPrime(mrRounds(bits)) {
			return p, true
		}
	}
	return nil, false
}

var bigOne = big.NewInt(1)

// generateRSA makes an RSA key with e = 65537 whose primes come from r.
func generateRSA(r io.Reader, bits int) (*rsa.PrivateKey, error) {
	e := big.NewInt(65537)
	half := bits / 2
	gcdOK := func(p *big.Int) bool {
		pm1 := new(big.Int).Sub(p, bigOne)
		return new(big.Int).GCD(nil, nil, e, pm1).Cmp(bigOne) == 0
	}
	prime := func() (*big.Int, error) {
		for range 1000 {
			start, err := randomOdd(r, half)
			if err != nil {
				return nil, err
			}
			if p, ok := nextPrime(start, 2, half, gcdOK); ok {
				return p, nil
			}
		}
		return nil, errors.New("sshkey: no RSA prime found")
	}
	for range 100 {
		p, err := prime()
		if err != nil {
			return nil, err
		}
		q, err := prime()
		if err != nil {
			return nil, err
		}
		// |p-q| must be large (FIPS 186-4 B.3.1: more than 2^(half-100)).
		diff := new(big.Int).Sub(p, q)
		if diff.Abs(diff).BitLen() <= half-100 {
			continue
		}
		if p.Cmp(q) < 0 {
			p, q = q, p // OpenSSL and ssh-keygen keep p > q
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != bits {
			continue
		}
		pm1 := new(big.Int).Sub(p, bigOne)
		qm1 := new(big.Int).Sub(q, bigOne)
		phi := new(big.Int).Mul(pm1, qm1)
		g := new(big.Int).GCD(nil, nil, pm1, qm1)
		lambda := new(big.Int).Div(phi, g)
		d := new(big.Int).ModInverse(e, lambda)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: n, E: 65537},
			D:         d,
			Primes:    []*big.Int{p, q},
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("validating generated RSA key: %w", err)
		}
		k.Precompute()
		return k, nil
	}
	return nil, errors.New("sshkey: no RSA key found")
}

// generateDSA makes 1024/160 DSA parameters and a key pair from r (the
// shape of FIPS 186-2 without the seed/counter certificate).
func generateDSA(r io.Reader) (*dsaKey, error) {
	const lBits, nBits = 1024, 160
	var q *big.Int
	for q == nil {
		start, err := randomOdd(r, nBits)
		if err != nil {
			return nil, err
		}
		q, _ = nextPrime(start, 2, nBits, func(*big.Int) bool { return true })
	}
	twoQ := new(big.Int).Lsh(q, 1)
	var p *big.Int
	for i := 0; p == nil; i++ {
		if i > 100000 {
			return nil, errors.New("sshkey: no DSA prime p found")
		}
		x, err := randomOdd(r, lBits)
		if err != nil {
			return nil, err
		}
		// p = x - (x mod 2q) + 1 is 1 mod 2q, so q divides p-1.
		c := new(big.Int).Mod(x, twoQ)
		cand := new(big.Int).Sub(x, c)
		cand.Add(cand, bigOne)
		if cand.BitLen() != lBits {
			continue
		}
		if isSmallComposite(cand) || !cand.ProbablyPrime(20) {
			continue
		}
		p = cand
	}
	pm1 := new(big.Int).Sub(p, bigOne)
	e := new(big.Int).Div(pm1, q)
	var g *big.Int
	for h := int64(2); ; h++ {
		g = new(big.Int).Exp(big.NewInt(h), e, p)
		if g.Cmp(bigOne) != 0 {
			break
		}
	}
	x, err := scalar(r, q)
	if err != nil {
		return nil, err
	}
	y := new(big.Int).Exp(g, x, p)
	return &dsaKey{P: p, Q: q, G: g, Y: y, X: x}, nil
}

// isSmallComposite reports whether n has an odd prime factor below 2000
// (cheaper than a Miller-Rabin round; it never rejects a large prime).
func isSmallComposite(n *big.Int) bool {
	m := new(big.Int)
	for _, sp := range smallPrimes[:302] {
		if m.Mod(n, new(big.Int).SetUint64(sp)).Sign() == 0 {
			return true
		}
	}
	return false
}

// scalar draws a uniform integer in [1, order-1] from r by rejection.
func scalar(r io.Reader, order *big.Int) (*big.Int, error) {
	bits := order.BitLen()
	b := make([]byte, (bits+7)/8)
	for range 1000 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if extra := len(b)*8 - bits; extra > 0 {
			b[0] &= 0xff >> extra
		}
		x := new(big.Int).SetBytes(b)
		if x.Sign() > 0 && x.Cmp(order) < 0 {
			return x, nil
		}
	}
	return nil, errors.New("sshkey: no scalar found")
}

// generateECDSA makes a P-256 key whose scalar comes from r.
func generateECDSA(r io.Reader) (*ecdsa.PrivateKey, error) {
	c := elliptic.P256()
	d, err := scalar(r, c.Params().N)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	d.FillBytes(b)
	return ecdsa.ParseRawPrivateKey(c, b)
}
