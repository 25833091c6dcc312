package testarchive

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// testPackage covers every entry type BuildDeb writes.
func testPackage() Package {
	return Package{
		Name: "xtest", Version: "1:2.0-3", Arch: "i386", Section: "base", Priority: "required",
		Source: "xtest-src", Essential: true,
		PreDepends: "libc6 (>= 2.3.2.ds1-4)", Depends: "perl-base (> 5.8), debconf | debconf-2.0",
		Conflicts: "old (< 1.0)", Replaces: "old", Provides: "virt",
		Description: "test package\nfirst long line\n\nafter a blank line",
		Files: []File{
			{Path: "/usr/bin/xtest", Mode: 0o755, Body: []byte("#!/bin/sh\necho hi\n")},
			{Path: "/usr/bin/xtest-hard", Type: tar.TypeLink, Linkname: "/usr/bin/xtest"},
			{Path: "/usr/bin/a-hard", Type: tar.TypeLink, Linkname: "/usr/bin/xtest"},
			{Path: "/bin/su", Mode: 0o4755, Body: []byte("setuid\n")},
			{Path: "/lib/tls/libc.so.6", Type: tar.TypeSymlink, Linkname: "libc-2.3.2.so"},
			{Path: "/lib/tls/libc-2.3.2.so", Body: bytes.Repeat([]byte("x"), 3000)},
			{Path: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
			{Path: "/etc/xtest.conf", Body: []byte("a=1\n")},
			{Path: "/usr/share/empty", Body: nil},
			{Path: "/dev/initctl", Type: tar.TypeFifo, Mode: 0o600},
		},
		Conffiles: []string{"/etc/xtest.conf"},
		Scripts:   map[string]string{"postinst": "#!/bin/sh\nexit 0\n", "prerm": "#!/bin/sh\n"},
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func TestBuildDebDpkgDeb(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb")
	cases := []struct {
		name        string
		style       Style
		ctl, data   string
		wantMembers string
	}{
		{"sarge", Sarge, "", "", "debian-binary control.tar.gz data.tar.gz"},
		{"modern", Modern, "", "", "debian-binary control.tar.xz data.tar.xz"},
		{"zstd", Modern, "zst", "zst", "debian-binary control.tar.zst data.tar.zst"},
		{"none", Modern, "none", "none", "debian-binary control.tar data.tar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testPackage()
			p.ControlCompression, p.DataCompression = c.ctl, c.data
			deb, err := BuildDeb(p, c.style)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(arMembers(t, deb), " "); got != c.wantMembers {
				t.Errorf("ar members %q, want %q", got, c.wantMembers)
			}
			dir := t.TempDir()
			f := filepath.Join(dir, "x.deb")
			if err := os.WriteFile(f, deb, 0o644); err != nil {
				t.Fatal(err)
			}
			info := run(t, dpkgDeb, "--info", f)
			for _, want := range []string{"Package: xtest", "Version: 1:2.0-3", "Essential: yes",
				"Depends: perl-base (> 5.8), debconf | debconf-2.0", "Pre-Depends: libc6 (>= 2.3.2.ds1-4)",
				"Source: xtest-src", " first long line", "  .", " postinst", " conffiles", " md5sums"} {
				if !strings.Contains(info, want) {
					t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
				}
			}
			// Written verbatim; dpkg itself reads the obsolete "<" as "<=".
			if !strings.Contains(info, " Conflicts: old (< 1.0)\n") {
				t.Errorf("Conflicts not verbatim:\n%s", info)
			}
			if got := strings.TrimSpace(run(t, dpkgDeb, "--field", f, "Conflicts")); got != "old (<= 1.0)" {
				t.Errorf("dpkg-deb --field Conflicts %q, want old (<= 1.0)", got)
			}
			// Installed-Size: 3 KiB for the 3000-byte file, 1 per other file,
			// link and directory, as dpkg-gencontrol counts.
			if got := strings.TrimSpace(run(t, dpkgDeb, "--field", f, "Installed-Size")); got == "" || got == "0" {
				t.Errorf("Installed-Size %q", got)
			}
			contents := run(t, dpkgDeb, "--contents", f)
			for _, want := range []string{"-rwsr-xr-x root/root", "./bin/su", "drwxrwxrwt root/root", "./tmp/",
				"./lib/tls/libc.so.6 -> libc-2.3.2.so", "./usr/bin/xtest-hard link to ./usr/bin/xtest",
				"prw-------", "./dev/initctl"} {
				if !strings.Contains(contents, want) {
					t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, contents)
				}
			}
			// Every tar entry of --fsys-tarfile: a hard link never precedes
			// its target, directories precede their contents.
			tarOut := run(t, dpkgDeb, "--fsys-tarfile", f)
			tr := tar.NewReader(strings.NewReader(tarOut))
			seen := map[string]bool{}
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if h.Name != "./" && !seen[parentName(h.Name)] {
					t.Errorf("%s before its directory", h.Name)
				}
				if h.Typeflag == tar.TypeLink && !seen[h.Linkname] {
					t.Errorf("hard link %s before its target %s", h.Name, h.Linkname)
				}
				seen[strings.TrimSuffix(h.Name, "/")] = true
				seen[h.Name] = true
			}
			// Extract, then compare with the input.
			root := filepath.Join(dir, "root")
			run(t, dpkgDeb, "-x", f, root)
			for _, file := range p.Files {
				fp := filepath.Join(root, file.Path)
				st, err := os.Lstat(fp)
				if err != nil {
					t.Errorf("extracted tree lacks %s: %v", file.Path, err)
					continue
				}
				switch file.Type {
				case 0:
					b, _ := os.ReadFile(fp)
					if !bytes.Equal(b, file.Body) {
						t.Errorf("%s: content differs", file.Path)
					}
					if file.Mode != 0 && int64(st.Mode().Perm()) != file.Mode&0o777 {
						t.Errorf("%s: mode %v, want %o", file.Path, st.Mode(), file.Mode)
					}
				case tar.TypeSymlink:
					if l, _ := os.Readlink(fp); l != file.Linkname {
						t.Errorf("%s -> %q, want %q", file.Path, l, file.Linkname)
					}
				case tar.TypeLink:
					tst, _ := os.Stat(filepath.Join(root, file.Linkname))
					if !os.SameFile(st, tst) {
						t.Errorf("%s is not a hard link of %s", file.Path, file.Linkname)
					}
				}
			}
			// md5sums as dpkg checks them: md5sum -c from the root.
			ctl := filepath.Join(dir, "ctl")
			run(t, dpkgDeb, "-e", f, ctl)
			md5, err := os.ReadFile(filepath.Join(ctl, "md5sums"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(testenv.Tool(t, "md5sum"), "--quiet", "-c", "-")
			cmd.Dir, cmd.Stdin = root, bytes.NewReader(md5)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("md5sum -c: %v\n%s", err, out)
			}
			if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/xtest.conf\n" {
				t.Errorf("conffiles %q", b)
			}
		})
	}
}

