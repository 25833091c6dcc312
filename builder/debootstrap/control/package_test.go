package control

import (
	"errors"
	"os"
	"testing"
)

func TestParsePackages(t *testing.T) {
	f, err := os.Open("testdata/Packages")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := ParsePackages("testdata/Packages", f)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 3 {
		t.Fatalf("%d packages", len(pkgs))
	}
	libc, dpkg, mawk := pkgs[0], pkgs[1], pkgs[2]
	if libc.Name != "libc6" || libc.Version.String() != "2.36-9+deb12u4" || libc.Architecture != "amd64" ||
		libc.MultiArch != "same" || libc.Priority != "optional" || libc.Essential || libc.SourceName() != "glibc" ||
		libc.Size != 2757936 || libc.InstalledSize != 12987 || libc.Filename != "pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb" ||
		libc.MD5sum != "5b8a3e3ac1e1ec1a4e4d7a5b5a3d8f4e" || len(libc.Breaks) != 22 || libc.Section != "libs" {
		t.Errorf("libc6 = %+v", libc)
	}
	if !dpkg.Essential || len(dpkg.PreDepends) != 7 || dpkg.PreDepends[1][0].String() != "libc6 (>= 2.34)" || dpkg.SourceName() != "dpkg" ||
		dpkg.Depends.String() != "tar (>= 1.28-1)" || dpkg.MultiArch != "foreign" {
		t.Errorf("dpkg = %+v", dpkg)
	}
	if mawk.Provides.String() != "awk" || mawk.PreDepends.String() != "x (<= 1), y (<= 2), z (>= 3) | w:any (>> 4:1.0-1~bpo1), q:native, r [amd64 !i386] <!nocheck> <stage1 cross>" {
		t.Errorf("mawk = %v / %v", mawk.Provides, mawk.PreDepends)
	}
	if mawk.Paragraph.Get("Package") != "mawk" {
		t.Error("raw paragraph lost")
	}
}

func TestParsePackageErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		line  int
		field string
		err   error
	}{
		{"Version: 1\nArchitecture: all\n", 1, "Package", ErrMissing},
		{"Package: a\nArchitecture: all\n", 1, "Version", ErrMissing},
		{"Package: a\nVersion: 1\n", 1, "Architecture", ErrMissing},
		{"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1\n", 4, "Depends", ErrRelation},
		{"Package: a\nVersion: 1\nArchitecture: all\nsize: -1\n", 4, "size", ErrValue},
		{"Package: a\nVersion: 1\nArchitecture: all\nEssential: maybe\n", 4, "Essential", ErrValue},
		{"Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: x\nArchitecture: all\n", 6, "Version", nil},
	} {
		_, err := ParsePackagesBytes("P", []byte(tc.in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tc.line || pe.Field != tc.field || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%q: got %v, want line %d field %s %v", tc.in, err, tc.line, tc.field, tc.err)
		}
	}
}

func TestCaseInsensitiveFields(t *testing.T) {
	pkgs, err := ParsePackagesBytes("", []byte("package: a\nversion: 1.0\narchitecture: all\npre-depends: b\nmd5sum: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := pkgs[0]; p.Name != "a" || p.Version.String() != "1.0" || p.PreDepends.String() != "b" || p.MD5sum != "x" {
		t.Errorf("%+v", p)
	}
}
