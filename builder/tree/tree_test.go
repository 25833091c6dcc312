package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

func newTree(t *testing.T, opts Options) *Tree {
	t.Helper()
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var dirMeta = Meta{Mode: 0o755}

func TestResolve(t *testing.T) {
	tr := newTree(t, Options{})
	must(t, tr.MkdirAll("/usr/bin", dirMeta))
	must(t, tr.MkdirAll("/usr/lib/x", dirMeta))
	must(t, tr.MkdirAll("/etc", dirMeta))
	must(t, tr.Symlink("usr/bin", "/bin", Meta{}))
	must(t, tr.Symlink("/", "/rootlink", Meta{}))
	must(t, tr.Symlink("../../../../..", "/usr/lib/x/up", Meta{}))
	must(t, tr.Symlink("/etc/../../../usr", "/abs", Meta{}))
	must(t, tr.Symlink("loop2", "/loop1", Meta{}))
	must(t, tr.Symlink("loop1", "/loop2", Meta{}))
	must(t, tr.Symlink("missing/x", "/dangling", Meta{}))
	must(t, tr.WriteFile("/usr/bin/true", Meta{Mode: 0o755}, []byte("#!")))
	must(t, tr.Symlink("true", "/usr/bin/alias", Meta{}))

	for _, tc := range []struct {
		path        string
		followFinal bool
		want        string
		err         error
	}{
		{"bin/true", true, "/usr/bin/true", nil},
		{"/bin/alias", true, "/usr/bin/true", nil},
		{"/bin/alias", false, "/usr/bin/alias", nil},
		{"./bin/new", false, "/usr/bin/new", nil},
		{"/rootlink/bin/true", true, "/usr/bin/true", nil},
		{"/rootlink/../../../etc", false, "/etc", nil},
		{"/usr/lib/x/up/etc/passwd", false, "/etc/passwd", nil},
		{"/abs/bin", true, "/usr/bin", nil},
		{"/loop1/x", false, "", ErrLoop},
		{"/loop1", true, "", ErrLoop},
		{"/loop1", false, "/loop1", nil},
		{"/dangling/y", false, "", fs.ErrNotExist},
		{"/usr/bin/true/x", false, "", ErrNotDir},
		{"..", false, "/", nil},
		{"/", false, "/", nil},
	} {
		got, err := tr.Resolve(tc.path, tc.followFinal)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Resolve(%q, %v) = %q, %v; want %q, %v", tc.path, tc.followFinal, got, err, tc.want, tc.err)
		}
	}
	n, err := tr.Lookup("/rootlink/bin/alias")
	must(t, err)
	if b, _ := tr.ReadFile("/rootlink/bin/alias"); n.Type != TypeRegular || string(b) != "#!" {
		t.Errorf("Lookup through links: %v %q", n.Type, b)
	}
	if _, err := tr.Lookup("/dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup dangling: %v", err)
	}
	// Creating through a link to the root lands inside the tree.
	must(t, tr.WriteFile("/usr/lib/x/up/etc/escape", Meta{Mode: 0o644}, []byte("x")))
	if b, err := tr.ReadFile("/etc/escape"); err != nil || string(b) != "x" {
		t.Errorf("write through ../../..: %q %v", b, err)
	}
}

