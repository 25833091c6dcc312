package ext3

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

// content is a regular file's bytes: zeros with data segments on top, so
// that huge sparse files cost nothing to describe.
type content struct {
	size int64
	segs []seg // sorted, not overlapping
}

type seg struct {
	off  int64
	data []byte
}

func dense(b []byte) *content { return &content{size: int64(len(b)), segs: []seg{{0, b}}} }

func (c *content) reader() io.Reader { return &contentReader{c: c} }

type contentReader struct {
	c   *content
	pos int64
}

func (r *contentReader) Read(p []byte) (int, error) {
	c := r.c
	if r.pos >= c.size {
		return 0, io.EOF
	}
	if int64(len(p)) > c.size-r.pos {
		p = p[:c.size-r.pos]
	}
	clear(p)
	for _, s := range c.segs {
		end := s.off + int64(len(s.data))
		if end <= r.pos || s.off >= r.pos+int64(len(p)) {
			continue
		}
		lo := max(s.off, r.pos)
		hi := min(end, r.pos+int64(len(p)))
		copy(p[lo-r.pos:hi-r.pos], s.data[lo-s.off:hi-s.off])
	}
	r.pos += int64(len(p))
	return len(p), nil
}

// hashLimit: larger (sparse) files are compared by their data segments.
const hashLimit = 512 << 20

