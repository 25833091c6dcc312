package tree

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/internal/testenv"
)

// listing is every entry of a tree, one line each: path, type, mode,
// owner, mtime, target, device numbers, link count and content.
func listing(t *testing.T, tr *Tree) string {
	t.Helper()
	var b strings.Builder
	err := tr.Walk(func(p string, n *Node) error {
		fmt.Fprintf(&b, "%s %v %04o %d:%d %d %q %d,%d links=%d", p, n.Type, n.Mode, n.UID, n.GID, n.Mtime, n.Target, n.Major, n.Minor, n.Links())
		if n.Type == TypeRegular {
			rc, err := n.Content().Open()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestFromTarRoundTrip writes a directory with every kind of entry, has
// GNU tar archive it, and checks FromTar reads what FromDir reads.
func TestFromTarRoundTrip(t *testing.T) {
	tarTool := testenv.Tool(t, "tar")
	dir := filepath.Join(t.TempDir(), "root")
	must(t, os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "var/mail"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "empty"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "usr/bin/su"), bytes.Repeat([]byte("x"), 5000), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "usr/bin/small"), []byte("hi\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o600))
	must(t, os.Link(filepath.Join(dir, "usr/bin/su"), filepath.Join(dir, "usr/bin/su2")))
	must(t, os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	long := strings.Repeat("d/", 60) + "target" // longer than a ustar name
	must(t, os.Symlink(long, filepath.Join(dir, "long")))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	if os.Geteuid() == 0 {
		must(t, unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(t, unix.Mknod(filepath.Join(dir, "sda"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 0))))
		must(t, os.Lchown(filepath.Join(dir, "var/mail"), 0, 8))
		must(t, os.Lchown(filepath.Join(dir, "usr/bin/small"), 1234, 4321))
		must(t, os.Lchown(filepath.Join(dir, "bin"), 5, 6))
	}
	must(t, os.Chmod(filepath.Join(dir, "usr/bin/su"), 0o4755))
	must(t, os.Chmod(filepath.Join(dir, "var/mail"), 0o2775))
	must(t, os.Chmod(filepath.Join(dir, "empty"), 0o1777))
	ts := time.Unix(1700000000, 0)
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{{Sec: ts.Unix()}, {Sec: ts.Unix()}}, unix.AT_SYMLINK_NOFOLLOW)
	}))

	want, err := FromDir(dir, Options{SpoolDir: t.TempDir()})
	must(t, err)
	defer want.Close()
	out, err := exec.Command(tarTool, "--numeric-owner", "-C", dir, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatalf("tar: %v", err)
	}
	got, err := FromTar(bytes.NewReader(out), Options{SpoolDir: t.TempDir()})
	must(t, err)
	defer got.Close()
	if w, g := listing(t, want), listing(t, got); w != g {
		t.Errorf("FromTar differs from FromDir:\n--- FromDir\n%s--- FromTar\n%s", w, g)
	}
}

// TestFromTarOrder: members without their parents, and a directory after
// its entries, as hand-made archives have them.
func TestFromTarOrder(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data string) {
		h.Size = int64(len(data))
		must(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(data))
		must(t, err)
	}
	mt := time.Unix(1000, 0)
	add(&tar.Header{Name: "a/b/c", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 7, Gid: 8, ModTime: mt}, "data")
	add(&tar.Header{Name: "a/b/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1, Gid: 2, ModTime: mt}, "")
	add(&tar.Header{Name: "a/h", Typeflag: tar.TypeLink, Linkname: "a/b/c", ModTime: mt}, "")
	must(t, tw.Close())
	got, err := FromTar(&buf, Options{SpoolDir: t.TempDir()})
	must(t, err)
	defer got.Close()
	want := `/ dir 0755 0:0 0 "" 0,0 links=1
/a dir 0755 0:0 0 "" 0,0 links=1
/a/b dir 0750 1:2 1000 "" 0,0 links=1
/a/b/c regular 0640 7:8 1000 "" 0,0 links=2 "data"
/a/h regular 0640 7:8 1000 "" 0,0 links=2 "data"
`
	if g := listing(t, got); g != want {
		t.Errorf("got\n%swant\n%s", g, want)
	}
}

// TestFromTarErrors: names leaving the root, dangling hard links, a
// truncated stream and unknown member types are errors naming the member.
func TestFromTarErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    tar.Header
		want string
	}{
		{"dotdot", tar.Header{Name: "../etc/passwd", Typeflag: tar.TypeReg}, "leaves the root"},
		{"dangling link", tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "nowhere"}, "comes later or not at all"},
		{"link out", tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "../y"}, "leaves the root"},
		{"contiguous", tar.Header{Name: "x", Typeflag: tar.TypeCont}, "unsupported tar member type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			must(t, tw.WriteHeader(&tc.h))
			must(t, tw.Close())
			tr, err := FromTar(&buf, Options{SpoolDir: t.TempDir()})
			if err == nil {
				tr.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.h.Name) {
				t.Errorf("error %q does not say %q and name the member", err, tc.want)
			}
		})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 4000}))
	_, err := tw.Write(make([]byte, 1000))
	must(t, err)
	tr, err := FromTar(bytes.NewReader(buf.Bytes()[:1536]), Options{SpoolDir: t.TempDir()})
	if err == nil {
		tr.Close()
		t.Fatal("a truncated stream read without error")
	}
}