func TestCreateThroughLinks(t *testing.T) {
	tr := newTree(t, Options{})
	must(t, tr.MkdirAll("/etc", dirMeta))
	must(t, tr.Symlink("/", "/r", Meta{}))
	must(t, tr.Symlink("../../..", "/etc/up", Meta{}))
	must(t, tr.WriteFile("/r/etc/a", Meta{Mode: 0o644}, []byte("a")))
	must(t, tr.WriteFile("/etc/up/etc/b", Meta{Mode: 0o644}, []byte("b")))
	for _, p := range []string{"/etc/a", "/etc/b"} {
		if _, err := tr.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := tr.WriteFile("/", Meta{}, nil); !errors.Is(err, ErrRoot) {
		t.Errorf("writing the root: %v", err)
	}
	if err := tr.WriteFile("/etc", Meta{}, nil); !errors.Is(err, ErrIsDir) {
		t.Errorf("writing over a directory: %v", err)
	}
}

func TestHardLinksAndReplace(t *testing.T) {
	tr := newTree(t, Options{InlineMax: 4})
	must(t, tr.MkdirAll("/a", dirMeta))
	must(t, tr.WriteFile("/a/f", Meta{Mode: 0o644}, []byte("first content")))
	must(t, tr.Link("/a/f", "/a/g"))
	n, _ := tr.Lstat("/a/f")
	if n.Links() != 2 {
		t.Fatalf("links = %d", n.Links())
	}
	// Replacing one name (tar: unlink, create) leaves the other intact.
	must(t, tr.WriteFile("/a/f", Meta{Mode: 0o600}, []byte("second")))
	if n.Links() != 1 {
		t.Errorf("links after replace = %d", n.Links())
	}
	b, _ := tr.ReadFile("/a/g")
	c, _ := tr.ReadFile("/a/f")
	if string(b) != "first content" || string(c) != "second" {
		t.Errorf("g=%q f=%q", b, c)
	}
	if err := tr.Link("/a", "/b"); !errors.Is(err, ErrIsDir) {
		t.Errorf("linking a directory: %v", err)
	}
	must(t, tr.Remove("/a/g"))
	if n.Links() != 0 {
		t.Errorf("links after remove = %d", n.Links())
	}
	if err := tr.Remove("/a"); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("removing non-empty dir: %v", err)
	}
	must(t, tr.RemoveAll("/a"))
	if _, err := tr.Lstat("/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
}

func TestRename(t *testing.T) {
	tr := newTree(t, Options{})
	must(t, tr.MkdirAll("/lib/tls/x", dirMeta))
	must(t, tr.WriteFile("/lib/tls/x/f", Meta{Mode: 0o644}, []byte("f")))
	must(t, tr.Rename("/lib/tls", "/lib/tls.disabled"))
	if b, err := tr.ReadFile("/lib/tls.disabled/x/f"); err != nil || string(b) != "f" {
		t.Errorf("after rename: %q %v", b, err)
	}
	if err := tr.Rename("/lib", "/lib/tls.disabled/x/y"); err == nil {
		t.Error("moving a directory below itself succeeded")
	}
	must(t, tr.WriteFile("/a", Meta{}, []byte("a")))
	must(t, tr.WriteFile("/b", Meta{}, []byte("b")))
	must(t, tr.Rename("/a", "/b"))
	if b, _ := tr.ReadFile("/b"); string(b) != "a" {
		t.Errorf("rename over file: %q", b)
	}
	if err := tr.Rename("/b", "/lib"); !errors.Is(err, ErrIsDir) {
		t.Errorf("file over dir: %v", err)
	}
}

func TestWalkOrder(t *testing.T) {
	tr := newTree(t, Options{})
	for _, p := range []string{"/z", "/a/c", "/a/b", "/B"} {
		must(t, tr.MkdirAll(p, dirMeta))
	}
	must(t, tr.Mknod("/a/null", TypeChar, Meta{Mode: 0o666}, 1, 3))
	var got []string
	must(t, tr.Walk(func(p string, n *Node) error {
		got = append(got, p)
		if p == "/a/b" {
			return fs.SkipDir
		}
		return nil
	}))
	want := "/ /B /a /a/b /a/c /a/null /z"
	if strings.Join(got, " ") != want {
		t.Errorf("walk = %q, want %q", strings.Join(got, " "), want)
	}
}

func TestStore(t *testing.T) {
	tr := newTree(t, Options{InlineMax: 8})
	big := bytes.Repeat([]byte("0123456789"), 100000)
	for _, b := range [][]byte{nil, []byte("small"), big} {
		c, err := tr.StoreBytes(b)
		must(t, err)
		rc, err := c.Open()
		must(t, err)
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		if !bytes.Equal(buf.Bytes(), b) || c.Size() != int64(len(b)) {
			t.Errorf("content of %d bytes read back as %d", len(b), buf.Len())
		}
	}
	if tr.SpoolSize() != int64(len(big)) {
		t.Errorf("spool = %d bytes, want %d", tr.SpoolSize(), len(big))
	}
	if _, err := tr.Store(strings.NewReader("short"), 100); err == nil {
		t.Error("short content stored")
	}
}

// TestMaterializeRoundTrip writes a tree to disk as root, checks it with
// find(1), and reads it back.
func TestMaterializeRoundTrip(t *testing.T) {
	testenv.Root(t)
	find := testenv.Tool(t, "find")
	tr := newTree(t, Options{InlineMax: 16})
	must(t, tr.MkdirAll("/usr/bin", Meta{Mode: 0o755, Mtime: 1000}))
	must(t, tr.Mkdir("/ro", Meta{Mode: 0o555, UID: 7, GID: 8, Mtime: 2000}))
	must(t, tr.WriteFile("/ro/file", Meta{Mode: 0o4755, UID: 1, GID: 2, Mtime: 3000}, bytes.Repeat([]byte("x"), 5000)))
	must(t, tr.Link("/ro/file", "/usr/bin/hard"))
	must(t, tr.Symlink("usr/bin", "/bin", Meta{UID: 3, GID: 4, Mtime: 4000}))
	must(t, tr.Mknod("/null", TypeChar, Meta{Mode: 0o666, Mtime: 5000}, 1, 3))
	must(t, tr.Mknod("/fifo", TypeFifo, Meta{Mode: 0o600, Mtime: 6000}, 0, 0))
	must(t, tr.Chtimes("/", 7000))
	dir := filepath.Join(t.TempDir(), "root")
	must(t, tr.Materialize(dir, MaterializeOptions{Owners: true, Devices: true}))

	out, err := exec.Command(find, dir, "-printf", "%P %y %#m %U:%G %T@ %s %l %n\n").Output()
	must(t, err)
	got := string(out)
	for _, want := range []string{
		"ro d 0555 7:8 2000.0000000000 ",
		"ro/file f 04755 1:2 3000.0000000000 5000  2",
		"usr/bin/hard f 04755 1:2 3000.0000000000 5000  2",
		"bin l 0777 3:4 4000.0000000000 7 usr/bin 1",
		"null c 0666 0:0 5000.0000000000 ",
		"fifo p 0600 0:0 6000.0000000000 ",
		" d 0755 0:0 7000.0000000000 ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("find output lacks %q:\n%s", want, got)
		}
	}

	back, err := FromDir(dir, Options{})
	must(t, err)
	defer back.Close()
	dump := func(tr *Tree) string {
		var sb strings.Builder
		tr.Walk(func(p string, n *Node) error {
			fmt.Fprintf(&sb, "%s %s %o %d:%d %d %d %q %d,%d %d\n", p, n.Type, n.Mode, n.UID, n.GID, n.Mtime, n.Size(), n.Target, n.Major, n.Minor, n.Links())
			return nil
		})
		return sb.String()
	}
	if a, b := dump(tr), dump(back); a != b {
		t.Errorf("round trip differs:\nwrote:\n%s\nread:\n%s", a, b)
	}
	b1, _ := tr.ReadFile("/bin/hard")
	b2, err := back.ReadFile("/bin/hard")
	if err != nil || !bytes.Equal(b1, b2) {
		t.Errorf("content differs after round trip: %v", err)
	}
	if err := tr.Materialize(dir, MaterializeOptions{}); err == nil {
		t.Error("materializing into a non-empty directory succeeded")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Log(err)
	}
}

