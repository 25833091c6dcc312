package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"pault.ag/go/debian/version"
)

// Package is a binary package paragraph from a Packages index (or a
// DEBIAN/control file, or a status entry) with the fields a debootstrap
// needs parsed. Paragraph keeps every field, in order.
type Package struct {
	Name          string
	Version       version.Version
	Architecture  string // "amd64", "all", ...
	MultiArch     string // "", "same", "foreign", "allowed", "no"
	Priority      string // "required", "important", "standard", "optional", "extra"
	Essential     bool
	Section       string
	Source        string // source package name ("" means Name)
	Depends       Relations
	PreDepends    Relations
	Provides      Relations // single possibilities, possibly "(= version)"
	Conflicts     Relations
	Breaks        Relations
	Filename      string // pool path relative to the mirror root
	Size          int64  // .deb size in bytes
	MD5sum        string // hex
	SHA1          string // hex
	SHA256        string // hex
	InstalledSize int64  // KiB, as in the Installed-Size field
	Paragraph     Paragraph
}

// ParsePackage parses the fields of a binary package paragraph. Package,
// Version and Architecture are required; everything else is optional.
func ParsePackage(p Paragraph) (Package, error) {
	pkg := Package{Paragraph: p}
	var haveVersion bool
	for _, f := range p.Fields {
		if err := pkg.setField(f.Name, f.Value, &haveVersion); err != nil {
			return Package{}, &ParseError{File: p.File, Line: f.Line, Field: f.Name, Err: err}
		}
	}
	switch {
	case pkg.Name == "":
		return Package{}, &ParseError{File: p.File, Line: p.Line, Field: "Package", Err: ErrMissing}
	case !haveVersion:
		return Package{}, &ParseError{File: p.File, Line: p.Line, Field: "Version", Err: fmt.Errorf("%w (package %s)", ErrMissing, pkg.Name)}
	case pkg.Architecture == "":
		return Package{}, &ParseError{File: p.File, Line: p.Line, Field: "Architecture", Err: fmt.Errorf("%w (package %s)", ErrMissing, pkg.Name)}
	}
	return pkg, nil
}

func (pkg *Package) setField(name, v string, haveVersion *bool) error {
	var err error
	switch name {
	case "Package":
		pkg.Name = v
	case "Version":
		pkg.Version, err = ParseVersion(v)
		*haveVersion = true
	case "Architecture":
		pkg.Architecture = v
	case "Multi-Arch":
		pkg.MultiArch = v
	case "Priority":
		pkg.Priority = v
	case "Essential":
		switch v {
		case "yes":
			pkg.Essential = true
		case "no":
		default:
			err = fmt.Errorf("%w: %q is not yes or no", ErrValue, v)
		}
	case "Section":
		pkg.Section = v
	case "Source":
		pkg.Source = v
	case "Depends":
		pkg.Depends, err = ParseRelations(v)
	case "Pre-Depends":
		pkg.PreDepends, err = ParseRelations(v)
	case "Provides":
		pkg.Provides, err = ParseRelations(v)
	case "Conflicts":
		pkg.Conflicts, err = ParseRelations(v)
	case "Breaks":
		pkg.Breaks, err = ParseRelations(v)
	case "Filename":
		pkg.Filename = v
	case "Size":
		pkg.Size, err = parseSize(v)
	case "MD5sum", "MD5Sum":
		pkg.MD5sum = v
	case "SHA1":
		pkg.SHA1 = v
	case "SHA256":
		pkg.SHA256 = v
	case "Installed-Size":
		pkg.InstalledSize, err = parseSize(v)
	default:
		// Field names are case-insensitive; canonical spellings are
		// handled above without allocating.
		if c := canonical(name); c != "" && c != name {
			return pkg.setField(c, v, haveVersion)
		}
	}
	return err
}

var canonicalNames = map[string]string{}

func init() {
	for _, n := range []string{"Package", "Version", "Architecture", "Multi-Arch", "Priority",
		"Essential", "Section", "Source", "Depends", "Pre-Depends", "Provides", "Conflicts",
		"Breaks", "Filename", "Size", "MD5sum", "SHA1", "SHA256", "Installed-Size"} {
		canonicalNames[strings.ToLower(n)] = n
	}
}

func canonical(name string) string { return canonicalNames[strings.ToLower(name)] }

func parseSize(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q is not a size", ErrValue, v)
	}
	return n, nil
}

// SourceName returns the source package name without a "(version)".
func (pkg *Package) SourceName() string {
	if pkg.Source == "" {
		return pkg.Name
	}
	if i := strings.IndexByte(pkg.Source, ' '); i >= 0 {
		return pkg.Source[:i]
	}
	return pkg.Source
}

// ParsePackages parses a whole Packages index; name is used in errors.
func ParsePackages(name string, r io.Reader) ([]Package, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return ParsePackagesBytes(name, data)
}

// ParsePackagesBytes parses a whole Packages index held in memory.
func ParsePackagesBytes(name string, data []byte) ([]Package, error) {
	paras, err := ParseBytes(name, data)
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, len(paras))
	for i, p := range paras {
		if pkgs[i], err = ParsePackage(p); err != nil {
			return nil, err
		}
	}
	return pkgs, nil
}
