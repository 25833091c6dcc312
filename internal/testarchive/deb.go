package testarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5" //nolint:gosec // md5sums is part of the .deb format.
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Style selects the archive and .deb format generation.
type Style int

const (
	// Modern is today's format: InRelease + Release + Release.gpg with
	// MD5Sum and SHA256, Packages.xz and .gz, control.tar.xz and
	// data.tar.xz, Multi-Arch where a package sets it.
	Modern Style = iota
	// Sarge is Debian 3.1's format: Release + Release.gpg (no InRelease)
	// with MD5Sum only, Packages.gz, control.tar.gz and data.tar.gz.
	Sarge
)

func (s Style) String() string {
	switch s {
	case Modern:
		return "modern"
	case Sarge:
		return "sarge"
	}
	return fmt.Sprintf("Style(%d)", int(s))
}

// Default modification times for files that set none: the release dates
// of sarge (3.1r0) and of bookworm 12.5.
var (
	SargeEpoch  = time.Date(2005, 6, 6, 0, 0, 0, 0, time.UTC)
	ModernEpoch = time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC)
)

// Package is one binary package. Relation fields are written verbatim (a
// test may put obsolete or malformed relations in them).
type Package struct {
	Name, Version, Arch, Section, Priority, Source string
	Essential                                      bool
	Depends, PreDepends, Recommends, Suggests      string
	Provides, Conflicts, Breaks, Replaces          string
	MultiArch                                      string
	// Maintainer defaults to a test address.
	Maintainer string
	// Description is the synopsis, then optional long lines separated by
	// "\n". Empty: "<name> (test package)".
	Description string
	// Component is the archive component (default: the archive's first).
	Component string
	Files     []File
	// Conffiles are absolute paths ("/etc/foo"), listed in control.tar.
	Conffiles []string
	// Scripts maps maintainer script names (preinst, postinst, prerm,
	// postrm, config) to their text; they are stored with mode 0755.
	Scripts map[string]string
	// ControlCompression and DataCompression are "gz", "xz", "zst" or
	// "none"; empty means the style's default (sarge gz, modern xz).
	ControlCompression, DataCompression string
	// ModTime is the default for files without one, and the ar member
	// time. Zero: SargeEpoch or ModernEpoch.
	ModTime time.Time
	// RawPaths writes each File's Path and Linkname exactly as given and
	// adds no parent directories, so tests can build hostile .debs
	// (entries with "../" or absolute names).
	RawPaths bool
}

// File is one data.tar entry.
type File struct {
	Path     string // absolute ("/usr/bin/x") or relative to the root
	Mode     int64  // permission bits (and setuid etc.); 0: 0644 files, 0755 dirs, 0777 links
	Type     byte   // tar typeflag; 0 means a regular file (tar.TypeReg)
	Body     []byte // regular file contents
	Linkname string // symlink target, or hard link target path
	Uid, Gid int
	Devmajor int64
	Devminor int64
	ModTime  time.Time
}

func (s Style) epoch() time.Time {
	if s == Sarge {
		return SargeEpoch
	}
	return ModernEpoch
}

func (s Style) defaultCompression() string {
	if s == Sarge {
		return "gz"
	}
	return "xz"
}

// debName returns ./path for a package path.
func debName(p string) string {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimPrefix(p, "./")
	return "./" + p
}

// pathLess orders paths component by component, so a directory comes
// right before its contents.
func pathLess(a, b string) bool {
	as, bs := strings.Split(strings.Trim(a, "/"), "/"), strings.Split(strings.Trim(b, "/"), "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] != bs[i] {
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

// dataEntries returns the data.tar entries of p: its files plus the
// parent directories they imply, in tree order.
func dataEntries(p Package, style Style) ([]File, error) {
	def := p.ModTime
	if def.IsZero() {
		def = style.epoch()
	}
	var out []File
	seen := map[string]bool{}
	for _, f := range p.Files {
		if f.Type == 0 {
			f.Type = tar.TypeReg
		}
		if f.ModTime.IsZero() {
			f.ModTime = def
		}
		if f.Mode == 0 {
			switch f.Type {
			case tar.TypeDir:
				f.Mode = 0o755
			case tar.TypeSymlink:
				f.Mode = 0o777
			default:
				f.Mode = 0o644
			}
		}
		if !p.RawPaths {
			clean := path.Clean("/" + strings.TrimPrefix(f.Path, "./"))
			if clean == "/" && f.Type != tar.TypeDir {
				return nil, fmt.Errorf("package %s: file with empty path", p.Name)
			}
			if seen[clean] {
				return nil, fmt.Errorf("package %s: duplicate path %s", p.Name, clean)
			}
			seen[clean] = true
			f.Path = clean
			if f.Type == tar.TypeLink {
				f.Linkname = path.Clean("/" + strings.TrimPrefix(f.Linkname, "./"))
			}
		}
		out = append(out, f)
	}
	if p.RawPaths {
		return out, nil
	}
	for _, f := range append([]File(nil), out...) {
		for d := path.Dir(f.Path); ; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				out = append(out, File{Path: d, Type: tar.TypeDir, Mode: 0o755, ModTime: def})
			}
			if d == "/" {
				break
			}
		}
	}
	if !seen["/"] {
		out = append(out, File{Path: "/", Type: tar.TypeDir, Mode: 0o755, ModTime: def})
	}
	sort.SliceStable(out, func(i, j int) bool { return pathLess(out[i].Path, out[j].Path) })
	return linksAfterTargets(out), nil
}

