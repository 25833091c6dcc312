package crypt

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strconv"
)

// SHA512 returns the SHA-512-crypt hash "$6$salt$..." of password. rounds 0
// means the default 5000 and leaves "rounds=" out of the result; any other
// value must lie in [RoundsMin, RoundsMax] and is written into the result.
// (Old glibc clamped values outside that range, libxcrypt rejects them; an
// error here avoids both surprises.) Only the first SHASaltMax characters
// of salt are used.
func SHA512(password, salt string, rounds int) (string, error) {
	return shaCrypt(sha512.New, "$6$", sha512Order[:], password, salt, rounds)
}

// SHA256 returns the SHA-256-crypt hash "$5$salt$..." of password, with the
// same rounds and salt rules as SHA512.
func SHA256(password, salt string, rounds int) (string, error) {
	return shaCrypt(sha256.New, "$5$", sha256Order[:], password, salt, rounds)
}

// Byte triples of the final digest, encoded in this order (the
// specification's b64_from_24bit calls); the last group is short.
var sha512Order = [22][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
	{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
	{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
	{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
	{62, 20, 41}, {-1, -1, 63},
}

var sha256Order = [11][3]int{
	{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
	{-1, 31, 30},
}

// repeatTo returns n bytes of src repeated.
func repeatTo(src []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, src[:min(len(src), n-len(out))]...)
	}
	return out
}

func shaCrypt(newHash func() hash.Hash, magic string, order [][3]int, password, salt string, rounds int) (string, error) {
	salt, err := checkSalt(salt, SHASaltMax)
	if err != nil {
		return "", err
	}
	custom := rounds != 0
	switch {
	case !custom:
		rounds = RoundsDefault
	case rounds < RoundsMin || rounds > RoundsMax:
		return "", fmt.Errorf("crypt: rounds %d outside [%d, %d]", rounds, RoundsMin, RoundsMax)
	}
	pw, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	hb := newHash()
	hb.Write(pw)
	hb.Write(s)
	hb.Write(pw)
	b := hb.Sum(nil)
	size := len(b)

	// Digest A.
	ha := newHash()
	ha.Write(pw)
	ha.Write(s)
	ha.Write(repeatTo(b, len(pw)))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(pw)
		}
	}
	a := ha.Sum(nil)

	// Sequence P: digest DP of the password repeated len(pw) times.
	hp := newHash()
	for range len(pw) {
		hp.Write(pw)
	}
	p := repeatTo(hp.Sum(nil), len(pw))

	// Sequence S: digest DS of the salt repeated 16+A[0] times.
	hs := newHash()
	for range 16 + int(a[0]) {
		hs.Write(s)
	}
	sq := repeatTo(hs.Sum(nil), len(s))

	c := a
	h := newHash()
	for i := 0; i < rounds; i++ {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sq)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	out := []byte(magic)
	if custom {
		out = append(out, "rounds="...)
		out = strconv.AppendInt(out, int64(rounds), 10)
		out = append(out, '$')
	}
	out = append(out, salt...)
	out = append(out, '$')
	at := func(i int) uint32 {
		if i < 0 {
			return 0
		}
		return uint32(c[i])
	}
	for k, g := range order {
		w := at(g[0])<<16 | at(g[1])<<8 | at(g[2])
		n := 4
		if k == len(order)-1 {
			// 64 bytes: 21 groups of 3 and one byte (2 chars);
			// 32 bytes: 10 groups of 3 and two bytes (3 chars).
			n = (size%3)*8/6 + 1
		}
		out = b64(out, w, n)
	}
	return string(out), nil
}