func parentName(name string) string {
	n := strings.TrimSuffix(name, "/")
	i := strings.LastIndexByte(n, '/')
	if i <= 0 {
		return "./"
	}
	return n[:i+1]
}

// arMembers lists the member names of an ar archive.
func arMembers(t *testing.T, b []byte) []string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatal("no ar magic")
	}
	var names []string
	off := 8
	for off+60 <= len(b) {
		h := b[off : off+60]
		var size int
		for _, c := range bytes.TrimSpace(h[48:58]) {
			size = size*10 + int(c-'0')
		}
		names = append(names, strings.TrimSpace(string(h[:16])))
		off += 60 + size + size%2
	}
	return names
}

func TestBuildDebErrors(t *testing.T) {
	for name, p := range map[string]Package{
		"no name":     {Version: "1", Arch: "all"},
		"no version":  {Name: "a", Arch: "all"},
		"duplicate":   {Name: "a", Version: "1", Arch: "all", Files: []File{{Path: "/x"}, {Path: "x"}}},
		"compression": {Name: "a", Version: "1", Arch: "all", DataCompression: "lzma"},
	} {
		if _, err := BuildDeb(p, Modern); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBuildDebRawPaths(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb")
	p := Package{Name: "evil", Version: "1", Arch: "all", RawPaths: true, Files: []File{
		{Path: "./", Type: tar.TypeDir}, {Path: "./../escape", Body: []byte("x")},
		{Path: "./link", Type: tar.TypeSymlink, Linkname: "/etc/passwd"},
	}}
	deb, err := BuildDeb(p, Sarge)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "evil.deb")
	if err := os.WriteFile(f, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	contents := run(t, dpkgDeb, "--contents", f)
	if !strings.Contains(contents, "./../escape") || !strings.Contains(contents, "./link -> /etc/passwd") {
		t.Errorf("raw paths not kept:\n%s", contents)
	}
}
