package control

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// checkIndexMatches compares ScanPackages with ParsePackagesBytes: where
// the full parse accepts data, the scan must too, give the same scanned
// values, and parse every paragraph to the same Package. It also scans
// data in pieces of every size in steps.
func checkIndexMatches(t *testing.T, name string, data []byte, steps []int) {
	t.Helper()
	want, werr := ParsePackagesBytes(name, data)
	ix, err := ScanPackages(name, data)
	if werr != nil {
		return // the scan checks less (see Index), so it may accept data
	}
	if err != nil {
		t.Fatalf("ScanPackages: %v (ParsePackagesBytes accepts it)", err)
	}
	if ix.Len() != len(want) {
		t.Fatalf("ScanPackages: %d paragraphs, ParsePackagesBytes %d", ix.Len(), len(want))
	}
	for i := range want {
		w := &want[i]
		got := [...]string{ix.Name(i), ix.Version(i), ix.Architecture(i), ix.Priority(i), ix.Provides(i)}
		exp := [...]string{w.Paragraph.Get("Package"), w.Paragraph.Get("Version"), w.Paragraph.Get("Architecture"),
			w.Paragraph.Get("Priority"), w.Paragraph.Get("Provides")}
		if got != exp {
			t.Fatalf("paragraph %d: scanned %q, parsed %q", i, got, exp)
		}
		if ix.Line(i) != w.Paragraph.Line {
			t.Fatalf("paragraph %d: line %d, parsed %d", i, ix.Line(i), w.Paragraph.Line)
		}
		p, err := ix.Package(i)
		if err != nil {
			t.Fatalf("Package(%d): %v", i, err)
		}
		if !reflect.DeepEqual(*p, *w) {
			t.Fatalf("Package(%d) = %+v\nwant %+v", i, *p, *w)
		}
	}
	for _, step := range steps {
		s := NewIndexScanner(name, 0)
		for n := step; ; n += step {
			final := n >= len(data)
			if final {
				n = len(data)
			}
			// A fresh copy each time: the backing array may change.
			if err := s.Scan(append([]byte(nil), data[:n]...), final); err != nil {
				t.Fatalf("step %d: Scan(%d bytes): %v", step, n, err)
			}
			if final {
				break
			}
		}
		ix2, err := s.Index()
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if ix2.Len() != ix.Len() {
			t.Fatalf("step %d: %d paragraphs, want %d", step, ix2.Len(), ix.Len())
		}
		for i := range ix.ents {
			if ix2.Name(i) != ix.Name(i) || ix2.Provides(i) != ix.Provides(i) || ix2.Line(i) != ix.Line(i) {
				t.Fatalf("step %d: paragraph %d differs", step, i)
			}
			p1, _ := ix.Paragraph(i)
			p2, _ := ix2.Paragraph(i)
			if !reflect.DeepEqual(p1, p2) {
				t.Fatalf("step %d: paragraph %d differs", step, i)
			}
		}
	}
}

