package resolve

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"pault.ag/go/debian/version"
)

// Variant names a debootstrap variant.
type Variant string

// Variants. Important is debootstrap's default ("-"); Standard is
// mmdebstrap's.
const (
	Minbase   Variant = "minbase"
	Important Variant = "important"
	Buildd    Variant = "buildd"
	Standard  Variant = "standard"
)

// ErrUnknownVariant is returned for a variant this package does not know.
var ErrUnknownVariant = errors.New("resolve: unknown variant")

// ParseVariant accepts the variant names above, "" and "-" (Important).
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "", "-", "important", "default":
		return Important, nil
	case "minbase", "buildd", "standard":
		return Variant(s), nil
	}
	return "", fmt.Errorf("%w %q (want minbase, important, buildd or standard)", ErrUnknownVariant, s)
}

// List says which debootstrap list a package came from: the first stage
// unpacks Required, the second stage installs Required then Base.
type List uint8

const (
	Required List = iota + 1
	Base
)

func (l List) String() string {
	switch l {
	case Required:
		return "required"
	case Base:
		return "base"
	}
	return fmt.Sprintf("List(%d)", uint8(l))
}

// Options select what to resolve.
type Options struct {
	Codename    string   // suite codename: "sarge", "bookworm", "trixie", "sid", ...
	Variant     Variant  // "" means Important
	Include     []string // added to the base list
	Exclude     []string // removed from the seed lists (not from dependencies)
	MirrorHTTPS bool     // an https:// mirror: debootstrap adds ca-certificates
}

// Selected is one package of the result.
type Selected struct {
	Name      string
	Version   version.Version
	Arch      string
	Filename  string
	Size      int64 // bytes
	MD5sum    string
	SHA1      string
	SHA256    string
	Priority  string
	Essential bool
	List      List
	Package   *control.Package
}

// Conflict is a Conflicts or Breaks relation between two selected packages.
type Conflict struct {
	Package  string // the package declaring the relation
	Other    string // the selected package it hits
	Field    string // "Conflicts" or "Breaks"
	Relation string // the possibility, e.g. "libc6 (<< 2.36)"
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s %s %s (%s is selected)", c.Package, strings.ToLower(c.Field), c.Relation, c.Other)
}

// Set is the resolved package set, sorted by name.
type Set struct {
	Packages  []Selected
	Conflicts []Conflict // sorted; empty for a consistent set
}

// Names returns the package names, sorted.
func (s *Set) Names() []string {
	out := make([]string, len(s.Packages))
	for i, p := range s.Packages {
		out[i] = p.Name
	}
	return out
}

// List returns the packages of one list, sorted by name.
func (s *Set) List(l List) []Selected {
	var out []Selected
	for _, p := range s.Packages {
		if p.List == l {
			out = append(out, p)
		}
	}
	return out
}

// Seeds returns what debootstrap's work_out_debs and its include/exclude
// handling give for opt: the required and base lists before closure, and
// the names never pulled in as dependencies.
func Seeds(u *Universe, opt Options) (required, base, excludeDeps []string, err error) {
	v, err := ParseVariant(string(opt.Variant))
	if err != nil {
		return nil, nil, nil, err
	}
	if opt.Codename == "sarge" {
		switch v {
		case Important:
			required, base = SargeRequired(u.Arch), SargeBase(u.Arch)
		case Buildd:
			required, base = SargeBuilddRequired(u.Arch), SargeBuilddBase(u.Arch)
		default:
			return nil, nil, nil, fmt.Errorf("%w %q for sarge (debootstrap's sarge script has important and buildd)", ErrUnknownVariant, v)
		}
	} else {
		required = u.WithPriority("required")
		switch v {
		case Minbase:
			base = []string{"apt"}
		case Buildd:
			base = []string{"apt", "build-essential"}
		case Important:
			base = u.WithPriority("important")
		case Standard:
			base = append(u.WithPriority("important"), u.WithPriority("standard")...)
		}
	}
	if opt.MirrorHTTPS {
		switch opt.Codename {
		case "lenny", "squeeze", "wheezy", "jessie", "stretch":
			base = append(base, "apt-transport-https", "ca-certificates")
		default:
			base = append(base, "ca-certificates")
		}
	}
	switch opt.Codename {
	case "sarge", "etch", "lenny", "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye":
	case "bookworm":
		required = append(required, "usr-is-merged")
		excludeDeps = []string{"usrmerge"}
	default:
		excludeDeps = []string{"usrmerge"}
	}
	base = append(base, opt.Include...)
	required = sortedWithout(required, opt.Exclude)
	base = sortedWithout(base, opt.Exclude)
	return required, base, excludeDeps, nil
}

