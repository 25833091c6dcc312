package release

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// The Debian archive keyrings, from the debian-archive-keyring package
// (see keyrings/README).
var (
	//go:embed keyrings/debian-archive-keyring.gpg
	archiveKeyring []byte
	//go:embed keyrings/debian-archive-removed-keys.gpg
	removedKeyring []byte
)

// currentSuites are signed by keys in debian-archive-keyring.gpg.
var currentSuites = map[string]bool{
	"bullseye": true, "bookworm": true, "trixie": true, "forky": true, "duke": true,
	"sid": true, "unstable": true, "testing": true, "stable": true, "oldstable": true,
	"experimental": true, "rc-buggy": true,
}

var (
	keyringOnce sync.Once
	archiveEL   openpgp.EntityList
	removedEL   openpgp.EntityList
	keyringErr  error
)

func loadEmbedded() {
	archiveEL, keyringErr = ReadKeyring(bytes.NewReader(archiveKeyring))
	if keyringErr != nil {
		keyringErr = fmt.Errorf("reading embedded debian-archive-keyring.gpg: %w", keyringErr)
		return
	}
	removedEL, keyringErr = ReadKeyring(bytes.NewReader(removedKeyring))
	if keyringErr != nil {
		keyringErr = fmt.Errorf("reading embedded debian-archive-removed-keys.gpg: %w", keyringErr)
	}
}

// DefaultKeyring returns the keyring that signs codename's Release file:
// for current suites (bullseye, bookworm, trixie, forky, sid, and the
// stable/testing/unstable aliases) the Debian archive keyring; for every
// other codename (archived suites: sarge, etch, lenny, squeeze, wheezy,
// jessie, stretch, buster, ...) the removed-keys keyring followed by the
// archive keyring. The returned list is a fresh slice and may be modified.
func DefaultKeyring(codename string) (openpgp.EntityList, error) {
	keyringOnce.Do(loadEmbedded)
	if keyringErr != nil {
		return nil, keyringErr
	}
	if currentSuites[codename] {
		return append(openpgp.EntityList(nil), archiveEL...), nil
	}
	out := make(openpgp.EntityList, 0, len(removedEL)+len(archiveEL))
	out = append(out, removedEL...)
	return append(out, archiveEL...), nil
}

// ReadKeyring reads an OpenPGP keyring, binary (a .gpg file as apt uses
// it) or ASCII-armored (.asc). Keys this OpenPGP implementation cannot
// read (PGP 2.x v3 keys) are skipped; a keyring with no readable key is an
// error.
func ReadKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var el openpgp.EntityList
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(trimmed))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("reading keyring: no keys")
	}
	return el, nil
}

// LoadKeyring reads a keyring file (binary or ASCII-armored).
func LoadKeyring(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening keyring: %w", err)
	}
	defer f.Close()
	el, err := ReadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return el, nil
}