// TestOnClose: the hook runs once, on the first Close, and its error is
// Close's.
func TestOnClose(t *testing.T) {
	calls := 0
	tr, err := New(Options{SpoolDir: t.TempDir(), OnClose: func() error {
		calls++
		return errors.New("unmount failed")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err == nil || err.Error() != "unmount failed" {
		t.Errorf("first Close: %v, want the hook's error", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if calls != 1 {
		t.Errorf("hook ran %d times, want 1", calls)
	}
}

// TestMaterializeMerge writes a second tree over a first one, as the
// second stage adds the base packages over the configured required ones.
func TestMaterializeMerge(t *testing.T) {
	find := testenv.Tool(t, "find")
	dir := filepath.Join(t.TempDir(), "root")
	a := newTree(t, Options{})
	must(t, a.MkdirAll("/usr/bin", Meta{Mode: 0o755, Mtime: 1000}))
	must(t, a.Symlink("usr/bin", "/bin", Meta{Mtime: 1000}))
	must(t, a.MkdirAll("/etc", Meta{Mode: 0o755, Mtime: 1000}))
	must(t, a.WriteFile("/etc/old", Meta{Mode: 0o644, Mtime: 1000}, []byte("from a\n")))
	must(t, a.WriteFile("/usr/bin/ls", Meta{Mode: 0o755, Mtime: 1000}, []byte("ls")))
	must(t, a.Symlink("ls", "/usr/bin/dir", Meta{Mtime: 1000}))
	must(t, a.Materialize(dir, MaterializeOptions{}))
	// What the first tree's configuration did: a directory's mode changed.
	must(t, os.Chmod(filepath.Join(dir, "etc"), 0o750))

	b := newTree(t, Options{})
	must(t, b.MkdirAll("/usr/bin", Meta{Mode: 0o755, Mtime: 2000}))
	must(t, b.Symlink("usr/bin", "/bin", Meta{Mtime: 2000}))
	must(t, b.MkdirAll("/etc/ssh", Meta{Mode: 0o700, Mtime: 2000}))
	must(t, b.WriteFile("/etc/old", Meta{Mode: 0o600, Mtime: 2000}, []byte("from b\n")))
	must(t, b.WriteFile("/bin/ssh", Meta{Mode: 0o755, Mtime: 2000}, []byte("ssh"))) // through the link
	must(t, b.Link("/bin/ssh", "/usr/bin/slogin"))
	must(t, b.Symlink("ssh", "/usr/bin/dir", Meta{Mtime: 2000}))
	must(t, b.Materialize(dir, MaterializeOptions{Merge: true}))

	out, err := exec.Command(find, dir, "-printf", "%P %y %#m %T@ %s %l %n\n").Output()
	must(t, err)
	got := string(out)
	for _, want := range []string{
		"bin l 0777 1000.0000000000 7 usr/bin 1",     // the same link is kept
		"etc d 0750 ",                                // an existing directory keeps its metadata
		"etc/ssh d 0700 2000.0000000000 ",            // a new one gets the tree's
		"etc/old f 0600 2000.0000000000 7  1",        // a file is replaced
		"usr/bin/ls f 0755 1000.0000000000 2  1",     // the first tree's files stay
		"usr/bin/ssh f 0755 2000.0000000000 3  2",    // written through the link
		"usr/bin/slogin f 0755 2000.0000000000 3  2", // hard links within the tree
		"usr/bin/dir l 0777 2000.0000000000 3 ssh 1", // a link with another target is replaced
	} {
		if !strings.Contains(got, want) {
			t.Errorf("find output lacks %q:\n%s", want, got)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/old")); err != nil || string(b) != "from b\n" {
		t.Errorf("/etc/old = %q, %v", b, err)
	}

	// A directory over a file, or a file over a directory, is refused.
	c := newTree(t, Options{})
	must(t, c.MkdirAll("/etc/old", Meta{Mode: 0o755}))
	if err := c.Materialize(dir, MaterializeOptions{Merge: true}); err == nil || !strings.Contains(err.Error(), "/etc/old") {
		t.Errorf("directory over a file: %v", err)
	}
	d := newTree(t, Options{})
	must(t, d.MkdirAll("/", Meta{Mode: 0o755}))
	must(t, d.WriteFile("/etc", Meta{Mode: 0o644}, nil))
	if err := d.Materialize(dir, MaterializeOptions{Merge: true}); err == nil || !strings.Contains(err.Error(), "etc") {
		t.Errorf("file over a directory: %v", err)
	}
}
