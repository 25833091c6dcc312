package resolve

import (
	"fmt"
	"sync"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"pault.ag/go/debian/version"
)

// Universe indexes the packages available for one architecture (plus
// "all"), by name and by provided name.
//
// A universe made from control.Index values parses a package's paragraph
// (its version, relations, checksums) only when a resolver looks at it. A
// package whose paragraph turns out not to parse is left out of what the
// methods return; Resolve reports the error.
type Universe struct {
	Arch      string
	ents      []uent           // input order, filtered by architecture
	byName    map[string]int32 // the candidate (highest version) of a name
	providers map[string][]provider

	mu sync.Mutex // guards ents[].pkg
}

// uent is one package of the universe.
type uent struct {
	name, prio string
	ix         *control.Index // where to parse the package from; nil if pkg was given
	i          int32          // paragraph index in ix
	next       int32          // next lower version of the same name, -1 if none
	pkg        *control.Package
}

type provider struct {
	id      int32
	op      control.Op // OpNone or OpEQ (versioned provides)
	version version.Version
}

// NewUniverse builds a universe from packages of several components for
// arch. Packages of other architectures are ignored. Several versions of a
// name are kept; the highest is the candidate (the first listed wins a tie).
func NewUniverse(arch string, pkgs []control.Package) *Universe {
	u := newUniverse(arch, len(pkgs))
	for i := range pkgs {
		p := &pkgs[i]
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		id := u.add(uent{name: p.Name, prio: p.Priority, pkg: p})
		u.addProvides(id, p.Provides)
		u.insert(id) //nolint:errcheck // versions are parsed: no error
	}
	return u
}

// NewIndexUniverse builds a universe from scanned indexes, in order, as
// NewUniverse does from parsed packages. It parses the Provides fields of
// arch's packages, and the versions of names listed more than once.
func NewIndexUniverse(arch string, indexes ...*control.Index) (*Universe, error) {
	n := 0
	for _, ix := range indexes {
		n += ix.Len()
	}
	u := newUniverse(arch, n)
	for _, ix := range indexes {
		for i := range ix.Len() {
			if a := ix.Architecture(i); a != arch && a != "all" {
				continue
			}
			id := u.add(uent{name: ix.Name(i), prio: ix.Priority(i), ix: ix, i: int32(i)})
			if pv := ix.Provides(i); pv != "" {
				rels, err := control.ParseRelations(pv)
				if err != nil {
					return nil, &control.ParseError{File: ix.File, Line: ix.Line(i), Field: "Provides", Err: err}
				}
				u.addProvides(id, rels)
			}
			if err := u.insert(id); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

func newUniverse(arch string, n int) *Universe {
	return &Universe{
		Arch:      arch,
		ents:      make([]uent, 0, n),
		byName:    make(map[string]int32, n),
		providers: make(map[string][]provider),
	}
}

func (u *Universe) add(e uent) int32 {
	e.next = -1
	u.ents = append(u.ents, e)
	return int32(len(u.ents) - 1)
}

func (u *Universe) addProvides(id int32, rels control.Relations) {
	for _, rel := range rels {
		for _, pv := range rel {
			u.providers[pv.Name] = append(u.providers[pv.Name], provider{id: id, op: pv.Op, version: pv.Version})
		}
	}
}

// insert links id into its name's list, highest version first, after the
// versions equal to its own (the first listed wins a tie).
func (u *Universe) insert(id int32) error {
	name := u.ents[id].name
	head, ok := u.byName[name]
	if !ok {
		u.byName[name] = id
		return nil
	}
	p, err := u.pkg(id)
	if err != nil {
		return err
	}
	prev := int32(-1)
	for c := head; c >= 0; prev, c = c, u.ents[c].next {
		cp, err := u.pkg(c)
		if err != nil {
			return err
		}
		if version.Compare(p.Version, cp.Version) > 0 {
			break
		}
	}
	if prev < 0 {
		u.ents[id].next = head
		u.byName[name] = id
	} else {
		u.ents[id].next = u.ents[prev].next
		u.ents[prev].next = id
	}
	return nil
}

// pkg returns package id, parsing it on first use.
func (u *Universe) pkg(id int32) (*control.Package, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := &u.ents[id]
	if e.pkg == nil {
		p, err := e.ix.Package(int(e.i))
		if err != nil {
			return nil, fmt.Errorf("reading package %s: %w", e.name, err)
		}
		if p.Name != e.name {
			// Cannot happen: the scan and the parse read the same field.
			return nil, fmt.Errorf("%s:%d: package %s parses as %s", e.ix.File, e.ix.Line(int(e.i)), e.name, p.Name)
		}
		e.pkg = p
	}
	return e.pkg, nil
}

func (u *Universe) candidate(name string) int32 {
	if id, ok := u.byName[name]; ok {
		return id
	}
	return -1
}

// Candidate returns the package apt would install for name: its highest
// version.
func (u *Universe) Candidate(name string) (*control.Package, bool) {
	id := u.candidate(name)
	if id < 0 {
		return nil, false
	}
	p, err := u.pkg(id)
	return p, err == nil
}

// Versions returns every version of name, highest first.
func (u *Universe) Versions(name string) []*control.Package {
	var out []*control.Package
	for id := u.candidate(name); id >= 0; id = u.ents[id].next {
		if p, err := u.pkg(id); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Providers returns the packages that provide name, in input order.
func (u *Universe) Providers(name string) []*control.Package {
	var out []*control.Package
	for _, pv := range u.providers[name] {
		if p, err := u.pkg(pv.id); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// WithPriority returns the names of packages with the given priority, in
// input order, duplicates removed (debootstrap's get_debs).
func (u *Universe) WithPriority(prio string) []string {
	var out []string
	seen := map[string]bool{}
	for i := range u.ents {
		e := &u.ents[i]
		if e.prio == prio && !seen[e.name] {
			seen[e.name] = true
			out = append(out, e.name)
		}
	}
	return out
}

// Len is the number of packages in the universe.
func (u *Universe) Len() int { return len(u.ents) }
