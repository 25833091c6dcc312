package control

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Index is a Packages index held in memory, scanned only for the fields
// that select packages: Package, Version, Architecture, Priority and
// Provides. Package(i) parses the whole paragraph i on demand, so a
// resolver that looks at a few hundred of 60,000 packages parses only
// those. An Index holds the index text once; its strings are substrings
// of it.
//
// Scanning checks the deb822 syntax of every line, that every paragraph
// has Package, Version and Architecture, and that none of the five
// scanned fields appears twice in a paragraph. Everything else (duplicate
// other fields, version syntax, relations, sizes) is checked by Package,
// for the paragraphs it is asked for.
//
// An Index is safe for concurrent use once built.
type Index struct {
	File  string // file name given to the scanner, used in errors
	data  string
	extra string // scanned values that are not substrings of data
	ents  []entry
}

// span locates a value: in data, or in extra when off has extraBit set.
type span struct{ off, n uint32 }

const (
	extraBit = 1 << 31
	// maxIndexLen keeps every offset below extraBit.
	maxIndexLen = extraBit - 1
)

// Scanned fields, as indexes into entry.vals.
const (
	fPackage = iota
	fVersion
	fArch
	fPriority
	fProvides
	nScanned
)

var scannedNames = [nScanned]string{"Package", "Version", "Architecture", "Priority", "Provides"}

// entry is one paragraph: no pointers, so the garbage collector never
// scans the entries of a large index.
type entry struct {
	para span   // from the first field's line to the end of the paragraph
	line uint32 // 1-based line of the first field
	vals [nScanned]span
}

// ErrTooLarge is returned for an index of 2 GiB or more.
var ErrTooLarge = errors.New("control: index too large")

// Len returns the number of paragraphs.
func (ix *Index) Len() int { return len(ix.ents) }

func (ix *Index) str(s span) string {
	if s.off&extraBit != 0 {
		o := s.off &^ extraBit
		return ix.extra[o : o+s.n]
	}
	return ix.data[s.off : s.off+s.n]
}

// Name returns paragraph i's Package field.
func (ix *Index) Name(i int) string { return ix.str(ix.ents[i].vals[fPackage]) }

// Version returns paragraph i's Version field, unparsed.
func (ix *Index) Version(i int) string { return ix.str(ix.ents[i].vals[fVersion]) }

// Architecture returns paragraph i's Architecture field.
func (ix *Index) Architecture(i int) string { return ix.str(ix.ents[i].vals[fArch]) }

// Priority returns paragraph i's Priority field, "" if absent.
func (ix *Index) Priority(i int) string { return ix.str(ix.ents[i].vals[fPriority]) }

// Provides returns paragraph i's Provides field, unparsed, "" if absent.
func (ix *Index) Provides(i int) string { return ix.str(ix.ents[i].vals[fProvides]) }

// Line returns the 1-based line of paragraph i's first field.
func (ix *Index) Line(i int) int { return int(ix.ents[i].line) }

// Paragraph parses paragraph i. Its values are substrings of the index.
func (ix *Index) Paragraph(i int) (Paragraph, error) {
	e := &ix.ents[i]
	text := ix.data[e.para.off : e.para.off+e.para.n]
	ps, err := parseString(ix.File, text, int(e.line)-1, 32, 1)
	if err != nil {
		return Paragraph{}, err
	}
	if len(ps) != 1 {
		return Paragraph{}, &ParseError{File: ix.File, Line: int(e.line), Err: fmt.Errorf("control: index paragraph %d parses as %d paragraphs", i, len(ps))}
	}
	return ps[0], nil
}

// Package parses paragraph i as ParsePackage does.
func (ix *Index) Package(i int) (*Package, error) {
	p, err := ix.Paragraph(i)
	if err != nil {
		return nil, err
	}
	pkg, err := ParsePackage(p)
	if err != nil {
		return nil, err
	}
	return &pkg, nil
}

// ScanPackages scans a whole Packages index held in memory; name is used
// in errors. The Index keeps data, which must not be changed afterwards.
func ScanPackages(name string, data []byte) (*Index, error) {
	s := NewIndexScanner(name, len(data))
	if err := s.Scan(data, true); err != nil {
		return nil, err
	}
	return s.Index()
}