func TestScanPackagesMatchesParse(t *testing.T) {
	data, err := os.ReadFile("testdata/Packages")
	if err != nil {
		t.Fatal(err)
	}
	checkIndexMatches(t, "testdata/Packages", data, []int{1, 7, 100})
	for _, tc := range []struct{ name, in string }{
		{"crlf", "Package: a\r\nVersion: 1\r\nArchitecture: all\r\nProvides: b,\r\n c (= 1)\r\n\r\nPackage: d\r\nVersion: 2\r\nArchitecture: all\r\n"},
		{"comments", "#top\nPackage: a\nVersion: 1\n#in\nArchitecture: all\nProvides: x,\n#break\n y\n#end\n\n#between\n\nPackage: b\nVersion: 1\nArchitecture: all\n"},
		{"case", "package: a\nVERSION: 1\narchitecture: amd64\nPRIORITY: required\nprovides: q\n"},
		{"blank lines", "\n\n \t\nPackage: a\nVersion: 1\nArchitecture: all\n \n\n\nPackage: b\nVersion: 1\nArchitecture: all\nDescription: x\n y\n .\n"},
		{"no final newline", "Package: a\nVersion: 1\nArchitecture: all\nProvides: p"},
		{"empty", ""},
		{"multiline first empty", "Package: a\nVersion: 1\nArchitecture: all\nProvides:\n p,\n q\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkIndexMatches(t, tc.name, []byte(tc.in), []int{1, 3}) })
	}
}

// TestScanPackagesBookworm compares the scan with the full parse on a real
// index named by XENIMG_PACKAGES (an uncompressed bookworm main amd64
// Packages file), whole and in 1 MiB pieces.
func TestScanPackagesBookworm(t *testing.T) {
	name := os.Getenv("XENIMG_PACKAGES")
	if name == "" {
		t.Skip("XENIMG_PACKAGES not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	checkIndexMatches(t, name, data, []int{1 << 20})
}

func TestScanPackagesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		err      error
		line     int
		field    string
	}{
		{"no colon", "Package: a\nVersion: 1\nArchitecture: all\nbogus\n", ErrNoColon, 4, ""},
		{"continuation first", " x\nPackage: a\n", ErrContinuation, 1, ""},
		{"continuation after blank", "Package: a\nVersion: 1\nArchitecture: all\n\n x\n", ErrContinuation, 5, ""},
		{"bad name", "Package: a\n-X: 1\n", ErrFieldName, 2, ""},
		{"duplicate", "Package: a\nVersion: 1\npackage: b\n", ErrDuplicate, 3, "package"},
		{"no package", "Version: 1\nArchitecture: all\n\n", ErrMissing, 1, "Package"},
		{"empty package", "Package:\nVersion: 1\nArchitecture: all\n", ErrMissing, 1, "Package"},
		{"no version", "Package: a\nArchitecture: all\n", ErrMissing, 1, "Version"},
		{"no arch", "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n", ErrMissing, 1, "Architecture"},
		{"no arch second", "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\n", ErrMissing, 5, "Architecture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ScanPackages("f", []byte(tc.in))
			var pe *ParseError
			if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Line != tc.line || pe.Field != tc.field || pe.File != "f" {
				t.Fatalf("err = %v, want %v at f:%d field %q", err, tc.err, tc.line, tc.field)
			}
			// The full parse rejects it too.
			if _, err := ParsePackagesBytes("f", []byte(tc.in)); err == nil {
				t.Fatalf("ParsePackagesBytes accepts %q", tc.in)
			}
		})
	}
}

// TestIndexPackageLazyErrors: what the scan does not check is reported by
// Package, with the file and line of the whole index.
func TestIndexPackageLazyErrors(t *testing.T) {
	in := "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture: all\nDepends: c (>= \n"
	ix, err := ScanPackages("f", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Package(0); err != nil {
		t.Fatal(err)
	}
	_, err = ix.Package(1)
	var pe *ParseError
	if !errors.Is(err, ErrRelation) || !errors.As(err, &pe) || pe.Line != 8 || pe.Field != "Depends" {
		t.Fatalf("err = %v, want a bad relation at f:8", err)
	}
}

func TestIndexScannerMisuse(t *testing.T) {
	s := NewIndexScanner("f", 0)
	if _, err := s.Index(); err == nil {
		t.Error("Index before the final Scan")
	}
	if err := s.Scan([]byte("Package: a\n"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Scan([]byte("Pack"), false); err == nil {
		t.Error("shrinking data accepted")
	}
}

// FuzzScanPackages: ScanPackages never panics, accepts whatever
// ParsePackagesBytes accepts, and agrees with it.
func FuzzScanPackages(f *testing.F) {
	files, _ := filepath.Glob("testdata/*[^z]")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Package: a\r\nVersion: 1\r\nArchitecture: all\r\nProvides: b,\r\n#c\r\n c\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Count(string(data), "\n") > 200 {
			return
		}
		checkIndexMatches(t, "fuzz", data, []int{5})
	})
}
