package ext3

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

// mnode is the model of one file for the random edit tests.
type mnode struct {
	kind   byte // 'f', 'd', 'l'
	data   []byte
	target string
	perm   fs.FileMode
	uid    uint32
	gid    uint32
	kids   map[string]*mnode
}

type model struct{ root *mnode }

func (m *model) get(p string) (*mnode, *mnode, string) {
	cur := m.root
	var parent *mnode
	name := ""
	for _, c := range splitPath(p) {
		if cur == nil || cur.kind != 'd' {
			return nil, nil, ""
		}
		parent, name = cur, c
		cur = cur.kids[c]
	}
	return cur, parent, name
}

// paths lists every path of the model, sorted, root excluded.
func (m *model) paths() []string {
	var out []string
	var rec func(n *mnode, p string)
	rec = func(n *mnode, p string) {
		names := make([]string, 0, len(n.kids))
		for k := range n.kids {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			q := path.Join(p, k)
			out = append(out, q)
			if n.kids[k].kind == 'd' {
				rec(n.kids[k], q)
			}
		}
	}
	rec(m.root, "")
	return out
}

func subdirs(n *mnode) int {
	c := 0
	for _, k := range n.kids {
		if k.kind == 'd' {
			c++
		}
	}
	return c
}

// loadModel builds the model from a source directory (no hard links).
func loadModel(t testing.TB, src string) *model {
	m := &model{root: &mnode{kind: 'd', perm: 0o755, kids: map[string]*mnode{}}}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		info, _ := d.Info()
		_, parent, name := m.get(filepath.ToSlash(rel))
		n := &mnode{perm: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case d.IsDir():
			n.kind, n.kids = 'd', map[string]*mnode{}
		case d.Type()&fs.ModeSymlink != 0:
			n.kind = 'l'
			n.target, _ = os.Readlink(p)
		default:
			n.kind = 'f'
			n.data, _ = os.ReadFile(p)
		}
		parent.kids[name] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m.root.kids["lost+found"] = &mnode{kind: 'd', perm: 0o700, kids: map[string]*mnode{}}
	return m
}

// checkModel compares the image, read through a fresh read-only FS, with
// the model.
func checkModel(t testing.TB, img string, m *model) {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	x, err := Open(fh, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." {
			got = append(got, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking image: %v", err)
	}
	sort.Strings(got)
	want := m.paths()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tree differs:\n got %d paths\nwant %d paths\nfirst got %v\nfirst want %v", len(got), len(want), head(got), head(want))
	}
	for _, p := range want {
		n, _, _ := m.get(p)
		fi, err := x.Lstat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		xi := fi.(*FileInfo)
		if p != "lost+found" && (xi.UID != n.uid || xi.GID != n.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, xi.UID, xi.GID, n.uid, n.gid)
		}
		if n.kind != 'l' && xi.FileMode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != n.perm {
			t.Errorf("%s: mode %v, want %v", p, xi.FileMode, n.perm)
		}
		switch n.kind {
		case 'f':
			b, err := x.ReadFile(p)
			if err != nil || !bytes.Equal(b, n.data) {
				t.Errorf("%s: content (%d bytes, %v), want %d bytes", p, len(b), err, len(n.data))
			}
			if xi.Nlink != 1 {
				t.Errorf("%s: nlink %d", p, xi.Nlink)
			}
		case 'l':
			if xi.Target != n.target {
				t.Errorf("%s: target %q, want %q", p, xi.Target, n.target)
			}
		case 'd':
			if int(xi.Nlink) != 2+subdirs(n) {
				t.Errorf("%s: nlink %d, want %d", p, xi.Nlink, 2+subdirs(n))
			}
		}
	}
}

func head(s []string) []string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// mountCheck mounts the image read-only with the kernel and compares.
func mountCheckModel(t testing.TB, img string, m *model) {
	t.Helper()
	testenv.Root(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("mount: %v\n%s", err, out)
		}
		t.Logf("mount unavailable: %v %s", err, out)
		return
	}
	defer exec.Command("umount", mnt).Run()
	for _, p := range m.paths() {
		n, _, _ := m.get(p)
		full := filepath.Join(mnt, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(full, &st); err != nil {
			t.Errorf("kernel: %s: %v", p, err)
			continue
		}
		switch n.kind {
		case 'f':
			b, err := os.ReadFile(full)
			if err != nil || !bytes.Equal(b, n.data) {
				t.Errorf("kernel: %s: content differs (%v)", p, err)
			}
		case 'l':
			if tg, _ := os.Readlink(full); tg != n.target {
				t.Errorf("kernel: %s: target %q", p, tg)
			}
		case 'd':
			ents, err := os.ReadDir(full)
			if err != nil || len(ents) != len(n.kids) {
				t.Errorf("kernel: %s: %d entries, want %d (%v)", p, len(ents), len(n.kids), err)
			}
		}
	}
}

