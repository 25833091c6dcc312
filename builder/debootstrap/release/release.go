package release

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Release is the parsed content of a Release (or the signed part of an
// InRelease) file.
type Release struct {
	Origin      string
	Label       string
	Suite       string
	Codename    string
	Version     string
	Description string
	// Date is when the archive generated the file, in UTC; zero if absent.
	Date time.Time
	// ValidUntil is the end of the file's validity, in UTC; zero if absent.
	ValidUntil    time.Time
	Architectures []string
	Components    []string
	// AcquireByHash reports "Acquire-By-Hash: yes".
	AcquireByHash bool
	// NoSupportForArchitectureAll holds the value of the
	// No-Support-for-Architecture-all field ("Packages" in modern Debian:
	// Architecture: all packages are listed in every binary-ARCH index
	// even though a binary-all index exists).
	NoSupportForArchitectureAll string

	fields map[string]string // every field, keyed by lower-case name
	files  map[string]*FileSum
}

// FileSum is what a Release file says about one index file. Sums are
// lower-case hex; an empty string means the Release file does not list that
// algorithm for the file.
type FileSum struct {
	Path string // relative to dists/CODENAME/, e.g. "main/binary-amd64/Packages.xz"
	Size int64  // bytes
	MD5  string
	SHA1 string
	// SHA256 is the preferred sum; archives older than etch do not list it.
	SHA256 string
}

// Best returns the name of the strongest listed algorithm ("SHA256",
// "SHA1" or "MD5Sum", as the Release field is spelled) and its hex sum.
func (f FileSum) Best() (algorithm, sum string) {
	switch {
	case f.SHA256 != "":
		return "SHA256", f.SHA256
	case f.SHA1 != "":
		return "SHA1", f.SHA1
	case f.MD5 != "":
		return "MD5Sum", f.MD5
	}
	return "", ""
}

// ParseError is a syntax or value error in a Release file.
type ParseError struct {
	Line  int    // 1-based line in the parsed text; 0 if not tied to a line
	Field string // field name, if known
	Err   error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("release: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "release: "))
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrSyntax is wrapped by ParseError for malformed deb822 text.
var ErrSyntax = errors.New("release: syntax error")

var dateLayouts = []string{
	time.RFC1123,                     // Mon, 02 Jan 2006 15:04:05 MST
	time.RFC1123Z,                    // Mon, 02 Jan 2006 15:04:05 -0700
	"Mon, 2 Jan 2006 15:04:05 MST",   // single-digit day
	"Mon, 2 Jan 2006 15:04:05 -0700", //
	"Mon, 02 Jan 2006 15:04:05 -0700 (MST)",
	"Mon, _2 Jan 2006 15:04:05 MST",
}

func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparseable date %q", s)
}

type field struct {
	name  string
	value string // first line after the colon, trimmed, then "\n"+continuation lines (trimmed)
	line  int
}

// Parse parses the text of a Release file. Text outside the first paragraph
// (a Release file has exactly one) is an error, as are malformed sum lines
// and conflicting sizes.
func Parse(data []byte) (*Release, error) {
	fields, err := parseParagraph(data)
	if err != nil {
		return nil, err
	}
	r := &Release{fields: make(map[string]string, len(fields)), files: make(map[string]*FileSum)}
	for _, f := range fields {
		key := strings.ToLower(f.name)
		if _, dup := r.fields[key]; dup {
			return nil, &ParseError{Line: f.line, Field: f.name, Err: fmt.Errorf("%w: duplicate field", ErrSyntax)}
		}
		r.fields[key] = f.value
		firstLine, _, _ := strings.Cut(f.value, "\n")
		switch key {
		case "origin":
			r.Origin = firstLine
		case "label":
			r.Label = firstLine
		case "suite":
			r.Suite = firstLine
		case "codename":
			r.Codename = firstLine
		case "version":
			r.Version = firstLine
		case "description":
			r.Description = firstLine
		case "date", "valid-until":
			if firstLine == "" {
				continue
			}
			t, err := parseDate(firstLine)
			if err != nil {
				return nil, &ParseError{Line: f.line, Field: f.name, Err: err}
			}
			if key == "date" {
				r.Date = t
			} else {
				r.ValidUntil = t
			}
		case "architectures":
			r.Architectures = strings.Fields(f.value)
		case "components":
			r.Components = strings.Fields(f.value)
		case "acquire-by-hash":
			r.AcquireByHash = strings.EqualFold(firstLine, "yes")
		case "no-support-for-architecture-all":
			r.NoSupportForArchitectureAll = firstLine
		case "md5sum", "sha1", "sha256":
			if err := r.parseSums(key, f); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

var hexLen = map[string]int{"md5sum": 32, "sha1": 40, "sha256": 64}

func (r *Release) parseSums(key string, f field) error {
	lines := strings.Split(f.value, "\n")
	for i, ln := range lines {
		if i == 0 {
			if ln != "" {
				return &ParseError{Line: f.line, Field: f.name, Err: fmt.Errorf("%w: unexpected value %q on the field line", ErrSyntax, ln)}
			}
			continue
		}
		lineNo := f.line + i
		parts := strings.Fields(ln)
		if len(parts) != 3 {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("%w: want \"SUM SIZE PATH\", got %q", ErrSyntax, ln)}
		}
		sum := strings.ToLower(parts[0])
		if len(sum) != hexLen[key] {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("%w: sum %q has %d hex digits, want %d", ErrSyntax, parts[0], len(sum), hexLen[key])}
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("%w: sum %q is not hex", ErrSyntax, parts[0])}
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("%w: bad size %q", ErrSyntax, parts[1])}
		}
		p := parts[2]
		fs, ok := r.files[p]
		if !ok {
			fs = &FileSum{Path: p, Size: size}
			r.files[p] = fs
		} else if fs.Size != size {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("size %d of %s conflicts with size %d listed earlier", size, p, fs.Size)}
		}
		var dst *string
		switch key {
		case "md5sum":
			dst = &fs.MD5
		case "sha1":
			dst = &fs.SHA1
		case "sha256":
			dst = &fs.SHA256
		}
		if *dst != "" && *dst != sum {
			return &ParseError{Line: lineNo, Field: f.name, Err: fmt.Errorf("%s listed twice with different sums", p)}
		}
		*dst = sum
	}
	return nil
}