// IndexScanner builds an Index from an index that arrives in pieces, for
// scanning while the rest is still being decompressed. Each call to Scan
// gets all the data so far: the data of the previous call followed by
// more. Only complete lines are scanned until the final call.
type IndexScanner struct {
	name string
	data []byte // the latest data given to Scan
	pos  int    // offset of the next line to scan
	line int    // lines scanned
	ents []entry
	xtra []byte
	err  error
	done bool

	// The paragraph being scanned.
	inPara    bool
	cur       entry
	seen      [nScanned]uint32 // line of each scanned field, 0 if not seen
	field     int              // scanned field taking continuation lines, -1 if none
	valStart  int
	valEnd    int
	broken    bool // a comment line interrupted field's value
	joined    []byte
	lastBreak int // offset after the paragraph's last line
}

// NewIndexScanner returns a scanner; sizeHint, the expected size of the
// index in bytes (0 if unknown), only presizes its tables.
func NewIndexScanner(name string, sizeHint int) *IndexScanner {
	return &IndexScanner{name: name, field: -1, ents: make([]entry, 0, sizeHint/700+1)}
}

// Scan scans the complete lines of data not yet scanned, and with final
// also the last line and paragraph. data must start with the data of the
// previous call (the backing array may differ).
func (s *IndexScanner) Scan(data []byte, final bool) error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		return errors.New("control: IndexScanner.Scan called after the final data")
	}
	if len(data) < len(s.data) {
		s.err = errors.New("control: IndexScanner.Scan got less data than before")
		return s.err
	}
	if len(data) > maxIndexLen {
		s.err = fmt.Errorf("%w: %s has %d bytes", ErrTooLarge, s.name, len(data))
		return s.err
	}
	s.data = data
	pos := s.pos
	for pos < len(data) {
		end := bytes.IndexByte(data[pos:], '\n')
		next := 0
		if end < 0 {
			if !final {
				break
			}
			end, next = len(data), len(data)
		} else {
			end += pos
			next = end + 1
		}
		s.line++
		if err := s.scanLine(pos, end, next); err != nil {
			s.err = err
			return err
		}
		pos = next
	}
	s.pos = pos
	if final {
		if err := s.finishPara(); err != nil {
			s.err = err
			return err
		}
		s.done = true
	}
	return nil
}

// Partial returns an index of the paragraphs scanned so far, for work
// that can start before the end (its paragraphs are those of the final
// index, which only adds more).
func (s *IndexScanner) Partial() *Index {
	return &Index{File: s.name, data: unsafeString(s.data), extra: unsafeString(s.xtra), ents: s.ents[:len(s.ents):len(s.ents)]}
}

// unsafeString makes a string of b without copying. The scanner's buffers
// are only ever appended to, so the bytes such a string covers never
// change.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Index returns the index after the final Scan.
func (s *IndexScanner) Index() (*Index, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.done {
		return nil, errors.New("control: IndexScanner.Index called before the final Scan")
	}
	return &Index{File: s.name, data: unsafeString(s.data), extra: string(s.xtra), ents: s.ents}, nil
}

// scanLine handles data[start:end], the line's end of line ending at next.
func (s *IndexScanner) scanLine(start, end, next int) error {
	d := s.data
	if start == end {
		return s.finishPara()
	}
	switch c := d[start]; c {
	case ' ', '\t', '\r':
		if blank(d[start:end]) {
			return s.finishPara()
		}
		if c == '\r' {
			break // a field name cannot start with '\r': reported below
		}
		if !s.inPara {
			return &ParseError{File: s.name, Line: s.line, Err: ErrContinuation}
		}
		if s.field >= 0 {
			if s.broken {
				s.joined = append(s.joined, '\n')
				s.joined = append(s.joined, d[start:end]...)
			} else {
				s.valEnd = end
			}
		}
		s.lastBreak = next
		return nil
	case '#':
		if s.field >= 0 && !s.broken {
			s.joined = append(s.joined[:0], d[s.valStart:s.valEnd]...)
			s.broken = true
		}
		if s.inPara {
			s.lastBreak = next
		}
		return nil
	}
	line := d[start:end]
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return &ParseError{File: s.name, Line: s.line, Err: fmt.Errorf("%w: %q", ErrNoColon, clip(string(line)))}
	}
	fname := line[:colon]
	if !validNameBytes(fname) {
		return &ParseError{File: s.name, Line: s.line, Err: fmt.Errorf("%w: %q", ErrFieldName, clip(string(fname)))}
	}
	s.finishField()
	if !s.inPara {
		s.inPara = true
		s.cur = entry{line: uint32(s.line)}
		s.cur.para.off = uint32(start)
	}
	s.lastBreak = next
	f := scannedField(fname)
	if f < 0 {
		return nil
	}
	if first := s.seen[f]; first != 0 {
		return &ParseError{File: s.name, Line: s.line, Field: string(fname),
			Err: fmt.Errorf("%w (first on line %d)", ErrDuplicate, first)}
	}
	s.seen[f] = uint32(s.line)
	v := colon + 1
	for v < len(line) && (line[v] == ' ' || line[v] == '\t') {
		v++
	}
	s.field, s.valStart, s.valEnd = f, start+v, end
	return nil
}

