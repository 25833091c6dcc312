package release

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSarge(t *testing.T) {
	r, err := Parse(mustRead(t, "testdata/sarge-Release"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "sarge" || r.Suite != "oldstable" || r.Version != "3.1r8" || r.Origin != "Debian" {
		t.Errorf("header fields: %+v", r)
	}
	if want := time.Date(2008, 4, 12, 13, 21, 50, 0, time.UTC); !r.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", r.Date, want)
	}
	if !r.HasArchitecture("i386") || r.HasArchitecture("amd64") {
		t.Errorf("Architectures = %v", r.Architectures)
	}
	if !r.HasComponent("contrib") || r.HasComponent("non-free-firmware") {
		t.Errorf("Components = %v", r.Components)
	}
	f, ok := r.Lookup("main/binary-i386/Packages.gz")
	if !ok {
		t.Fatal("Packages.gz not listed")
	}
	if f.Size != 3221398 || f.MD5 != "0c4ad6c5d0b2a5c0b5a0e3f56a0e8b2e" || f.SHA256 != "" {
		t.Errorf("Packages.gz = %+v", f)
	}
	if alg, sum := f.Best(); alg != "MD5Sum" || sum != f.MD5 {
		t.Errorf("Best = %s %s, want MD5Sum", alg, sum)
	}
	if _, ok := r.Lookup("main/binary-amd64/Packages.gz"); ok {
		t.Error("Lookup found an unlisted file")
	}
	if got := len(r.Files()); got != 4 {
		t.Errorf("Files: %d, want 4", got)
	}
}

func TestParseBookworm(t *testing.T) {
	r, err := Parse(mustRead(t, "testdata/bookworm-Release"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.AcquireByHash || r.NoSupportForArchitectureAll != "Packages" {
		t.Errorf("Acquire-By-Hash %v, No-Support-for-Architecture-all %q", r.AcquireByHash, r.NoSupportForArchitectureAll)
	}
	f, ok := r.Lookup("main/binary-amd64/Packages.gz")
	if !ok {
		t.Fatal("not listed")
	}
	if alg, sum := f.Best(); alg != "SHA256" || sum != "8d3bf1a7aea7b0a5e0e7f25b3f3d3c0c0c9b4e1f1a2a3a4a5a6a7a8a9aaabaca" {
		t.Errorf("Best = %s %s", alg, sum)
	}
	if f.MD5 != "4f66fbad3a9b3b9e5c8f5c5c7e3bb0b0" {
		t.Errorf("MD5 not merged: %+v", f)
	}
	files := r.Files()
	for i := 1; i < len(files); i++ {
		if files[i-1].Path >= files[i].Path {
			t.Fatalf("Files not sorted: %s before %s", files[i-1].Path, files[i].Path)
		}
	}
	if v, ok := r.Field("changelogs"); !ok || !strings.HasPrefix(v, "https://") {
		t.Errorf("Field(changelogs) = %q %v", v, ok)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "\n\n", "no fields"},
		{"no colon", "Origin Debian\n", "line 1: syntax error: want \"Field: value\""},
		{"continuation first", " foo\n", "continuation line before any field"},
		{"two paragraphs", "Origin: Debian\n\nSuite: x\n", "line 3: syntax error: a Release file has one paragraph"},
		{"bad date", "Date: yesterday\n", "line 1: field Date: unparseable date \"yesterday\""},
		{"short md5", "MD5Sum:\n abc 12 main/x\n", "line 2: field MD5Sum: syntax error: sum \"abc\" has 3 hex digits, want 32"},
		{"not hex", "SHA1:\n " + strings.Repeat("g", 40) + " 1 main/x\n", "is not hex"},
		{"bad size", "MD5Sum:\n " + strings.Repeat("a", 32) + " -1 main/x\n", "bad size \"-1\""},
		{"two columns", "MD5Sum:\n " + strings.Repeat("a", 32) + " main/x\n", "want \"SUM SIZE PATH\""},
		{"size conflict", "MD5Sum:\n " + strings.Repeat("a", 32) + " 1 main/x\nSHA256:\n " + strings.Repeat("b", 64) + " 2 main/x\n",
			"line 4: field SHA256: size 2 of main/x conflicts with size 1 listed earlier"},
		{"duplicate field", "Suite: a\nsuite: b\n", "line 2: field suite: syntax error: duplicate field"},
		{"value on sum line", "SHA256: foo\n", "unexpected value \"foo\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
		})
	}
}

func TestParseDates(t *testing.T) {
	want := time.Date(2005, 6, 6, 8, 5, 3, 0, time.UTC)
	for _, s := range []string{
		"Mon, 06 Jun 2005 08:05:03 UTC",
		"Mon, 6 Jun 2005 08:05:03 UTC",
		"Mon, 06 Jun 2005 10:05:03 +0200",
		"Mon, 06 Jun 2005 08:05:03 +0000",
	} {
		r, err := Parse([]byte("Date: " + s + "\n"))
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if !r.Date.Equal(want) || r.Date.Location() != time.UTC {
			t.Errorf("%q -> %v, want %v", s, r.Date, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(mustRead(f, "testdata/sarge-Release"))
	f.Add(mustRead(f, "testdata/bookworm-Release"))
	f.Add([]byte("MD5Sum:\n aaaa 1 x\n"))
	f.Add([]byte("Origin: a\n b\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if r != nil {
				t.Fatal("non-nil Release with an error")
			}
			return
		}
		for _, fs := range r.Files() {
			got, ok := r.Lookup(fs.Path)
			if !ok || got != fs {
				t.Fatalf("Lookup(%q) = %+v %v, Files says %+v", fs.Path, got, ok, fs)
			}
			if alg, sum := fs.Best(); alg == "" || sum == "" || fs.Size < 0 {
				t.Fatalf("file %+v without a sum", fs)
			}
		}
	})
}
