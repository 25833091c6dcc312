package deb

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// testdebs are built by testdata/mkdebs.sh with dpkg-deb.
func testdebs(t testing.TB) []string {
	m, err := filepath.Glob("testdata/*.deb")
	if err != nil || len(m) < 5 {
		t.Fatalf("testdata debs: %v %v", m, err)
	}
	return m
}

// entry is what a tar header and content say about one data entry.
type entry struct {
	Name, Link   string
	Type         byte
	Mode         int64
	UID, GID     int
	Size         int64
	Mtime        int64
	Major, Minor int64
	SHA256       string
}

func entryOf(h *tar.Header, r io.Reader) (entry, error) {
	s := sha256.New()
	if _, err := io.Copy(s, r); err != nil {
		return entry{}, err
	}
	return entry{h.Name, h.Linkname, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.Unix(), h.Devmajor, h.Devminor, fmt.Sprintf("%x", s.Sum(nil))}, nil
}

// readAll reads a .deb with Reader and returns its control and entries.
func readAll(r io.Reader, name string) (*Control, []entry, error) {
	d, err := NewReader(r, name)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	var out []entry
	for {
		h, err := d.Next()
		if err == io.EOF {
			return d.Control(), out, nil
		}
		if err != nil {
			return nil, nil, err
		}
		e, err := entryOf(h, d)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
}

// tarEntries parses a tar stream (from dpkg-deb) the same way.
func tarEntries(t testing.TB, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := entryOf(h, tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// CompareWithDpkgDeb reads deb with Reader and with dpkg-deb
// --fsys-tarfile/--ctrl-tarfile and reports every difference.
func compareWithDpkgDeb(t testing.TB, dpkgDeb, deb string) {
	t.Helper()
	ctl, got, err := func() (*Control, []entry, error) {
		f, err := os.Open(deb)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		return readAll(f, deb)
	}()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := exec.Command(dpkgDeb, "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile %s: %v", deb, err)
	}
	want := tarEntries(t, fsys)
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, dpkg-deb says %d", deb, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: entry %d:\n got %v\nwant %v", deb, i, got[i], want[i])
		}
	}
	ctar, err := exec.Command(dpkgDeb, "--ctrl-tarfile", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --ctrl-tarfile %s: %v", deb, err)
	}
	tr := tar.NewReader(bytes.NewReader(ctar))
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, _ := io.ReadAll(tr)
		name := strings.TrimPrefix(h.Name, "./")
		g, ok := ctl.File(name)
		if !ok || !bytes.Equal(g, b) {
			t.Errorf("%s: control file %s differs from dpkg-deb's (present %v)", deb, name, ok)
		}
		n++
	}
	if n != len(ctl.Files) {
		t.Errorf("%s: %d control files, dpkg-deb says %d", deb, len(ctl.Files), n)
	}
}

func TestMatchesDpkgDeb(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb")
	for _, deb := range testdebs(t) {
		compareWithDpkgDeb(t, dpkgDeb, deb)
	}
}

func TestTestdata(t *testing.T) {
	for _, deb := range testdebs(t) {
		f, err := Open(deb)
		if err != nil {
			t.Fatal(err)
		}
		if f.Format != "2.0" || !strings.HasPrefix(f.DataMember, "data.tar") {
			t.Errorf("%s: format %q data %q", deb, f.Format, f.DataMember)
		}
		ctl, _ := f.Control().File("control")
		if !bytes.HasPrefix(ctl, []byte("Package: hello-xenimg\n")) {
			t.Errorf("%s: control = %q", deb, ctl)
		}
		if cf, _ := f.Control().File("conffiles"); string(cf) != "/etc/hello/hello.conf\n" {
			t.Errorf("%s: conffiles = %q", deb, cf)
		}
		var names []string
		for {
			h, err := f.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if h.Name == "./etc/hello/hello.conf" {
				b, _ := io.ReadAll(f)
				if string(b) != "greeting=hello\n" {
					t.Errorf("%s: hello.conf = %q", deb, b)
				}
			}
		}
		if !strings.Contains(strings.Join(names, " "), "./usr/bin/hello-hard") {
			t.Errorf("%s: entries %v", deb, names)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestDamaged truncates every test .deb at many offsets and flips bytes in
// compressed ones: each read must fail with an *Error naming the file.
func TestDamaged(t *testing.T) {
	for _, deb := range testdebs(t) {
		b, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(b)/300)
		for n := 0; n < len(b); n += step {
			_, _, err := readAll(bytes.NewReader(b[:n]), deb)
			checkErr(t, err, deb, fmt.Sprintf("truncated at %d of %d", n, len(b)))
		}
		if strings.HasSuffix(deb, "_none.deb") {
			continue // no checksum to catch a flipped content byte
		}
		// Flip one byte in the middle of the data member.
		c := bytes.Clone(b)
		i := bytes.Index(c, []byte("data.tar"))
		pos := i + 60 + (len(c)-i-60)/2
		c[pos] ^= 0x55
		_, _, err = readAll(bytes.NewReader(c), deb)
		checkErr(t, err, deb, fmt.Sprintf("byte %d flipped", pos))
	}
	_, _, err := readAll(strings.NewReader("!<arch>\nnot a header"), "x.deb")
	checkErr(t, err, "x.deb", "garbage header")
	_, _, err = readAll(strings.NewReader("PK\x03\x04......"), "x.deb")
	checkErr(t, err, "x.deb", "zip file")
}

func checkErr(t *testing.T, err error, deb, what string) {
	t.Helper()
	var e *Error
	switch {
	case err == nil:
		t.Errorf("%s %s: read without error", deb, what)
	case !errors.As(err, &e) || e.Deb != deb:
		t.Errorf("%s %s: error %q does not name the file", deb, what, err)
	case !strings.Contains(err.Error(), deb):
		t.Errorf("%s %s: message %q lacks the name", deb, what, err)
	}
}

func FuzzRead(f *testing.F) {
	for _, deb := range testdebs(f) {
		b, err := os.ReadFile(deb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctl, ents, err := readAll(bytes.NewReader(b), "fuzz.deb")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not a *deb.Error: %v", err)
			}
			return
		}
		if _, ok := ctl.File("control"); !ok {
			t.Fatal("read succeeded without a control file")
		}
		_ = ents
	})
}
