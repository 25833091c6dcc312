package control

import (
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// Op is a version relation operator.
type Op uint8

// Operators of Debian Policy 7.1. The obsolete "<" and ">" parse as OpLE and
// OpGE, which is what dpkg has always taken them to mean.
const (
	OpNone Op = iota // unversioned
	OpLT             // <<
	OpLE             // <=
	OpEQ             // =
	OpGE             // >=
	OpGT             // >>
)

var opNames = [...]string{"", "<<", "<=", "=", ">=", ">>"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Satisfied reports whether a version v satisfies "op want".
func (o Op) Satisfied(v, want version.Version) bool {
	if o == OpNone {
		return true
	}
	c := version.Compare(v, want)
	switch o {
	case OpLT:
		return c < 0
	case OpLE:
		return c <= 0
	case OpEQ:
		return c == 0
	case OpGE:
		return c >= 0
	case OpGT:
		return c > 0
	}
	return false
}

// Possibility is one package that can satisfy a relation: "name:arch (op
// version) [archs] <profiles>".
type Possibility struct {
	Name     string
	ArchQual string          // after ':' ("any", "native", or an arch), "" if none
	Op       Op              // OpNone: unversioned
	Version  version.Version // valid when Op != OpNone
	Archs    []string        // [amd64 !i386] restriction (source packages), as written
	Profiles [][]string      // <!nocheck> <stage1> groups (source packages), as written
}

// Relation is a list of alternatives ("a | b"); one must be satisfied.
type Relation []Possibility

// Relations is a comma-separated list; every relation must be satisfied.
type Relations []Relation

func (p Possibility) String() string {
	var b strings.Builder
	p.writeTo(&b)
	return b.String()
}

func (p Possibility) writeTo(b *strings.Builder) {
	b.WriteString(p.Name)
	if p.ArchQual != "" {
		b.WriteByte(':')
		b.WriteString(p.ArchQual)
	}
	if p.Op != OpNone {
		b.WriteString(" (")
		b.WriteString(p.Op.String())
		b.WriteByte(' ')
		b.WriteString(p.Version.String())
		b.WriteByte(')')
	}
	if len(p.Archs) > 0 {
		b.WriteString(" [")
		b.WriteString(strings.Join(p.Archs, " "))
		b.WriteByte(']')
	}
	for _, g := range p.Profiles {
		b.WriteString(" <")
		b.WriteString(strings.Join(g, " "))
		b.WriteByte('>')
	}
}

func (r Relation) String() string {
	var b strings.Builder
	for i, p := range r {
		if i > 0 {
			b.WriteString(" | ")
		}
		p.writeTo(&b)
	}
	return b.String()
}

func (rs Relations) String() string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		for j, p := range r {
			if j > 0 {
				b.WriteString(" | ")
			}
			p.writeTo(&b)
		}
	}
	return b.String()
}

// ParseRelations parses a relation field value (Depends, Pre-Depends,
// Provides, Conflicts, Breaks, Build-Depends ...). Empty entries between
// commas are skipped, as dpkg and apt do.
func ParseRelations(s string) (Relations, error) {
	var rs Relations
	for len(s) > 0 {
		var item string
		if i := strings.IndexByte(s, ','); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			item, s = s, ""
		}
		if isBlankNL(item) {
			continue
		}
		var rel Relation
		for {
			var alt string
			i := strings.IndexByte(item, '|')
			if i >= 0 {
				alt, item = item[:i], item[i+1:]
			} else {
				alt = item
			}
			p, err := parsePossibility(alt)
			if err != nil {
				return nil, err
			}
			rel = append(rel, p)
			if i < 0 {
				break
			}
		}
		rs = append(rs, rel)
	}
	return rs, nil
}

func isBlankNL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func isNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
		return true
	case c == '+' || c == '-' || c == '.' || c == '_':
		return true
	}
	return false
}

// ParsePossibility parses one possibility, "name:arch (op version)
// [archs] <profiles>", as ParseRelations parses each alternative.
func ParsePossibility(s string) (Possibility, error) { return parsePossibility(s) }

func parsePossibility(s string) (Possibility, error) {
	var p Possibility
	bad := func(why string) (Possibility, error) {
		return Possibility{}, fmt.Errorf("%w: %q: %s", ErrRelation, strings.TrimSpace(s), why)
	}
	i := skipSpace(s, 0)
	j := i
	for j < len(s) && isNameChar(s[j]) {
		j++
	}
	if j == i {
		return bad("missing package name")
	}
	p.Name = s[i:j]
	i = skipSpace(s, j)
	if i < len(s) && s[i] == ':' {
		i = skipSpace(s, i+1)
		j = i
		for j < len(s) && isNameChar(s[j]) {
			j++
		}
		if j == i {
			return bad("missing architecture after ':'")
		}
		p.ArchQual = s[i:j]
		i = skipSpace(s, j)
	}
	if i < len(s) && s[i] == '(' {
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return bad("unclosed '('")
		}
		in := s[i+1 : i+end]
		i = skipSpace(s, i+end+1)
		k := skipSpace(in, 0)
		switch {
		case strings.HasPrefix(in[k:], "<<"):
			p.Op, k = OpLT, k+2
		case strings.HasPrefix(in[k:], "<="):
			p.Op, k = OpLE, k+2
		case strings.HasPrefix(in[k:], ">>"):
			p.Op, k = OpGT, k+2
		case strings.HasPrefix(in[k:], ">="):
			p.Op, k = OpGE, k+2
		case strings.HasPrefix(in[k:], "="):
			p.Op, k = OpEQ, k+1
		case strings.HasPrefix(in[k:], "<"):
			p.Op, k = OpLE, k+1 // obsolete: means <=
		case strings.HasPrefix(in[k:], ">"):
			p.Op, k = OpGE, k+1 // obsolete: means >=
		default:
			return bad("missing version operator")
		}
		vs := strings.TrimSpace(in[k:])
		v, err := ParseVersion(vs)
		if err != nil {
			return bad(fmt.Sprintf("version %q: %v", vs, err))
		}
		p.Version = v
	}
	if i < len(s) && s[i] == '[' {
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return bad("unclosed '['")
		}
		p.Archs = strings.Fields(s[i+1 : i+end])
		if len(p.Archs) == 0 {
			return bad("empty architecture list")
		}
		i = skipSpace(s, i+end+1)
	}
	for i < len(s) && s[i] == '<' {
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return bad("unclosed '<'")
		}
		g := strings.Fields(s[i+1 : i+end])
		if len(g) == 0 {
			return bad("empty build profile list")
		}
		p.Profiles = append(p.Profiles, g)
		i = skipSpace(s, i+end+1)
	}
	if i != len(s) {
		return bad(fmt.Sprintf("unexpected %q", s[i:]))
	}
	return p, nil
}

// ParseVersion parses a Debian version as dpkg does, also rejecting what
// pault.ag/go/debian/version lets through: an empty upstream version
// ("-1", "1:") or an empty revision ("1.0-").
func ParseVersion(s string) (version.Version, error) {
	v, err := version.Parse(s)
	if err != nil {
		return version.Version{}, err
	}
	if v.Version == "" {
		return version.Version{}, fmt.Errorf("version %q: empty upstream version", s)
	}
	if strings.HasSuffix(strings.TrimSpace(s), "-") {
		return version.Version{}, fmt.Errorf("version %q: empty revision", s)
	}
	return v, nil
}