// parseParagraph splits one deb822 paragraph into fields. Leading blank
// lines and comment lines are skipped; a second paragraph is an error.
func parseParagraph(data []byte) ([]field, error) {
	var fields []field
	started, ended := false, false
	lineNo := 0
	// The value of the last field, built in one buffer: a Release file's
	// checksum lists have thousands of lines.
	var value []byte
	flush := func() {
		if len(fields) > 0 {
			fields[len(fields)-1].value = string(value)
		}
	}
	for len(data) > 0 {
		var ln []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			ln, data = data[:i], data[i+1:]
		} else {
			ln, data = data, nil
		}
		lineNo++
		ln = bytes.TrimRight(ln, " \t\r")
		if len(ln) == 0 {
			if started {
				ended = true
			}
			continue
		}
		if ln[0] == '#' {
			continue
		}
		if ended {
			return nil, &ParseError{Line: lineNo, Err: fmt.Errorf("%w: a Release file has one paragraph; found text after a blank line", ErrSyntax)}
		}
		if ln[0] == ' ' || ln[0] == '\t' {
			if len(fields) == 0 {
				return nil, &ParseError{Line: lineNo, Err: fmt.Errorf("%w: continuation line before any field", ErrSyntax)}
			}
			value = append(value, '\n')
			value = append(value, bytes.TrimSpace(ln)...)
			continue
		}
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return nil, &ParseError{Line: lineNo, Err: fmt.Errorf("%w: want \"Field: value\", got %q", ErrSyntax, truncate(ln))}
		}
		name := string(ln[:colon])
		if strings.ContainsAny(name, " \t") {
			return nil, &ParseError{Line: lineNo, Err: fmt.Errorf("%w: field name %q contains white space", ErrSyntax, name)}
		}
		started = true
		flush()
		fields = append(fields, field{name: name, line: lineNo})
		value = append(value[:0], bytes.TrimSpace(ln[colon+1:])...)
	}
	flush()
	if len(fields) == 0 {
		return nil, &ParseError{Err: fmt.Errorf("%w: no fields", ErrSyntax)}
	}
	return fields, nil
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// Field returns the raw value of a field (case-insensitive name); lines of
// a multi-line value are joined by "\n", the first being the text after the
// colon.
func (r *Release) Field(name string) (string, bool) {
	v, ok := r.fields[strings.ToLower(name)]
	return v, ok
}

// Lookup returns the sums listed for path (relative to dists/CODENAME/).
func (r *Release) Lookup(path string) (FileSum, bool) {
	f, ok := r.files[path]
	if !ok {
		return FileSum{}, false
	}
	return *f, true
}

// Files returns every listed file, sorted by path.
func (r *Release) Files() []FileSum {
	out := make([]FileSum, 0, len(r.files))
	for _, f := range r.files {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b FileSum) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// HasArchitecture reports whether arch is in Architectures.
func (r *Release) HasArchitecture(arch string) bool { return slices.Contains(r.Architectures, arch) }

// HasComponent reports whether comp is in Components. Security archives
// list "updates/main"; a bare "main" matches it too.
func (r *Release) HasComponent(comp string) bool {
	for _, c := range r.Components {
		if c == comp || strings.TrimPrefix(c, "updates/") == comp {
			return true
		}
	}
	return false
}