// smallTree is the starting tree of the edit tests: files around the
// block map boundaries, symlinks, and a directory large enough to be hashed.
func smallTree(t testing.TB, dir string) {
	rng := rand.New(rand.NewSource(7))
	w := func(p string, n int) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		b := make([]byte, n)
		rng.Read(b)
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("etc/hostname", 9)
	w("etc/hosts", 200)
	w("f12", 12*1024)
	w("f13", 13*1024)
	w("f268", 268*1024+1)
	for i := 0; i < 300; i++ {
		w(fmt.Sprintf("hashed/name-%04d-padding-padding", i), 10)
	}
	os.Symlink(strings.Repeat("s", 59), filepath.Join(dir, "s59"))
	os.Symlink(strings.Repeat("s", 60), filepath.Join(dir, "s60"))
	os.MkdirAll(filepath.Join(dir, "d1/d2"), 0o755)
}

// editImage makes an image of a small tree, with hashed directories
// (e2fsck -fyD), ready for editing.
func editImage(t testing.TB, c imgConfig) (string, *model) {
	src := t.TempDir()
	smallTree(t, src)
	img := mkfs(t, src, c)
	e2fsck := testenv.Tool(t, "e2fsck")
	// -D indexes every directory; exit status 1 means "changed", fine.
	if out, err := exec.Command(e2fsck, "-fyD", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
		}
	}
	efsck(t, img)
	return img, loadModel(t, src)
}

var sizeChoices = []int{0, 1, 1023, 1024, 1025, 4096, 4097, 12 * 1024, 12*1024 + 1, 12 * 4096, 12*4096 + 1, 268 * 1024, 268*1024 + 1}