func sortedWithout(list, drop []string) []string {
	d := map[string]bool{}
	for _, n := range drop {
		d[n] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range list {
		if !d[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Resolve computes the package set for opt from u.
func Resolve(u *Universe, opt Options) (*Set, error) {
	required, base, excl, err := Seeds(u, opt)
	if err != nil {
		return nil, err
	}
	r := &resolver{u: u, excl: map[string]bool{}, sel: map[string]*node{}}
	for _, n := range excl {
		r.excl[n] = true
	}
	if err := r.close(required, Required); err != nil {
		return nil, r.failed(err)
	}
	if err := r.close(base, Base); err != nil {
		return nil, r.failed(err)
	}
	set := &Set{Packages: make([]Selected, 0, len(r.sel))}
	for _, n := range r.sel {
		p := n.pkg
		set.Packages = append(set.Packages, Selected{
			Name: p.Name, Version: p.Version, Arch: p.Architecture, Filename: p.Filename,
			Size: p.Size, MD5sum: p.MD5sum, SHA1: p.SHA1, SHA256: p.SHA256,
			Priority: p.Priority, Essential: p.Essential, List: n.list, Package: p,
		})
	}
	sort.Slice(set.Packages, func(i, j int) bool { return set.Packages[i].Name < set.Packages[j].Name })
	set.Conflicts = r.conflicts(set)
	if r.err != nil {
		return nil, r.err
	}
	return set, nil
}

type node struct {
	id     int32
	pkg    *control.Package
	list   List
	parent *node  // who pulled it in (nil for a seed)
	via    string // the relation that pulled it in
}

type resolver struct {
	u    *Universe
	excl map[string]bool
	sel  map[string]*node
	err  error // the first package that did not parse
}

// failed prefers a package that did not parse to the error it caused.
func (r *resolver) failed(err error) error {
	if r.err != nil {
		return r.err
	}
	return err
}

// pkg returns package id of the universe. One that does not parse is
// recorded in r.err (Resolve returns it) and stands in as a package with
// no relations and no version.
func (r *resolver) pkg(id int32) *control.Package {
	p, err := r.u.pkg(id)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		e := &r.u.ents[id]
		return &control.Package{Name: e.name, Priority: e.prio}
	}
	return p
}

type pending struct {
	from *node
	rel  control.Relation
}

// close adds seeds and their closure to r.sel, marking new ones with list.
func (r *resolver) close(seeds []string, list List) error {
	var queue []*node
	add := func(id int32, parent *node, via string) {
		p := r.pkg(id)
		if _, ok := r.sel[p.Name]; ok {
			return
		}
		n := &node{id: id, pkg: p, list: list, parent: parent, via: via}
		r.sel[p.Name] = n
		queue = append(queue, n)
	}
	for _, s := range seeds {
		id := r.u.candidate(s)
		if id < 0 {
			reason := "not in the archive"
			if r.u.hasProviders(s) {
				reason = "a virtual package, name a provider instead"
			}
			return &DepError{Relation: s, Reasons: []string{s + ": " + reason}}
		}
		add(id, nil, "")
	}
	for {
		var deferred []pending
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, rels := range [2]control.Relations{n.pkg.PreDepends, n.pkg.Depends} {
				for _, rel := range rels {
					first := rel[0]
					if s, ok := r.sel[first.Name]; ok {
						if ok, _ := r.archOK(first, s.id); ok && first.Op.Satisfied(s.pkg.Version, first.Version) {
							continue
						}
					} else if !r.excl[first.Name] {
						if id, _ := r.real(first); id >= 0 {
							add(id, n, rel.String())
							continue
						}
					}
					deferred = append(deferred, pending{n, rel})
				}
			}
		}
		if len(deferred) == 0 {
			return nil
		}
		for _, d := range deferred {
			if r.satisfied(d.rel) {
				continue
			}
			id, reasons := r.choose(d.rel)
			if id < 0 {
				return &DepError{Chain: chain(d.from), Relation: d.rel.String(), Reasons: reasons}
			}
			p := r.pkg(id)
			if s, ok := r.sel[p.Name]; ok && s.id != id {
				// Only one version of a name can be installed.
				why := fmt.Sprintf("%s %s is already selected (%s)", s.pkg.Name, s.pkg.Version, strings.Join(chain(s), " -> "))
				return &DepError{Chain: chain(d.from), Relation: d.rel.String(), Reasons: append(reasons, why)}
			}
			add(id, d.from, d.rel.String())
		}
	}
}

func chain(n *node) []string {
	var c []string
	for ; n != nil; n = n.parent {
		c = append(c, n.pkg.Name)
	}
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		c[i], c[j] = c[j], c[i]
	}
	return c
}

// archOK reports whether p's architecture qualifier admits package id.
func (r *resolver) archOK(p control.Possibility, id int32) (bool, string) {
	switch p.ArchQual {
	case "", "native", r.u.Arch:
		return true, ""
	case "any":
		pkg := r.pkg(id)
		if pkg.MultiArch == "allowed" {
			return true, ""
		}
		return false, fmt.Sprintf("%s %s is not Multi-Arch: allowed (needed for :any)", pkg.Name, pkg.Version)
	}
	return false, fmt.Sprintf("architecture %s is not %s", p.ArchQual, r.u.Arch)
}

// real returns the best real package named p.Name that satisfies p, or -1.
func (r *resolver) real(p control.Possibility) (int32, []string) {
	var reasons []string
	for id := r.u.candidate(p.Name); id >= 0; id = r.u.ents[id].next {
		if ok, why := r.archOK(p, id); !ok {
			reasons = append(reasons, why)
			continue
		}
		if p.Op != control.OpNone {
			if c := r.pkg(id); !p.Op.Satisfied(c.Version, p.Version) {
				reasons = append(reasons, fmt.Sprintf("%s %s does not satisfy %s %s", c.Name, c.Version, p.Op, p.Version))
				continue
			}
		}
		return id, nil
	}
	return -1, reasons
}

// provides reports whether pv (a Provides entry) satisfies p.
func (r *resolver) provides(p control.Possibility, pv provider) (bool, string) {
	if ok, why := r.archOK(p, pv.id); !ok {
		return false, why
	}
	if p.Op == control.OpNone {
		return true, ""
	}
	name := r.u.ents[pv.id].name
	if pv.op != control.OpEQ {
		return false, fmt.Sprintf("%s provides %s without a version, %s %s needed", name, p.Name, p.Op, p.Version)
	}
	if !p.Op.Satisfied(pv.version, p.Version) {
		return false, fmt.Sprintf("%s provides %s %s, %s %s needed", name, p.Name, pv.version, p.Op, p.Version)
	}
	return true, ""
}

// satisfied reports whether the selection already satisfies rel.
func (r *resolver) satisfied(rel control.Relation) bool {
	for _, p := range rel {
		if n, ok := r.sel[p.Name]; ok {
			if ok, _ := r.archOK(p, n.id); ok && p.Op.Satisfied(n.pkg.Version, p.Version) {
				return true
			}
		}
		for pv := range r.u.providersOf(p.Name) {
			if n, ok := r.sel[r.u.ents[pv.id].name]; ok && n.id == pv.id {
				if ok, _ := r.provides(p, pv); ok {
					return true
				}
			}
		}
	}
	return false
}

var prioRank = map[string]int{"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}

func rank(p string) int {
	if r, ok := prioRank[p]; ok {
		return r
	}
	return 5
}

// choose picks a package for an unsatisfied relation, or explains why none.
func (r *resolver) choose(rel control.Relation) (int32, []string) {
	var reasons []string
	for _, p := range rel {
		if r.excl[p.Name] {
			reasons = append(reasons, p.Name+": never pulled in as a dependency for this suite")
			continue
		}
		c, why := r.real(p)
		if c >= 0 {
			return c, nil
		}
		reasons = append(reasons, why...)
		best := int32(-1)
		for pv := range r.u.providersOf(p.Name) {
			e := &r.u.ents[pv.id]
			if r.excl[e.name] {
				continue
			}
			if r.u.candidate(e.name) != pv.id {
				continue // only a candidate version may be installed
			}
			ok, why := r.provides(p, pv)
			if !ok {
				reasons = append(reasons, why)
				continue
			}
			if best < 0 {
				best = pv.id
				continue
			}
			b := &r.u.ents[best]
			if rank(e.prio) < rank(b.prio) || (rank(e.prio) == rank(b.prio) && e.name < b.name) {
				best = pv.id
			}
		}
		if best >= 0 {
			return best, nil
		}
		if r.u.candidate(p.Name) < 0 && !r.u.hasProviders(p.Name) {
			reasons = append(reasons, p.Name+": not in the archive")
		}
	}
	return -1, reasons
}

// conflicts lists Conflicts/Breaks hits between selected packages.
func (r *resolver) conflicts(set *Set) []Conflict {
	var out []Conflict
	for _, s := range set.Packages {
		self := r.sel[s.Name].id
		for _, f := range [2]struct {
			name string
			rels control.Relations
		}{{"Conflicts", s.Package.Conflicts}, {"Breaks", s.Package.Breaks}} {
			for _, rel := range f.rels {
				for _, p := range rel {
					if n, ok := r.sel[p.Name]; ok && n.id != self {
						if ok, _ := r.archOK(p, n.id); ok && p.Op.Satisfied(n.pkg.Version, p.Version) {
							out = append(out, Conflict{s.Name, n.pkg.Name, f.name, p.String()})
						}
					}
					for pv := range r.u.providersOf(p.Name) {
						pname := r.u.ents[pv.id].name
						if n, ok := r.sel[pname]; ok && n.id == pv.id && pv.id != self {
							if ok, _ := r.provides(p, pv); ok {
								out = append(out, Conflict{s.Name, pname, f.name, p.String()})
							}
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.Other != b.Other {
			return a.Other < b.Other
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Relation < b.Relation
	})
	return out
}