// linksAfterTargets moves each hard link right after its target when tree
// order would put it first: tar extraction needs the target to exist.
func linksAfterTargets(in []File) []File {
	present := map[string]bool{}
	for _, f := range in {
		present[f.Path] = true
	}
	out := make([]File, 0, len(in))
	done := map[string]bool{}
	waiting := map[string][]File{}
	var emit func(f File)
	emit = func(f File) {
		out = append(out, f)
		done[f.Path] = true
		ws := waiting[f.Path]
		delete(waiting, f.Path)
		for _, w := range ws {
			emit(w)
		}
	}
	for _, f := range in {
		if f.Type == tar.TypeLink && present[f.Linkname] && !done[f.Linkname] {
			waiting[f.Linkname] = append(waiting[f.Linkname], f)
			continue
		}
		emit(f)
	}
	// Links whose target never came (cycles): keep them, in order.
	for _, f := range in {
		if !done[f.Path] {
			out = append(out, f)
			done[f.Path] = true
		}
	}
	return out
}

func tarName(f File, raw bool) string {
	if raw {
		return f.Path
	}
	if f.Path == "/" {
		return "./"
	}
	n := debName(f.Path)
	if f.Type == tar.TypeDir {
		n += "/"
	}
	return n
}

// BuildDeb returns a .deb (ar: debian-binary, control.tar.*, data.tar.*)
// that dpkg-deb accepts. Same package, same bytes.
func BuildDeb(p Package, style Style) ([]byte, error) {
	deb, _, err := buildDeb(p, style)
	return deb, err
}

// buildDeb also returns the control paragraph (for Packages).
func buildDeb(p Package, style Style) ([]byte, []field, error) {
	if p.Name == "" || p.Version == "" || p.Arch == "" {
		return nil, nil, fmt.Errorf("testarchive: package %q %q %q: name, version and arch are required", p.Name, p.Version, p.Arch)
	}
	entries, err := dataEntries(p, style)
	if err != nil {
		return nil, nil, err
	}
	mt := p.ModTime
	if mt.IsZero() {
		mt = style.epoch()
	}

	// data.tar and md5sums
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	var md5sums strings.Builder
	var installed int64
	for _, f := range entries {
		hdr := &tar.Header{
			Typeflag: f.Type,
			Name:     tarName(f, p.RawPaths),
			Mode:     f.Mode,
			Uid:      f.Uid,
			Gid:      f.Gid,
			Uname:    "root",
			Gname:    "root",
			ModTime:  f.ModTime,
			Devmajor: f.Devmajor,
			Devminor: f.Devminor,
			Format:   tar.FormatGNU,
		}
		switch f.Type {
		case tar.TypeReg:
			hdr.Size = int64(len(f.Body))
			installed += (hdr.Size + 1023) / 1024
			if !p.RawPaths {
				fmt.Fprintf(&md5sums, "%x  %s\n", md5.Sum(f.Body), strings.TrimPrefix(f.Path, "/"))
			}
		case tar.TypeSymlink:
			hdr.Linkname = f.Linkname
			installed++
		case tar.TypeLink:
			hdr.Linkname = f.Linkname
			if !p.RawPaths {
				hdr.Linkname = debName(f.Linkname)
			}
		default:
			installed++
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, nil, fmt.Errorf("package %s: writing %s: %w", p.Name, hdr.Name, err)
		}
		if f.Type == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, nil, fmt.Errorf("package %s: writing %s: %w", p.Name, hdr.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("package %s: closing data.tar: %w", p.Name, err)
	}

	ctl := controlFields(p, installed)
	var ctlText bytes.Buffer
	writeParagraph(&ctlText, ctl)

	// control.tar
	var control bytes.Buffer
	cw := tar.NewWriter(&control)
	add := func(name string, mode int64, body []byte) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "./" + name, Mode: mode, Size: int64(len(body)),
			Uname: "root", Gname: "root", ModTime: mt, Format: tar.FormatGNU}
		if err := cw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := cw.Write(body)
		return err
	}
	if err := cw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755,
		Uname: "root", Gname: "root", ModTime: mt, Format: tar.FormatGNU}); err != nil {
		return nil, nil, fmt.Errorf("package %s: writing control.tar: %w", p.Name, err)
	}
	files := []struct {
		name string
		mode int64
		body []byte
	}{{"control", 0o644, ctlText.Bytes()}}
	if len(p.Conffiles) > 0 {
		files = append(files, struct {
			name string
			mode int64
			body []byte
		}{"conffiles", 0o644, []byte(strings.Join(p.Conffiles, "\n") + "\n")})
	}
	if md5sums.Len() > 0 {
		files = append(files, struct {
			name string
			mode int64
			body []byte
		}{"md5sums", 0o644, []byte(md5sums.String())})
	}
	var scripts []string
	for name := range p.Scripts {
		scripts = append(scripts, name)
	}
	sort.Strings(scripts)
	for _, name := range scripts {
		files = append(files, struct {
			name string
			mode int64
			body []byte
		}{name, 0o755, []byte(p.Scripts[name])})
	}
	for _, f := range files {
		if err := add(f.name, f.mode, f.body); err != nil {
			return nil, nil, fmt.Errorf("package %s: writing control.tar %s: %w", p.Name, f.name, err)
		}
	}
	if err := cw.Close(); err != nil {
		return nil, nil, fmt.Errorf("package %s: closing control.tar: %w", p.Name, err)
	}

	cc := p.ControlCompression
	if cc == "" {
		cc = style.defaultCompression()
	}
	dc := p.DataCompression
	if dc == "" {
		dc = style.defaultCompression()
	}
	cz, cext, err := compress(control.Bytes(), cc)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s: compressing control.tar: %w", p.Name, err)
	}
	dz, dext, err := compress(data.Bytes(), dc)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s: compressing data.tar: %w", p.Name, err)
	}

	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar" + cext, cz}, {"data.tar" + dext, dz}} {
		if len(m.name) > 16 {
			return nil, nil, fmt.Errorf("testarchive: ar member name %s too long", m.name)
		}
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.name, mt.Unix(), 0, 0, 0o100644, len(m.body))
		ar.Write(m.body)
		if len(m.body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes(), ctl, nil
}