func blank(l []byte) bool {
	for _, c := range l {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func validNameBytes(n []byte) bool {
	if len(n) == 0 || n[0] == '-' || n[0] == '#' {
		return false
	}
	for _, c := range n {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// scannedField returns the scanned field named n (case-insensitively), or
// -1.
func scannedField(n []byte) int {
	switch string(n) { // no allocation: the compiler compares in place
	case "Package":
		return fPackage
	case "Version":
		return fVersion
	case "Architecture":
		return fArch
	case "Priority":
		return fPriority
	case "Provides":
		return fProvides
	}
	switch len(n) {
	case 7, 8, 12:
		for i, name := range scannedNames {
			if len(name) == len(n) && strings.EqualFold(name, string(n)) {
				return i
			}
		}
	}
	return -1
}

// finishField stores the value of the scanned field being read, cleaned
// as ParseString cleans values.
func (s *IndexScanner) finishField() {
	if s.field < 0 {
		return
	}
	var sp span
	if s.broken {
		sp = s.addExtra(cleanValue(string(s.joined)))
		s.broken = false
	} else {
		v := trimRight(s.data[s.valStart:s.valEnd])
		if bytes.IndexByte(v, '\r') >= 0 {
			sp = s.addExtra(cleanValue(string(v)))
		} else {
			sp = span{off: uint32(s.valStart), n: uint32(len(v))}
		}
	}
	s.cur.vals[s.field] = sp
	s.field = -1
}

func trimRight(v []byte) []byte {
	for len(v) > 0 {
		switch v[len(v)-1] {
		case ' ', '\t', '\r', '\n':
			v = v[:len(v)-1]
			continue
		}
		break
	}
	return v
}

func (s *IndexScanner) addExtra(v string) span {
	sp := span{off: uint32(len(s.xtra)) | extraBit, n: uint32(len(v))}
	s.xtra = append(s.xtra, v...)
	return sp
}

func (s *IndexScanner) finishPara() error {
	if !s.inPara {
		return nil
	}
	s.finishField()
	s.inPara = false
	e := s.cur
	e.para.n = uint32(s.lastBreak) - e.para.off
	line := int(e.line)
	// A Version field with an empty value is a bad version, left for
	// Package to report; only a missing one is an error here.
	haveVersion := s.seen[fVersion] != 0
	s.seen = [nScanned]uint32{}
	switch {
	case e.vals[fPackage].n == 0:
		return &ParseError{File: s.name, Line: line, Field: "Package", Err: ErrMissing}
	case !haveVersion:
		return &ParseError{File: s.name, Line: line, Field: "Version", Err: fmt.Errorf("%w (package %s)", ErrMissing, s.value(e.vals[fPackage]))}
	case e.vals[fArch].n == 0:
		return &ParseError{File: s.name, Line: line, Field: "Architecture", Err: fmt.Errorf("%w (package %s)", ErrMissing, s.value(e.vals[fPackage]))}
	}
	s.ents = append(s.ents, e)
	return nil
}

func (s *IndexScanner) value(sp span) string {
	if sp.off&extraBit != 0 {
		o := sp.off &^ extraBit
		return string(s.xtra[o : o+sp.n])
	}
	return string(s.data[sp.off : sp.off+sp.n])
}
