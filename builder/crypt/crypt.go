// Package crypt hashes passwords in the crypt(3) formats a Debian guest's
// libc reads from /etc/shadow:
//
//   - MD5-crypt, "$1$salt$hash" (Poul-Henning Kamp's FreeBSD scheme), the
//     strongest format sarge's glibc 2.3 understands;
//   - SHA-256-crypt "$5$" and SHA-512-crypt "$6$" (Ulrich Drepper's
//     "Unix crypt using SHA-256 and SHA-512" specification), read by glibc
//     2.7 and later (Debian lenny onwards).
//
// The salt is always chosen by the caller, so the same input gives the same
// hash; Salt derives one from a seed. As in glibc, a salt longer than the
// scheme's maximum (8 characters for MD5, 16 for SHA) is truncated; salt
// characters must come from crypt's alphabet [./0-9A-Za-z].
//
// Not supported: DES crypt, bcrypt ("$2b$"), yescrypt ("$y$", bullseye's
// default), and gost or scrypt variants.
package crypt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// alphabet is crypt's base-64 alphabet (itoa64), in value order.
const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Salt and rounds limits.
const (
	MD5SaltMax    = 8         // characters of salt MD5-crypt uses
	SHASaltMax    = 16        // characters of salt SHA-crypt uses
	RoundsDefault = 5000      // SHA-crypt rounds when none are given
	RoundsMin     = 1000      // fewest SHA-crypt rounds accepted
	RoundsMax     = 999999999 // most SHA-crypt rounds accepted
)

// ErrFormat reports a hash string that is not in a supported format.
var ErrFormat = errors.New("crypt: unsupported hash format")

// checkSalt truncates salt to max characters and checks its alphabet.
func checkSalt(salt string, max int) (string, error) {
	if len(salt) > max {
		salt = salt[:max]
	}
	if salt == "" {
		return "", errors.New("crypt: empty salt")
	}
	for i := 0; i < len(salt); i++ {
		if strings.IndexByte(alphabet, salt[i]) < 0 {
			return "", fmt.Errorf("crypt: salt %q: character %q at %d is not in [./0-9A-Za-z]", salt, salt[i], i)
		}
	}
	return salt, nil
}

// b64 appends the n low 6-bit groups of w, least significant first.
func b64(dst []byte, w uint32, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, alphabet[w&0x3f])
		w >>= 6
	}
	return dst
}

// Salt returns n salt characters derived from seed: the same seed gives the
// same salt. Use a seed unique to the image and account (for example the
// build's seed followed by the user name).
func Salt(seed []byte, n int) string {
	out := make([]byte, 0, n)
	for ctr := 0; len(out) < n; ctr++ {
		h := sha256.New()
		h.Write([]byte("xenimg crypt salt\x00"))
		h.Write([]byte(strconv.Itoa(ctr)))
		h.Write([]byte{0})
		h.Write(seed)
		for _, b := range h.Sum(nil) {
			if len(out) == n {
				break
			}
			out = append(out, alphabet[b&0x3f])
		}
	}
	return string(out)
}

// Verify reports whether password matches hash, a "$1$", "$5$" or "$6$"
// crypt string. A malformed or unsupported hash is an error.
func Verify(password, hash string) (bool, error) {
	scheme, salt, rounds, err := parse(hash)
	if err != nil {
		return false, err
	}
	var got string
	switch scheme {
	case "1":
		got, err = MD5(password, salt)
	case "5":
		got, err = SHA256(password, salt, rounds)
	case "6":
		got, err = SHA512(password, salt, rounds)
	}
	if err != nil {
		return false, err
	}
	return got == hash, nil
}

// Check reports whether hash is a well-formed "$1$", "$5$" or "$6$" crypt
// string a guest's /etc/shadow can hold.
func Check(hash string) error {
	scheme, _, _, err := parse(hash)
	if err != nil {
		return err
	}
	want := map[string]int{"1": 22, "5": 43, "6": 86}[scheme]
	i := strings.LastIndexByte(hash, '$')
	sum := hash[i+1:]
	if len(sum) != want {
		return fmt.Errorf("%w: %q: the hash part has %d characters, want %d", ErrFormat, hash, len(sum), want)
	}
	if _, err := checkSalt(sum, want); err != nil {
		return fmt.Errorf("%w: %q: the hash part has characters outside [./0-9A-Za-z]", ErrFormat, hash)
	}
	return nil
}

// parse splits "$id$[rounds=N$]salt$hash". rounds is 0 when absent.
func parse(hash string) (scheme, salt string, rounds int, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) < 4 || parts[0] != "" {
		return "", "", 0, fmt.Errorf("%w: %q is not $id$salt$hash", ErrFormat, hash)
	}
	scheme = parts[1]
	switch scheme {
	case "1", "5", "6":
	default:
		return "", "", 0, fmt.Errorf("%w: %q: scheme $%s$ (supported: $1$ MD5, $5$ SHA-256, $6$ SHA-512)", ErrFormat, hash, scheme)
	}
	rest := parts[2:]
	if scheme != "1" && strings.HasPrefix(rest[0], "rounds=") {
		n, perr := strconv.Atoi(strings.TrimPrefix(rest[0], "rounds="))
		if perr != nil || n <= 0 {
			return "", "", 0, fmt.Errorf("%w: %q: bad rounds %q", ErrFormat, hash, rest[0])
		}
		rounds, rest = n, rest[1:]
	}
	if len(rest) != 2 {
		return "", "", 0, fmt.Errorf("%w: %q is not $id$salt$hash", ErrFormat, hash)
	}
	return scheme, rest[0], rounds, nil
}