// compress returns b compressed by method and the file name suffix.
func compress(b []byte, method string) ([]byte, string, error) {
	var out bytes.Buffer
	var w io.WriteCloser
	var err error
	switch method {
	case "none":
		return b, "", nil
	case "gz":
		w, err = gzip.NewWriterLevel(&out, gzip.DefaultCompression)
	case "xz":
		// A 1 MiB dictionary: test payloads are small, and xz allocates
		// its match finder by dictionary size.
		w, err = xz.WriterConfig{DictCap: 1 << 20}.NewWriter(&out)
	case "zst":
		w, err = zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
	default:
		return nil, "", errors.New("testarchive: unknown compression " + method)
	}
	if err != nil {
		return nil, "", err
	}
	if _, err := w.Write(b); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), "." + method, nil
}

// field is one name: value line of a deb822 paragraph.
type field struct{ name, value string }

func writeParagraph(b *bytes.Buffer, fs []field) {
	for _, f := range fs {
		if f.value == "" {
			continue
		}
		fmt.Fprintf(b, "%s: %s\n", f.name, f.value)
	}
}

// description formats a Description value: synopsis, then long lines
// indented by one space, blank lines as " .".
func description(p Package) string {
	d := p.Description
	if d == "" {
		d = p.Name + " (test package)\nGenerated by xenimg's testarchive for tests."
	}
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			lines[i] = " ."
		} else {
			lines[i] = " " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// controlFields returns the DEBIAN/control paragraph in dpkg-deb's order.
func controlFields(p Package, installedKB int64) []field {
	maint := p.Maintainer
	if maint == "" {
		maint = "Test Archive <archive@test.invalid>"
	}
	ess := ""
	if p.Essential {
		ess = "yes"
	}
	src := ""
	if p.Source != "" && p.Source != p.Name {
		src = p.Source
	}
	return []field{
		{"Package", p.Name},
		{"Source", src},
		{"Version", p.Version},
		{"Section", p.Section},
		{"Priority", p.Priority},
		{"Architecture", p.Arch},
		{"Essential", ess},
		{"Multi-Arch", p.MultiArch},
		{"Maintainer", maint},
		{"Installed-Size", fmt.Sprint(installedKB)},
		{"Pre-Depends", p.PreDepends},
		{"Depends", p.Depends},
		{"Recommends", p.Recommends},
		{"Suggests", p.Suggests},
		{"Conflicts", p.Conflicts},
		{"Breaks", p.Breaks},
		{"Replaces", p.Replaces},
		{"Provides", p.Provides},
		{"Description", description(p)},
	}
}