// randomEdits applies n seeded random operations to the image and the
// model, checking with e2fsck and the reader every check operations.
func randomEdits(t *testing.T, img string, m *model, seed int64, n, check int) {
	rng := rand.New(rand.NewSource(seed))
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	x, err := Open(fh, OpenOptions{Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(kinds string) string {
		var c []string
		for _, p := range m.paths() {
			if nd, _, _ := m.get(p); strings.IndexByte(kinds, nd.kind) >= 0 && p != "lost+found" {
				c = append(c, p)
			}
		}
		if len(c) == 0 {
			return ""
		}
		return c[rng.Intn(len(c))]
	}
	newName := func() string {
		dir := pick("d")
		if rng.Intn(4) == 0 {
			dir = ""
		}
		return path.Join(dir, fmt.Sprintf("n%d", rng.Intn(1000)))
	}
	isUnder := func(p, anc string) bool { return p == anc || strings.HasPrefix(p, anc+"/") }
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		op := rng.Intn(10)
		var desc string
		var err error
		var ok bool // whether the model says the op must succeed
		switch op {
		case 0, 1, 2: // write a file
			p := newName()
			if rng.Intn(2) == 0 {
				if q := pick("f"); q != "" {
					p = q
				}
			}
			size := sizeChoices[rng.Intn(len(sizeChoices))]
			if rng.Intn(3) == 0 {
				size = rng.Intn(100000)
			}
			data := make([]byte, size)
			rng.Read(data)
			perm := []fs.FileMode{0o644, 0o600, 0o755, 0o755 | fs.ModeSetuid}[rng.Intn(4)]
			uid, gid := uint32(rng.Intn(3)*1000), uint32(rng.Intn(70000))
			desc = fmt.Sprintf("WriteFile(%s, %d bytes)", p, size)
			nd, parent, name := m.get(p)
			err = x.WriteFile(p, data, perm, uid, gid)
			ok = nd == nil || nd.kind == 'f'
			if err == nil && ok {
				parent.kids[name] = &mnode{kind: 'f', data: data, perm: perm, uid: uid, gid: gid}
			}
		case 3: // mkdir
			p := newName()
			nd, parent, name := m.get(p)
			desc = "Mkdir(" + p + ")"
			err = x.Mkdir(p, 0o750, 1, 2)
			ok = nd == nil
			if err == nil && ok {
				parent.kids[name] = &mnode{kind: 'd', perm: 0o750, uid: 1, gid: 2, kids: map[string]*mnode{}}
			}
		case 4: // symlink
			p := newName()
			nd, parent, name := m.get(p)
			target := strings.Repeat("t", []int{1, 59, 60, 61, 300}[rng.Intn(5)])
			desc = "Symlink(" + p + ")"
			err = x.Symlink(target, p, 0, 0)
			ok = nd == nil
			if err == nil && ok {
				parent.kids[name] = &mnode{kind: 'l', target: target, perm: 0o777}
			}
		case 5, 6: // remove
			p := pick("fdl")
			if p == "" {
				continue
			}
			nd, parent, name := m.get(p)
			desc = "Remove(" + p + ")"
			err = x.Remove(p)
			ok = nd.kind != 'd' || len(nd.kids) == 0
			if err == nil && ok {
				delete(parent.kids, name)
			}
		case 7, 8: // rename
			src := pick("fdl")
			if src == "" {
				continue
			}
			dst := newName()
			if rng.Intn(2) == 0 {
				dst = pick("fdl")
			}
			sn, sp, sname := m.get(src)
			dn, dp, dname := m.get(dst)
			desc = "Rename(" + src + ", " + dst + ")"
			err = x.Rename(src, dst)
			switch {
			case dp == nil:
				ok = false
			case sn.kind == 'd' && isUnder(dst, src) && dst != src:
				ok = false
			case dn == nil:
				ok = true
			case dn == sn:
				ok = true
			case sn.kind == 'd':
				ok = dn.kind == 'd' && len(dn.kids) == 0
			default:
				ok = dn.kind != 'd'
			}
			if err == nil && ok && dn != sn {
				delete(sp.kids, sname)
				dp.kids[dname] = sn
			}
		case 9: // chmod/chown
			p := pick("fd")
			if p == "" {
				continue
			}
			nd, _, _ := m.get(p)
			desc = "Chmod/Chown(" + p + ")"
			perm := []fs.FileMode{0o644, 0o700, 0o1777, 0o2755 | fs.ModeSetgid}[rng.Intn(4)] &^ 0o7000
			if err = x.Chmod(p, perm); err == nil {
				nd.perm = perm
				err = x.Chown(p, 5, 6)
				if err == nil {
					nd.uid, nd.gid = 5, 6
				}
			}
			ok = true
		}
		switch {
		case errors.Is(err, ErrNoSpace) || errors.Is(err, ErrNoInodes):
			counts["nospace"]++
		case ok && err != nil:
			t.Fatalf("op %d %s: %v", i, desc, err)
		case !ok && err == nil:
			t.Fatalf("op %d %s: succeeded, model says it must fail", i, desc)
		case err != nil:
			counts["refused"]++
		default:
			counts["ok"]++
		}
		if (i+1)%check == 0 || i == n-1 {
			if err := x.Sync(); err != nil {
				t.Fatal(err)
			}
			efsck(t, img)
			checkModel(t, img, m)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: %v", seed, counts)
	if counts["ok"] < n/2 {
		t.Errorf("only %d of %d operations succeeded", counts["ok"], n)
	}
}

func TestRandomEdits(t *testing.T) {
	runs := []struct {
		c    imgConfig
		seed int64
	}{
		{imgConfig{"ext3-1k-128", []string{"-t", "ext3", "-b", "1024", "-I", "128"}, 12 << 10}, 1},
		{imgConfig{"ext3-4k-256", []string{"-t", "ext3", "-b", "4096", "-I", "256"}, 24 << 10}, 2},
		{imgConfig{"ext2-1k-256", []string{"-t", "ext2", "-b", "1024", "-I", "256"}, 8 << 10}, 3},
		{imgConfig{"ext3-1k-128", []string{"-t", "ext3", "-b", "1024", "-I", "128"}, 16 << 10}, 4},
	}
	for _, r := range runs {
		t.Run(fmt.Sprintf("%s-seed%d", r.c.name, r.seed), func(t *testing.T) {
			img, m := editImage(t, r.c)
			randomEdits(t, img, m, r.seed, 300, 30)
			if os.Geteuid() == 0 {
				mountCheckModel(t, img, m)
			}
		})
	}
}
