package resolve

import (
	"fmt"
	"iter"
	"strings"
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
	providers map[string]provList
	provs     []provider

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

// provList is a name's providers in provs, in input order.
type provList struct{ head, tail int32 }

type provider struct {
	id      int32
	next    int32      // next provider of the same name in provs, -1 if none
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
	b := NewBuilder(arch, n)
	for _, ix := range indexes {
		if err := b.Add(ix, 0); err != nil {
			return nil, err
		}
	}
	return b.Universe(), nil
}

// Builder makes a universe from indexes whose paragraphs arrive in parts
// (see control.IndexScanner.Partial), so that it is ready soon after the
// last part.
type Builder struct {
	u   *Universe
	err error
}

// NewBuilder starts a universe for arch; sizeHint, the expected number of
// packages, only presizes its tables.
func NewBuilder(arch string, sizeHint int) *Builder {
	return &Builder{u: newUniverse(arch, sizeHint)}
}

// Add adds paragraphs from, from+1, ... of ix. Paragraphs are added in the
// order of the calls: those of one index in its order, then those of the
// next index.
func (b *Builder) Add(ix *control.Index, from int) error {
	if b.err != nil {
		return b.err
	}
	u := b.u
	for i := from; i < ix.Len(); i++ {
		if a := ix.Architecture(i); a != u.Arch && a != "all" {
			continue
		}
		id := u.add(uent{name: ix.Name(i), prio: ix.Priority(i), ix: ix, i: int32(i)})
		if pv := ix.Provides(i); pv != "" {
			if err := u.addProvidesField(id, pv); err != nil {
				b.err = &control.ParseError{File: ix.File, Line: ix.Line(i), Field: "Provides", Err: err}
				return b.err
			}
		}
		if err := u.insert(id); err != nil {
			b.err = err
			return err
		}
	}
	return nil
}

// Universe returns the universe of everything added.
func (b *Builder) Universe() *Universe { return b.u }

func newUniverse(arch string, n int) *Universe {
	return &Universe{
		Arch:      arch,
		ents:      make([]uent, 0, n),
		byName:    make(map[string]int32, n),
		providers: make(map[string]provList),
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
			u.addProvider(pv.Name, provider{id: id, op: pv.Op, version: pv.Version})
		}
	}
}

// addProvidesField adds the entries of a Provides field. It parses what
// ParseRelations parses, without allocating for the common entries that
// are a bare name.
func (u *Universe) addProvidesField(id int32, v string) error {
	for len(v) > 0 {
		var item string
		if i := strings.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, ""
		}
		if name := strings.Trim(item, " \t\n\r"); bareName(name) {
			u.addProvider(name, provider{id: id})
			continue
		} else if name == "" {
			continue
		} else if !strings.Contains(item, "|") {
			p, err := control.ParsePossibility(item)
			if err != nil {
				return err
			}
			u.addProvider(p.Name, provider{id: id, op: p.Op, version: p.Version})
			continue
		}
		rels, err := control.ParseRelations(item)
		if err != nil {
			return err
		}
		u.addProvides(id, rels)
	}
	return nil
}

func bareName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z',
			c == '+', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

func (u *Universe) addProvider(name string, pv provider) {
	n := int32(len(u.provs))
	pv.next = -1
	u.provs = append(u.provs, pv)
	if l, ok := u.providers[name]; ok {
		u.provs[l.tail].next = n
		u.providers[name] = provList{l.head, n}
	} else {
		u.providers[name] = provList{n, n}
	}
}

// providersOf yields the providers of name, in input order.
func (u *Universe) providersOf(name string) iter.Seq[provider] {
	return func(yield func(provider) bool) {
		l, ok := u.providers[name]
		if !ok {
			return
		}
		for p := l.head; p >= 0; p = u.provs[p].next {
			if !yield(u.provs[p]) {
				return
			}
		}
	}
}

func (u *Universe) hasProviders(name string) bool {
	_, ok := u.providers[name]
	return ok
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
	for pv := range u.providersOf(name) {
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
