// Package debootstrap is xenimg's first stage: from a Debian mirror to an
// unpacked root tree, as debootstrap's first stage leaves it.
//
// It verifies the archive (release), loads its indexes (archive), resolves
// the package set (resolve), fetches the .debs (fetch) and unpacks them
// (deb, unpack) into a tree.Tree. It knows nothing of Xen, images or
// recipes. It does not run maintainer scripts: that is the second stage.
package debootstrap

import "sort"

// Suite is what xenimg knows about one Debian release.
type Suite struct {
	Codename string
	Version  string // "3.1" for sarge, "" for sid
	// Archived suites live on archive.debian.org and are signed by keys
	// that are now in the removed-keys keyring.
	Archived bool
	// MergedUsr: debootstrap creates /bin -> usr/bin etc. before unpacking.
	MergedUsr bool
	// FixedLists: debootstrap used fixed required/base lists (sarge era)
	// instead of selecting by Priority.
	FixedLists bool
	// Security is the security suite line form: "CODENAME-security" (bullseye
	// and later), "CODENAME/updates" (older), "" (none: sid, testing).
	Security string
	// UUIDMount: the suite's mount and initramfs understand UUID= in fstab.
	UUIDMount bool
	// Year of release, for documentation and sanity messages.
	Year int
}

var suites = map[string]Suite{
	"sarge":    {Codename: "sarge", Version: "3.1", Archived: true, FixedLists: true, Security: "sarge/updates", Year: 2005},
	"etch":     {Codename: "etch", Version: "4.0", Archived: true, Security: "etch/updates", UUIDMount: true, Year: 2007},
	"lenny":    {Codename: "lenny", Version: "5.0", Archived: true, Security: "lenny/updates", UUIDMount: true, Year: 2009},
	"squeeze":  {Codename: "squeeze", Version: "6.0", Archived: true, Security: "squeeze/updates", UUIDMount: true, Year: 2011},
	"wheezy":   {Codename: "wheezy", Version: "7", Archived: true, Security: "wheezy/updates", UUIDMount: true, Year: 2013},
	"jessie":   {Codename: "jessie", Version: "8", Archived: true, Security: "jessie/updates", UUIDMount: true, Year: 2015},
	"stretch":  {Codename: "stretch", Version: "9", Archived: true, Security: "stretch/updates", UUIDMount: true, Year: 2017},
	"buster":   {Codename: "buster", Version: "10", Archived: true, Security: "buster/updates", UUIDMount: true, Year: 2019},
	"bullseye": {Codename: "bullseye", Version: "11", Security: "bullseye-security", UUIDMount: true, Year: 2021},
	"bookworm": {Codename: "bookworm", Version: "12", MergedUsr: true, Security: "bookworm-security", UUIDMount: true, Year: 2023},
	"trixie":   {Codename: "trixie", Version: "13", MergedUsr: true, Security: "trixie-security", UUIDMount: true, Year: 2025},
	"forky":    {Codename: "forky", Version: "14", MergedUsr: true, Security: "forky-security", UUIDMount: true, Year: 2027},
	"sid":      {Codename: "sid", MergedUsr: true, UUIDMount: true},
}

// LookupSuite returns the suite named by codename.
func LookupSuite(codename string) (Suite, bool) {
	s, ok := suites[codename]
	return s, ok
}

// Codenames lists the known codenames, oldest first (sid last).
func Codenames() []string {
	names := make([]string, 0, len(suites))
	for n := range suites {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := suites[names[i]], suites[names[j]]
		if (a.Year == 0) != (b.Year == 0) {
			return b.Year == 0
		}
		return a.Year < b.Year
	})
	return names
}

var arches = map[string]bool{
	"amd64": true, "i386": true, "arm64": true, "armhf": true, "armel": true,
	"ppc64el": true, "s390x": true, "mips64el": true, "mipsel": true,
	"riscv64": true, "loong64": true,
	// sarge-era ports
	"alpha": true, "arm": true, "hppa": true, "ia64": true, "m68k": true,
	"mips": true, "powerpc": true, "s390": true, "sparc": true,
}

// KnownArch reports whether arch is a Debian architecture name.
func KnownArch(arch string) bool { return arches[arch] }

// Variants lists the variants xenimg resolves, as debootstrap names them
// ("important" is debootstrap's default variant).
var Variants = []string{"minbase", "important", "buildd", "standard"}
