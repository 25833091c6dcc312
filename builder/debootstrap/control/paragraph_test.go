package control

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
	"pault.ag/go/debian/version"
)

func TestParseFields(t *testing.T) {
	data, err := os.ReadFile("testdata/Packages")
	if err != nil {
		t.Fatal(err)
	}
	paras, err := ParseBytes("testdata/Packages", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(paras) != 3 {
		t.Fatalf("got %d paragraphs, want 3", len(paras))
	}
	p := paras[0]
	if p.Line != 1 || p.File != "testdata/Packages" {
		t.Errorf("paragraph 0 at %s:%d", p.File, p.Line)
	}
	if got := p.Get("package"); got != "libc6" {
		t.Errorf("Get(package) = %q", got)
	}
	wantDesc := "GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\n .\n This package includes shared versions of the standard C library."
	if got := p.Get("Description"); got != wantDesc {
		t.Errorf("Description = %q", got)
	}
	var names []string
	for _, f := range p.Fields {
		names = append(names, f.Name)
	}
	want := "Package Source Version Installed-Size Maintainer Architecture Multi-Arch Replaces Depends Recommends Suggests Breaks Description Homepage Description-md5 Tag Section Priority Filename Size MD5sum SHA256"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("field order\n got %s\nwant %s", got, want)
	}
	if paras[1].Line != 28 {
		t.Errorf("paragraph 1 line = %d, want 28", paras[1].Line)
	}
	if f, _ := paras[1].Lookup("Essential"); f.Line != 33 {
		t.Errorf("Essential line = %d, want 33", f.Line)
	}
}

func TestParseRelease(t *testing.T) {
	f, err := os.Open("testdata/Release")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	paras, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(paras) != 1 {
		t.Fatalf("%d paragraphs", len(paras))
	}
	md5, ok := paras[0].Lookup("MD5Sum")
	if !ok || !strings.HasPrefix(md5.Value, "\n ") {
		t.Fatalf("MD5Sum = %q", md5.Value)
	}
	lines := md5.Lines()
	if len(lines) != 2 || lines[1] != "d0a0325a97c42fd5f66a8c3e29bcea64    98581 contrib/Contents-all.gz" {
		t.Errorf("lines = %q", lines)
	}
}

func TestParseCommentsCRLF(t *testing.T) {
	data, err := os.ReadFile("testdata/control")
	if err != nil {
		t.Fatal(err)
	}
	paras, err := ParseBytes("control", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(paras) != 1 || paras[0].Line != 2 {
		t.Fatalf("paragraphs = %+v", paras)
	}
	if got := paras[0].Get("Description"); got != "example package based on GNU hello\n The GNU hello program produces a familiar, friendly greeting." {
		t.Errorf("Description = %q", got)
	}
	if got := paras[0].Get("Version"); got != "2.10-3" {
		t.Errorf("Version = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		line  int
		field string
		err   error
	}{
		{" cont\n", 1, "", ErrContinuation},
		{"A: b\n\n cont\n", 3, "", ErrContinuation},
		{"A: b\nno colon here\n", 2, "", ErrNoColon},
		{"A: b\n: empty\n", 2, "", ErrFieldName},
		{"A: b\nB c: d\n", 2, "", ErrFieldName},
		{"A: b\nC: x\na: c\n", 3, "a", ErrDuplicate},
	} {
		_, err := ParseString("f", tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, tc.err) || pe.Line != tc.line || pe.Field != tc.field || pe.File != "f" {
			t.Errorf("%q: got %v (%#v), want line %d field %q %v", tc.in, err, pe, tc.line, tc.field, tc.err)
		}
	}
}

func TestParseEdge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // paragraphs written back
	}{
		{"", ""},
		{"\n\n  \n\t\n", ""},
		{"A:b", "A: b\n"},
		{"A:   \n", "A:\n"},
		{"A:\n b\n c\n\n\n\nB: x\n", "A:\n b\n c\n\nB: x\n"},
		{"A: x  \n  y\t\n", "A: x  \n  y\n"},
		{"#c\nA: 1\n#c\n b\n", "A: 1\n b\n"},
	} {
		ps, err := ParseString("", tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var b bytes.Buffer
		if err := Write(&b, ps); err != nil {
			t.Errorf("%q: write: %v", tc.in, err)
		}
		if b.String() != tc.want {
			t.Errorf("%q: wrote %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	for _, p := range []Paragraph{
		{Fields: []Field{{Name: "A", Value: "x\ny"}}},
		{Fields: []Field{{Name: "A", Value: "x\n \n y"}}},
		{Fields: []Field{{Name: "A b", Value: "x"}}},
	} {
		if err := Write(&bytes.Buffer{}, []Paragraph{p}); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
}

func TestSetDelete(t *testing.T) {
	ps, err := ParseString("", "A: 1\nB: 2\n\nA: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	p.Set("b", "two")
	p.Set("Status", "install ok installed")
	p.Delete("A")
	if got := p.String(); got != "B: two\nStatus: install ok installed\n" {
		t.Errorf("got %q", got)
	}
	if ps[0].String() != "A: 1\nB: 2\n" || ps[1].String() != "A: 3\n" {
		t.Errorf("original changed: %q %q", ps[0].String(), ps[1].String())
	}
}

// TestRoundTripRealIndex parses a real Packages file (XENIMG_PACKAGES, or
// /tmp copies) and checks Write gives back the same bytes.
func TestRoundTripTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*[^z]")
	for _, f := range files {
		if strings.HasSuffix(f, "control") {
			continue // CRLF and comments are normalised away
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := ParseBytes(f, data)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := Write(&b, ps); err != nil {
			t.Fatal(err)
		}
		if b.String() != string(data) {
			t.Errorf("%s: round trip differs", f)
		}
	}
}

func TestVersionOpsAgainstDpkg(t *testing.T) {
	dpkg := testenv.Tool(t, "dpkg")
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "1.0-1"}, {"1.0~rc1", "1.0"}, {"1:0.9", "2.0"},
		{"2.36-9+deb12u4", "2.36-9"}, {"1.0+b1", "1.0"}, {"1.0a", "1.0"},
		{"0:1.2", "1.2"}, {"1.2.3", "1.2.10"}, {"1~~", "1~~a"}, {"1~", "1"},
		{"3.0.8-1", "3.0.9"}, {"1.0-1~bpo1", "1.0-1"}, {"10", "9"}, {"a", "1"},
	}
	ops := []struct {
		op   Op
		dpkg string
	}{{OpLT, "lt"}, {OpLE, "le"}, {OpEQ, "eq"}, {OpGE, "ge"}, {OpGT, "gt"}}
	for _, pr := range pairs {
		a, errA := version.Parse(pr[0])
		b, errB := version.Parse(pr[1])
		if errA != nil || errB != nil {
			// dpkg accepts some strings pault.ag rejects; skip those, but
			// only the deliberate one.
			if pr[0] != "a" {
				t.Errorf("parsing %q %q: %v %v", pr[0], pr[1], errA, errB)
			}
			continue
		}
		for _, o := range ops {
			want := exec.Command(dpkg, "--compare-versions", pr[0], o.dpkg, pr[1]).Run() == nil
			if got := o.op.Satisfied(a, b); got != want {
				t.Errorf("%s %s %s: got %v, dpkg says %v", pr[0], o.op, pr[1], got, want)
			}
		}
	}
}
