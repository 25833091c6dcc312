// Package deb reads Debian binary packages (.deb files, deb(5)).
//
// A .deb is an ar archive holding, in this order, "debian-binary" (the
// format version, "2.0"), "control.tar" and "data.tar", the two tar members
// each uncompressed or compressed with gzip, xz, zstd, bzip2 or lzma. Members
// whose names start with "_" are skipped, as dpkg does.
//
// A Reader reads the archive in one pass: NewReader reads the control member
// entirely (it is small), then Next and Read stream the entries of the data
// member, like archive/tar. Decoding errors, truncation and a bad xz or zstd
// checksum are reported with the package's name and the member.
//
// Not supported: the old 0.939 format (before dpkg 0.93.76), detached
// signatures (_gpgbuilder members are skipped unread).
package deb

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// ErrFormat is wrapped by every error about a malformed .deb.
var ErrFormat = errors.New("deb: malformed package")

// Error is an error about one .deb: its name, the member and what went wrong.
type Error struct {
	Deb    string // file name or URL as given to NewReader
	Member string // ar member, "" for the archive itself
	Err    error
}

func (e *Error) Error() string {
	if e.Member == "" {
		return fmt.Sprintf("reading %s: %v", e.Deb, e.Err)
	}
	return fmt.Sprintf("reading %s: %s: %v", e.Deb, e.Member, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// MaxControlSize bounds the uncompressed control.tar, in bytes.
const MaxControlSize = 256 << 20

// ControlFile is one file of control.tar: "control", "md5sums",
// "conffiles", "postinst", "triggers", "shlibs" and so on.
type ControlFile struct {
	Name string // base name, without "./"
	Mode int64  // permission bits from the tar header
	Data []byte
}

// Control holds the files of a package's control.tar, in archive order.
type Control struct {
	Files []ControlFile
}

// File returns the content of the control file name and whether it exists.
func (c *Control) File(name string) ([]byte, bool) {
	for _, f := range c.Files {
		if f.Name == name {
			return f.Data, true
		}
	}
	return nil, false
}

// Reader reads one .deb.
type Reader struct {
	// Format is the content of debian-binary without its newline ("2.0").
	Format string
	// ControlMember and DataMember are the ar member names
	// ("control.tar.xz", "data.tar.zst", ...).
	ControlMember, DataMember string
	// DataMTime is the modification time of the data member in the ar
	// header, in seconds.
	DataMTime int64

	name    string
	ar      *arReader
	control *Control
	dec     io.ReadCloser
	tr      *tar.Reader
	done    bool
	err     error // sticky
}

// NewReader reads the header, debian-binary and control.tar of the .deb in
// r, leaving r at the start of the data member. name is used in errors.
func NewReader(r io.Reader, name string) (*Reader, error) {
	d := &Reader{name: name}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	ar, err := newArReader(br)
	if err != nil {
		return nil, d.fail("", err)
	}
	d.ar = ar
	h, err := ar.next()
	if err != nil {
		return nil, d.fail("", err)
	}
	if h.name != "debian-binary" {
		return nil, d.fail("", fmt.Errorf("%w: first member is %q, not debian-binary", ErrFormat, h.name))
	}
	if h.size > 64 {
		return nil, d.fail(h.name, fmt.Errorf("%w: %d bytes", ErrFormat, h.size))
	}
	b, err := io.ReadAll(ar)
	if err != nil {
		return nil, d.fail(h.name, err)
	}
	d.Format = strings.TrimSuffix(string(b), "\n")
	if !strings.HasPrefix(d.Format, "2.") || strings.ContainsAny(d.Format, "\n\x00") {
		return nil, d.fail(h.name, fmt.Errorf("%w: unsupported format %q", ErrFormat, d.Format))
	}
	h, err = d.nextMember()
	if err != nil {
		return nil, d.fail("", err)
	}
	if !strings.HasPrefix(h.name, "control.tar") {
		return nil, d.fail("", fmt.Errorf("%w: expected control.tar member, found %q", ErrFormat, h.name))
	}
	d.ControlMember = h.name
	if d.control, err = readControl(ar, h.name); err != nil {
		return nil, d.fail(h.name, err)
	}
	h, err = d.nextMember()
	if err != nil {
		return nil, d.fail("", err)
	}
	if !strings.HasPrefix(h.name, "data.tar") {
		return nil, d.fail("", fmt.Errorf("%w: expected data.tar member, found %q", ErrFormat, h.name))
	}
	d.DataMember, d.DataMTime = h.name, h.mtime
	if d.dec, err = decompressor(ar, h.name); err != nil {
		return nil, d.fail(h.name, err)
	}
	d.tr = tar.NewReader(d.dec)
	return d, nil
}

// nextMember returns the next member not starting with "_".
func (d *Reader) nextMember() (*arHeader, error) {
	for {
		h, err := d.ar.next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: archive ends early", ErrFormat)
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(h.name, "_") {
			return h, nil
		}
	}
}

func (d *Reader) fail(member string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	d.err = &Error{Deb: d.name, Member: member, Err: err}
	return d.err
}

func readControl(r io.Reader, member string) (*Control, error) {
	dec, err := decompressor(r, member)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	lr := &io.LimitedReader{R: dec, N: MaxControlSize + 1}
	tr := tar.NewReader(lr)
	c := &Control{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(h.Name)
		if strings.Contains(name, "/") {
			// dpkg ignores nothing here, but a control file in a
			// subdirectory has no meaning; keep the base name out.
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: control.tar larger than %d bytes", ErrFormat, MaxControlSize)
		}
		c.Files = append(c.Files, ControlFile{Name: name, Mode: h.Mode & 07777, Data: b})
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return nil, err
	}
	if _, ok := c.File("control"); !ok {
		return nil, fmt.Errorf("%w: no control file", ErrFormat)
	}
	return c, nil
}

// Control returns the package's control files.
func (d *Reader) Control() *Control { return d.control }

// Name is the name given to NewReader.
func (d *Reader) Name() string { return d.name }

// Next advances to the next entry of data.tar. At the end it checks that
// the compressed stream and the archive end cleanly and returns io.EOF.
func (d *Reader) Next() (*tar.Header, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.done {
		return nil, io.EOF
	}
	h, err := d.tr.Next()
	if err == io.EOF {
		// Drain the decompressor (its trailer carries the checksum)
		// and the member.
		if _, err := io.Copy(io.Discard, d.dec); err != nil {
			return nil, d.fail(d.DataMember, err)
		}
		if d.ar.remaining() > 0 {
			if _, err := io.Copy(io.Discard, d.ar); err != nil {
				return nil, d.fail(d.DataMember, err)
			}
		}
		// Members after data.tar are allowed (dpkg ignores them) but
		// must be whole.
		for {
			_, err := d.ar.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, d.fail(d.DataMember, err)
			}
		}
		d.done = true
		return nil, io.EOF
	}
	if err != nil {
		return nil, d.fail(d.DataMember, err)
	}
	if isSparse(h) {
		// dpkg does not extract sparse files either; a hole could
		// claim gigabytes of zeros.
		return nil, d.fail(d.DataMember, fmt.Errorf("%w: %s: sparse tar entry", ErrFormat, h.Name))
	}
	return h, nil
}

func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// Read reads the content of the current data entry.
func (d *Reader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.tr.Read(p)
	if err != nil && err != io.EOF {
		return n, d.fail(d.DataMember, err)
	}
	return n, err
}

// Close releases the decompressor. It does not close the underlying reader.
func (d *Reader) Close() error {
	if d.dec != nil {
		return d.dec.Close()
	}
	return nil
}

// File is a .deb opened from the host file system.
type File struct {
	*Reader
	f *os.File
}

// Open opens the .deb at path and reads its control member.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Deb: path, Err: err}
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Reader: r, f: f}, nil
}

// Close closes the decompressor and the file.
func (f *File) Close() error {
	err := f.Reader.Close()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}
