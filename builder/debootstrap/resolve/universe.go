package resolve

import (
	"sort"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"pault.ag/go/debian/version"
)

// Universe indexes the packages available for one architecture (plus
// "all"), by name and by provided name.
type Universe struct {
	Arch      string
	pkgs      []*control.Package // input order, filtered by architecture
	byName    map[string][]*control.Package
	providers map[string][]provider
}

type provider struct {
	pkg     *control.Package
	op      control.Op // OpNone or OpEQ (versioned provides)
	version version.Version
}

// NewUniverse builds a universe from packages of several components for
// arch. Packages of other architectures are ignored. Several versions of a
// name are kept; the highest is the candidate (the first listed wins a tie).
func NewUniverse(arch string, pkgs []control.Package) *Universe {
	u := &Universe{
		Arch:      arch,
		byName:    make(map[string][]*control.Package, len(pkgs)),
		providers: make(map[string][]provider),
	}
	for i := range pkgs {
		p := &pkgs[i]
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		u.pkgs = append(u.pkgs, p)
		u.byName[p.Name] = append(u.byName[p.Name], p)
		for _, rel := range p.Provides {
			for _, pv := range rel {
				u.providers[pv.Name] = append(u.providers[pv.Name], provider{pkg: p, op: pv.Op, version: pv.Version})
			}
		}
	}
	for _, list := range u.byName {
		if len(list) > 1 {
			sort.SliceStable(list, func(i, j int) bool {
				return version.Compare(list[i].Version, list[j].Version) > 0
			})
		}
	}
	return u
}

// Candidate returns the package apt would install for name: its highest
// version.
func (u *Universe) Candidate(name string) (*control.Package, bool) {
	l := u.byName[name]
	if len(l) == 0 {
		return nil, false
	}
	return l[0], true
}

// Versions returns every version of name, highest first.
func (u *Universe) Versions(name string) []*control.Package { return u.byName[name] }

// Providers returns the packages that provide name, in input order.
func (u *Universe) Providers(name string) []*control.Package {
	var out []*control.Package
	for _, pv := range u.providers[name] {
		out = append(out, pv.pkg)
	}
	return out
}

// WithPriority returns the names of packages with the given priority, in
// input order, duplicates removed (debootstrap's get_debs).
func (u *Universe) WithPriority(prio string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range u.pkgs {
		if p.Priority == prio && !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p.Name)
		}
	}
	return out
}

// Len is the number of packages in the universe.
func (u *Universe) Len() int { return len(u.pkgs) }
