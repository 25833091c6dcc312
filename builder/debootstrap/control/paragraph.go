package control

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Field is one "Name: value" entry of a paragraph.
type Field struct {
	Name  string // as spelled in the input
	Value string // see the package doc for multi-line values
	Line  int    // 1-based line of the field name
}

// Lines returns the value split into lines with surrounding whitespace
// removed and empty lines dropped: the entries of a multi-line field such
// as Release's SHA256 or Sources' Files.
func (f Field) Lines() []string {
	var out []string
	for _, l := range strings.Split(f.Value, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Paragraph is one deb822 stanza, fields in input order.
type Paragraph struct {
	File   string // file name given to the parser ("" if none)
	Line   int    // 1-based line of the first field
	Fields []Field
}

// Lookup returns the field named name (compared case-insensitively, as
// field names are).
func (p Paragraph) Lookup(name string) (Field, bool) {
	for _, f := range p.Fields {
		if f.Name == name || strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

// Get returns the value of the field named name, or "" if absent.
func (p Paragraph) Get(name string) string {
	f, _ := p.Lookup(name)
	return f.Value
}

// Has reports whether the paragraph has a field named name.
func (p Paragraph) Has(name string) bool {
	_, ok := p.Lookup(name)
	return ok
}

// Set replaces the value of field name, or appends the field. The
// receiver's Fields slice is copied first, so paragraphs sharing a parse
// buffer are not affected.
func (p *Paragraph) Set(name, value string) {
	fs := make([]Field, len(p.Fields), len(p.Fields)+1)
	copy(fs, p.Fields)
	p.Fields = fs
	for i := range p.Fields {
		if strings.EqualFold(p.Fields[i].Name, name) {
			p.Fields[i].Value = value
			return
		}
	}
	p.Fields = append(p.Fields, Field{Name: name, Value: value})
}

// Delete removes field name if present (copying Fields, like Set).
func (p *Paragraph) Delete(name string) {
	fs := make([]Field, 0, len(p.Fields))
	for _, f := range p.Fields {
		if !strings.EqualFold(f.Name, name) {
			fs = append(fs, f)
		}
	}
	p.Fields = fs
}

// Parse reads every paragraph of r.
func Parse(r io.Reader) ([]Paragraph, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading control data: %w", err)
	}
	return ParseString("", string(data))
}

// ParseBytes parses data; name is used in errors and Paragraph.File.
func ParseBytes(name string, data []byte) ([]Paragraph, error) {
	return ParseString(name, string(data))
}

// ParseString parses s without copying it: values are substrings of s.
func ParseString(name, s string) ([]Paragraph, error) {
	return parseString(name, s, 0, 4096, strings.Count(s, "\n\n")+1)
}

// parseString parses s, whose first line is line lineBase+1 of file name.
// Fields live in chunks of chunk fields: a paragraph's fields are a
// sub-slice of one chunk, and a full chunk is never reallocated, so growth
// copies at most one paragraph's fields. nparas sizes the result.
func parseString(name, s string, lineBase, chunk, nparas int) ([]Paragraph, error) {
	arena := make([]Field, 0, chunk)
	paras := make([]Paragraph, 0, nparas)

	start := 0 // index in arena of the current paragraph's first field
	line := lineBase
	cur := -1     // index in arena of the field receiving continuation lines
	curStart := 0 // start offset in s of cur's value
	curEnd := 0   // end offset in s of cur's value
	// A comment line inside a multi-line value breaks the zero-copy
	// substring; such values are assembled in joined instead.
	var joined strings.Builder
	broken := false
	finishField := func() {
		if cur >= 0 {
			if broken {
				arena[cur].Value = cleanValue(joined.String())
				broken = false
			} else {
				arena[cur].Value = cleanValue(s[curStart:curEnd])
			}
			cur = -1
		}
	}
	finishPara := func() {
		finishField()
		if len(arena) > start {
			fs := arena[start:len(arena):len(arena)]
			paras = append(paras, Paragraph{File: name, Line: fs[0].Line, Fields: fs})
			start = len(arena)
		}
	}
	for pos := 0; pos < len(s); {
		end := strings.IndexByte(s[pos:], '\n')
		next := 0
		if end < 0 {
			end = len(s)
			next = len(s)
		} else {
			end += pos
			next = end + 1
		}
		l := s[pos:end]
		lineStart := pos
		pos = next
		line++
		if isBlank(l) {
			finishPara()
			continue
		}
		switch c := l[0]; {
		case c == '#':
			if cur >= 0 && !broken {
				joined.Reset()
				joined.WriteString(s[curStart:curEnd])
				broken = true
			}
			continue
		case c == ' ' || c == '\t':
			if cur < 0 {
				return nil, &ParseError{File: name, Line: line, Err: ErrContinuation}
			}
			if broken {
				joined.WriteByte('\n')
				joined.WriteString(l)
			} else {
				curEnd = end
			}
			continue
		}
		colon := strings.IndexByte(l, ':')
		if colon < 0 {
			return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("%w: %q", ErrNoColon, clip(l))}
		}
		fname := l[:colon]
		if !validName(fname) {
			return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("%w: %q", ErrFieldName, clip(fname))}
		}
		for i := start; i < len(arena); i++ {
			if arena[i].Name == fname || strings.EqualFold(arena[i].Name, fname) {
				return nil, &ParseError{File: name, Line: line, Field: fname,
					Err: fmt.Errorf("%w (first on line %d)", ErrDuplicate, arena[i].Line)}
			}
		}
		finishField()
		v := colon + 1
		for v < len(l) && (l[v] == ' ' || l[v] == '\t') {
			v++
		}
		if len(arena) == cap(arena) {
			n := make([]Field, len(arena)-start, chunk+len(arena)-start)
			copy(n, arena[start:])
			arena, start = n, 0
		}
		arena = append(arena, Field{Name: fname, Line: line})
		cur = len(arena) - 1
		curStart, curEnd = lineStart+v, end
	}
	finishPara()
	return paras, nil
}

func isBlank(l string) bool {
	for i := 0; i < len(l); i++ {
		if c := l[i]; c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// validName: deb822 field names are printable US-ASCII except ':' and
// space, and must not start with '#' or '-'.
func validName(n string) bool {
	if n == "" || n[0] == '-' || n[0] == '#' {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func cleanValue(v string) string {
	v = strings.TrimRight(v, " \t\r\n")
	if strings.IndexByte(v, '\r') >= 0 {
		// CRLF input: drop trailing whitespace (and so the CR) of every
		// line; the common LF-only case stays a zero-copy substring.
		lines := strings.Split(v, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " \t\r")
		}
		v = strings.Join(lines, "\n")
	}
	return v
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Write writes paragraphs in deb822 form, separated by blank lines, fields
// in their order. It is the inverse of Parse for every value Parse returns.
func Write(w io.Writer, paras []Paragraph) error {
	var b bytes.Buffer
	for i, p := range paras {
		if i > 0 {
			b.WriteByte('\n')
		}
		if err := p.appendTo(&b); err != nil {
			return err
		}
		if b.Len() > 1<<16 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return fmt.Errorf("writing control data: %w", err)
			}
			b.Reset()
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing control data: %w", err)
	}
	return nil
}

// String returns the paragraph in deb822 form, ending in "\n". Invalid
// field names or values are written as they are.
func (p Paragraph) String() string {
	var b bytes.Buffer
	for _, f := range p.Fields {
		writeField(&b, f)
	}
	return b.String()
}

func (p Paragraph) appendTo(b *bytes.Buffer) error {
	for _, f := range p.Fields {
		if !validName(f.Name) {
			return &ParseError{File: p.File, Line: f.Line, Field: f.Name, Err: ErrFieldName}
		}
		if err := checkValue(f.Value); err != nil {
			return &ParseError{File: p.File, Line: f.Line, Field: f.Name, Err: err}
		}
		writeField(b, f)
	}
	return nil
}

// checkValue rejects values that would not read back unchanged: a
// continuation line must start with a space or tab and must not be blank.
func checkValue(v string) error {
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		if i == 0 {
			continue
		}
		if l == "" || (l[0] != ' ' && l[0] != '\t') || isBlank(l) {
			return fmt.Errorf("%w: continuation line %d is empty or not indented", ErrValue, i)
		}
	}
	return nil
}

func writeField(b *bytes.Buffer, f Field) {
	b.WriteString(f.Name)
	b.WriteByte(':')
	if f.Value != "" && f.Value[0] != '\n' {
		b.WriteByte(' ')
	}
	b.WriteString(f.Value)
	b.WriteByte('\n')
}
