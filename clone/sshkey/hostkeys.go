package sshkey

import (
	"fmt"
	"io/fs"
)

// Era is a generation of OpenSSH, which decides the host key types and the
// private key format.
type Era int

const (
	// Legacy is OpenSSH 3.8 to 5.6 (sarge to squeeze): RSA and DSA host
	// keys in PEM.
	Legacy Era = iota + 1
	// PEMWithECDSA is OpenSSH 5.7 to 6.4 (wheezy): RSA, DSA and ECDSA host
	// keys in PEM.
	PEMWithECDSA
	// Modern is OpenSSH 6.5 and later (jessie on): RSA, ECDSA and Ed25519
	// host keys in the openssh-key-v1 format.
	Modern
)

func (e Era) String() string {
	switch e {
	case Legacy:
		return "legacy"
	case PEMWithECDSA:
		return "pem-ecdsa"
	case Modern:
		return "modern"
	}
	return fmt.Sprintf("Era(%d)", int(e))
}

// suiteEras maps Debian codenames to the era of the OpenSSH they ship.
var suiteEras = map[string]Era{
	"sarge":    Legacy, // 3.8.1p1
	"etch":     Legacy, // 4.3p2
	"lenny":    Legacy, // 5.1p1
	"squeeze":  Legacy, // 5.5p1
	"wheezy":   PEMWithECDSA,
	"jessie":   Modern, // 6.7p1
	"stretch":  Modern,
	"buster":   Modern,
	"bullseye": Modern,
	"bookworm": Modern,
	"trixie":   Modern,
	"forky":    Modern,
	"sid":      Modern,
	"unstable": Modern,
	"testing":  Modern,
}

// EraFor returns the OpenSSH era of a Debian codename.
func EraFor(codename string) (Era, error) {
	if e, ok := suiteEras[codename]; ok {
		return e, nil
	}
	return 0, fmt.Errorf("sshkey: no OpenSSH era known for suite %q", codename)
}

// Types returns the host key types the era's sshd loads by default, in the
// order its ssh_config proposes them.
func (e Era) Types() []Type {
	switch e {
	case Legacy:
		return []Type{RSA, DSA}
	case PEMWithECDSA:
		return []Type{RSA, DSA, ECDSA}
	default:
		return []Type{RSA, ECDSA, Ed25519}
	}
}

// marshal encodes k's private half in the era's format.
func (e Era) marshal(k *Key) ([]byte, error) {
	if e == Modern {
		return k.MarshalOpenSSH(), nil
	}
	return k.MarshalPEM()
}

// File is one file to write into an image.
type File struct {
	Path string      // absolute path inside the guest, e.g. /etc/ssh/ssh_host_rsa_key
	Mode fs.FileMode // 0600 private, 0644 public
	Data []byte
}

// Options tune key generation. The zero value is valid.
type Options struct {
	// Comment is written after every public key; ssh-keygen -A writes
	// "root@<hostname>".
	Comment string
	// RSABits is the RSA modulus size: 0 means 2048 for Legacy and
	// PEMWithECDSA (the OpenSSH 5.x default) and DefaultRSABits for Modern.
	RSABits int
}

// Set is a generated set of keys and the files that hold them.
type Set struct {
	Keys  []*Key // in Era.Types order
	Files []File // private then public for each key, in Keys order
}

func (e Era) rsaBits(o Options) int {
	if o.RSABits != 0 {
		return o.RSABits
	}
	if e == Modern {
		return DefaultRSABits
	}
	return 2048
}

// HostKeys generates the SSH host keys of one machine for an era: for each
// type, /etc/ssh/ssh_host_<type>_key (0600) and its .pub (0644).
func HostKeys(seed Seed, era Era, o Options) (*Set, error) {
	if era < Legacy || era > Modern {
		return nil, fmt.Errorf("sshkey: unknown era %d", int(era))
	}
	seed = DeriveSeed(seed, "host")
	set := &Set{}
	for _, t := range era.Types() {
		bits := 0
		if t == RSA {
			bits = era.rsaBits(o)
		}
		k, err := Generate(seed, t, bits, o.Comment)
		if err != nil {
			return nil, fmt.Errorf("generating %s host key: %w", t, err)
		}
		priv, err := era.marshal(k)
		if err != nil {
			return nil, err
		}
		base := "/etc/ssh/ssh_host_" + string(t) + "_key"
		set.Keys = append(set.Keys, k)
		set.Files = append(set.Files,
			File{Path: base, Mode: 0o600, Data: priv},
			File{Path: base + ".pub", Mode: 0o644, Data: k.AuthorizedKey()})
	}
	return set, nil
}

// UserKey generates a user's key pair for logging in to machines of an era:
// Ed25519 where the server accepts it (Modern), RSA otherwise, as
// "id_ed25519" or "id_rsa" plus ".pub" (paths relative to ~/.ssh). The
// private key is in openssh-key-v1, which the (modern) client reads.
func UserKey(seed Seed, era Era, o Options) (*Set, error) {
	if era < Legacy || era > Modern {
		return nil, fmt.Errorf("sshkey: unknown era %d", int(era))
	}
	t := Ed25519
	if era != Modern {
		t = RSA
	}
	bits := 0
	if t == RSA {
		bits = era.rsaBits(o)
	}
	k, err := Generate(DeriveSeed(seed, "user"), t, bits, o.Comment)
	if err != nil {
		return nil, fmt.Errorf("generating %s user key: %w", t, err)
	}
	name := "id_" + string(t)
	return &Set{
		Keys: []*Key{k},
		Files: []File{
			{Path: name, Mode: 0o600, Data: k.MarshalOpenSSH()},
			{Path: name + ".pub", Mode: 0o644, Data: k.AuthorizedKey()},
		},
	}, nil
}