func (c *content) sum() [32]byte {
	if c.size > hashLimit {
		return [32]byte{}
	}
	if len(c.segs) == 1 && c.segs[0].off == 0 && int64(len(c.segs[0].data)) == c.size {
		return sha256.Sum256(c.segs[0].data)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, c.reader(), make([]byte, min(1<<20, c.size+1))); err != nil {
		panic(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// entry is one thing to write: a header and, for regular files, content.
type entry struct {
	h Header
	c *content
}

func writeImage(t testing.TB, o Options, entries []entry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fs.img")
	if err := writeImageTo(p, o, entries); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeImageTo(p string, o Options, entries []entry) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := NewWriter(f, o)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for _, e := range entries {
		h := e.h
		if e.c != nil {
			h.Size = e.c.size
		}
		if err := w.WriteHeader(&h); err != nil {
			return err
		}
		if e.c != nil {
			if _, err := io.CopyBuffer(w, e.c.reader(), buf); err != nil {
				return fmt.Errorf("writing %s: %w", h.Name, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

// fsck runs e2fsck -fn and fails on a non-zero exit or any complaint.
func fsck(t testing.TB, img string) {
	t.Helper()
	e2fsck := testenv.Tool(t, "e2fsck")
	out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput()
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "", strings.HasPrefix(line, "e2fsck "), strings.HasPrefix(line, "Pass "),
			strings.Contains(line, " files (") && strings.Contains(line, " blocks"):
		default:
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
}

// fact is what a tree walk learns about one path.
type fact struct {
	mode  fs.FileMode
	uid   uint32
	gid   uint32
	mtime int64
	size  int64
	sum   [32]byte
	link  string
	rdev  [2]uint32
	nlink uint64
	group string // smallest path sharing the inode (hard links)
}

func (f fact) String() string {
	return fmt.Sprintf("%v uid=%d gid=%d mtime=%d size=%d sum=%x link=%q rdev=%v nlink=%d group=%q",
		f.mode, f.uid, f.gid, f.mtime, f.size, f.sum[:4], f.link, f.rdev, f.nlink, f.group)
}

// walkFacts reads a host tree (a debugfs rdump or a mounted image).
func walkFacts(t testing.TB, root string) map[string]fact {
	t.Helper()
	facts := map[string]fact{}
	byIno := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			rel = ""
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		f := fact{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: st.Mtim.Sec, nlink: uint64(st.Nlink)}
		switch fi.Mode().Type() {
		case 0:
			f.size = fi.Size()
			if f.size > hashLimit {
				break // checked by checkSegments
			}
			b, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, b)
			b.Close()
			if err != nil {
				return err
			}
			copy(f.sum[:], h.Sum(nil))
		case fs.ModeSymlink:
			f.link, _ = os.Readlink(p)
		case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
			r := uint64(st.Rdev)
			f.rdev = [2]uint32{uint32((r>>8)&0xfff | (r>>32)&^0xfff), uint32(r&0xff | (r>>12)&^0xff)}
		}
		if !fi.IsDir() {
			if g, ok := byIno[st.Ino]; ok {
				f.group = g
			} else {
				byIno[st.Ino] = rel
				f.group = rel
			}
		}
		facts[rel] = f
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return facts
}

// expectFacts simulates the writer's semantics on entries.
func expectFacts(o Options, entries []entry) map[string]fact {
	if o.Epoch.IsZero() {
		o.Epoch = time.Unix(0, 0)
	}
	ep := o.Epoch.Unix()
	m := map[string]fact{
		"":           {mode: fs.ModeDir | 0755, mtime: ep, nlink: 3},
		"lost+found": {mode: fs.ModeDir | 0700, mtime: ep, nlink: 2},
	}
	var mkdirs func(p string)
	mkdirs = func(p string) {
		if _, ok := m[p]; ok || p == "" {
			return
		}
		parent := path.Dir(p)
		if parent == "." {
			parent = ""
		}
		mkdirs(parent)
		m[p] = fact{mode: fs.ModeDir | 0755, mtime: ep, nlink: 2}
		pf := m[parent]
		pf.nlink++
		m[parent] = pf
	}
	for _, e := range entries {
		name := strings.Trim(path.Clean("/"+e.h.Name), "/")
		parent := path.Dir(name)
		if parent == "." {
			parent = ""
		}
		if name != "" {
			mkdirs(parent)
		}
		mt := e.h.ModTime
		if mt.IsZero() {
			mt = o.Epoch
		}
		if e.h.Hardlink != "" {
			target := strings.Trim(path.Clean("/"+e.h.Hardlink), "/")
			f := m[target]
			f.group = target
			m[name] = f
			for p, g := range m {
				if p == target || (g.group == target && !g.mode.IsDir()) {
					g.nlink = f.nlink + 1
					g.group = target
					m[p] = g
				}
			}
			continue
		}
		f := fact{mode: e.h.Mode, uid: e.h.Uid, gid: e.h.Gid, mtime: mt.Unix(), link: e.h.Linkname, nlink: 1, group: name}
		if e.h.Mode.IsDir() {
			old, ok := m[name]
			f.group = ""
			f.nlink = 2
			if ok {
				f.nlink = old.nlink
			} else {
				pf := m[parent]
				pf.nlink++
				m[parent] = pf
			}
		}
		if e.c != nil {
			f.size = e.c.size
			f.sum = e.c.sum()
		} else if e.h.Mode.IsRegular() {
			f.sum = sha256.Sum256(nil)
		}
		if e.h.Mode&fs.ModeDevice != 0 {
			f.rdev = [2]uint32{e.h.Devmajor, e.h.Devminor}
		}
		m[name] = f
	}
	// Group names are the smallest path, as walkFacts finds them.
	groups := map[string]string{}
	for p, f := range m {
		if f.mode.IsDir() {
			continue
		}
		if g, ok := groups[f.group]; !ok || p < g {
			groups[f.group] = p
		}
	}
	for p, f := range m {
		if !f.mode.IsDir() {
			f.group = groups[f.group]
			m[p] = f
		}
	}
	return m
}

// compareFacts reports differences. rdump=true ignores what debugfs rdump
// does not reproduce: special files, link counts, hard link sharing, times
// and owners of symlinks.
func compareFacts(t testing.TB, what string, got, want map[string]fact, rdump bool) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	errs := 0
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if rdump && wok {
			switch w.mode.Type() {
			case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice, fs.ModeNamedPipe, fs.ModeSocket:
				continue
			case fs.ModeSymlink:
				w = fact{mode: w.mode.Type(), link: w.link}
				g = fact{mode: g.mode.Type(), link: g.link}
			}
			w.nlink, g.nlink, w.group, g.group = 0, 0, "", ""
			// debugfs rdump drops set-id and sticky bits.
			w.mode &^= fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
			g.mode &^= fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
			// debugfs sees 32 bits of time, ignoring the extra
			// epoch bits of large inodes (the mount checks those).
			w.mtime, g.mtime = int64(uint32(w.mtime)), int64(uint32(g.mtime))
		}
		if !wok || !gok || w != g {
			errs++
			if errs <= 20 {
				t.Errorf("%s: %q:\n got  %v (present %v)\n want %v (present %v)", what, k, g, gok, w, wok)
			}
		}
	}
	if errs > 20 {
		t.Errorf("%s: %d differences in all", what, errs)
	}
}

// rdumpCheck extracts the image with debugfs and compares it.
// Top-level directories named in skip are left out.
func rdumpCheck(t testing.TB, img string, want map[string]fact, skip ...string) {
	t.Helper()
	debugfs := testenv.Tool(t, "debugfs")
	dir := filepath.Join(t.TempDir(), "rdump")
	if err := os.Mkdir(dir, 0755); err != nil {
		t.Fatal(err)
	}
	src := "/"
	if len(skip) > 0 {
		sub := map[string]fact{}
		var tops []string
		for p, f := range want {
			top, _, _ := strings.Cut(p, "/")
			if p == "" || slices.Contains(skip, top) {
				continue
			}
			if !strings.Contains(p, "/") {
				tops = append(tops, "/"+p)
			}
			sub[p] = f
		}
		sort.Strings(tops)
		src = strings.Join(tops, " ")
		sub[""] = fact{mode: fs.ModeDir | 0700}
		want = sub
		if err := os.Chmod(dir, 0700); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(debugfs, "-R", "rdump "+src+" "+dir, img).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("rror")) {
		t.Fatalf("debugfs rdump: %v\n%s", err, out)
	}
	got := walkFacts(t, dir)
	if len(skip) > 0 {
		got[""] = fact{mode: fs.ModeDir | 0700}
	}
	compareFacts(t, "rdump", got, want, true)
	os.RemoveAll(dir)
}

// mountCheck mounts the image read-only with the kernel and compares the
// tree, special files, link counts and hard links included.
func mountCheck(t testing.TB, img string, want map[string]fact, big ...entry) {
	t.Helper()
	testenv.Root(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0755); err != nil {
		t.Fatal(err)
	}
	fstype := "ext2"
	if out, err := exec.Command("dumpe2fs", "-h", img).Output(); err == nil && bytes.Contains(out, []byte("has_journal")) {
		fstype = "ext3"
	}
	out, err := exec.Command("mount", "-t", fstype, "-o", "loop,ro", img, mnt).CombinedOutput()
	if err != nil {
		// The kernel may have only ext4, which mounts ext2/ext3 too.
		out2, err2 := exec.Command("mount", "-o", "loop,ro", img, mnt).CombinedOutput()
		if err2 != nil {
			t.Fatalf("mount %s: %v\n%s\n%s", img, err2, out, out2)
		}
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	}()
	compareFacts(t, "mount", walkFacts(t, mnt), want, false)
	for _, c := range big {
		checkSegments(t, filepath.Join(mnt, c.h.Name), c.c)
	}
}

// checkSegments compares a large sparse file by its data segments and the
// zeros around them.
func checkSegments(t testing.TB, p string, c *content) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range c.segs {
		lo := max(0, s.off-4096)
		hi := min(c.size, s.off+int64(len(s.data))+4096)
		got := make([]byte, hi-lo)
		if _, err := f.ReadAt(got, lo); err != nil && err != io.EOF {
			t.Fatalf("reading %s at %d: %v", p, lo, err)
		}
		want := make([]byte, hi-lo)
		if _, err := io.ReadFull(io.NewSectionReader(readerAt{c}, lo, hi-lo), want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: bytes %d..%d differ", p, lo, hi)
		}
	}
}

type readerAt struct{ c *content }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	cr := &contentReader{c: r.c, pos: off}
	return io.ReadFull(cr, p)
}

func TestWriterSmallTree(t *testing.T) {
	o := Options{Size: 32 << 20, BlockSize: 1024, Journal: true, Epoch: time.Unix(1700000000, 0)}
	entries := []entry{
		{h: Header{Name: "etc", Mode: fs.ModeDir | 0755, ModTime: time.Unix(1600000000, 0)}},
		{h: Header{Name: "etc/passwd", Mode: 0644, ModTime: time.Unix(1600000001, 5)}, c: dense([]byte("root:x:0:0::/root:/bin/sh\n"))},
		{h: Header{Name: "a/b/c/d", Mode: 0600, Uid: 100000, Gid: 70000}, c: dense([]byte("deep"))},
	}
	img := writeImage(t, o, entries)
	fsck(t, img)
	want := expectFacts(o, entries)
	rdumpCheck(t, img, want)
	mountCheck(t, img, want)
}
