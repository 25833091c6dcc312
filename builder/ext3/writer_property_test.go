package ext3

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

var propN = flag.Int("ext3.trees", 200, "random trees in TestWriterProperty (20 with -short)")

// randomTree makes a random tree: nested directories, files with sizes
// around the indirect boundaries, holes, symlinks, hard links and special
// files.
func randomTree(r *rand.Rand, bs int64, isize int) []entry {
	var entries []entry
	dirs := []string{""}
	used := map[string]bool{"": true, "lost+found": true}
	var files []string
	alphabet := []string{"a", "b", "etc", "usr", "lib", "x y", "é", "ü.so", "-", "_", "1", "long-" + strings.Repeat("n", 40), ".hidden"}
	name := func() string {
		for {
			d := dirs[r.Intn(len(dirs))]
			n := alphabet[r.Intn(len(alphabet))] + fmt.Sprint(r.Intn(50))
			p := path.Join(d, n)
			if !used[p] {
				used[p] = true
				return p
			}
		}
	}
	apb := bs / 4
	sizes := []int64{0, 1, bs - 1, bs, bs + 1, NDirBlocks * bs, NDirBlocks*bs + 1, (NDirBlocks + apb) * bs, (NDirBlocks+apb)*bs + 1}
	tm := func() time.Time {
		if isize > 128 && r.Intn(10) == 0 {
			return time.Unix(int64(r.Uint32())+1<<31, int64(r.Intn(1e9)))
		}
		return time.Unix(int64(r.Int31()), int64(r.Intn(1e9)))
	}
	n := 1 + r.Intn(60)
	if r.Intn(8) == 0 {
		n = 1 + r.Intn(300) // multi-block (htree) directories
	}
	for i := 0; i < n; i++ {
		h := Header{Uid: uint32(r.Intn(3)) * uint32(r.Intn(100000)), Gid: uint32(r.Intn(3)) * uint32(r.Intn(70000)), ModTime: tm()}
		if r.Intn(3) == 0 {
			h.Uid = 0
		}
		perm := fs.FileMode(r.Intn(0o1000)) | 0o600
		switch k := r.Intn(20); {
		case k < 5:
			h.Name = name()
			h.Mode = fs.ModeDir | perm | 0o700
			if r.Intn(8) == 0 {
				h.Mode |= fs.ModeSticky
			}
			dirs = append(dirs, h.Name)
			entries = append(entries, entry{h: h})
		case k < 13:
			h.Name = name()
			h.Mode = perm
			if r.Intn(10) == 0 {
				h.Mode |= fs.ModeSetuid
			}
			var size int64
			if r.Intn(2) == 0 {
				size = sizes[r.Intn(len(sizes))] + int64(r.Intn(3)) - 1
			} else {
				size = int64(r.Intn(20000))
			}
			size = max(size, 0)
			c := &content{size: size}
			if r.Intn(4) == 0 && size > 0 {
				// sparse: a few segments
				for off := int64(0); off < size; off += int64(r.Intn(int(8*bs))) + 1 {
					l := min(int64(r.Intn(int(2*bs)))+1, size-off)
					c.segs = append(c.segs, seg{off, randBytes(r, int(l))})
					off += l
				}
			} else if size > 0 {
				c.segs = []seg{{0, randBytes(r, int(size))}}
			}
			entries = append(entries, entry{h: h, c: c})
			files = append(files, h.Name)
		case k < 16:
			h.Name = name()
			h.Mode = fs.ModeSymlink | 0o777
			h.Linkname = strings.Repeat("../", r.Intn(3)) + strings.Repeat("t", 1+r.Intn(int(min(bs, 200))))
			if r.Intn(4) == 0 {
				h.Linkname = strings.Repeat("s", FastSymlinkMaxLen+r.Intn(3)-1)
			}
			entries = append(entries, entry{h: h})
		case k < 18:
			if len(files) == 0 {
				continue
			}
			entries = append(entries, entry{h: Header{Name: name(), Hardlink: files[r.Intn(len(files))]}})
		default:
			h.Name = name()
			switch r.Intn(4) {
			case 0:
				h.Mode = fs.ModeDevice | fs.ModeCharDevice | perm
			case 1:
				h.Mode = fs.ModeDevice | perm
			case 2:
				h.Mode = fs.ModeNamedPipe | perm
			default:
				h.Mode = fs.ModeSocket | perm
			}
			h.Devmajor, h.Devminor = uint32(r.Intn(300)), uint32(r.Intn(1<<(1+r.Intn(20))))
			if h.Mode&fs.ModeDevice == 0 {
				h.Devmajor, h.Devminor = 0, 0
			}
			entries = append(entries, entry{h: h})
		}
	}
	return entries
}

func randomOptions(r *rand.Rand) Options {
	o := Options{BlockSize: []int{1024, 4096}[r.Intn(2)], InodeSize: []int{128, 256}[r.Intn(2)],
		Journal: r.Intn(2) == 0, Epoch: time.Unix(r.Int63n(1700000000), 0)} // e2fsck flags superblock times in the future
	if r.Intn(3) == 0 {
		o.Features = &FeaturesLegacy
	}
	if r.Intn(3) == 0 {
		o.InodeRatio = 4096
	}
	r.Read(o.UUID[:])
	return o
}

func usageOf(entries []entry) Usage {
	var u Usage
	for _, e := range entries {
		h := e.h
		if e.c != nil {
			h.Size = e.c.size
		}
		u.Add(&h)
	}
	return u
}

// TestWriterProperty writes many random trees, each into an image of the
// size Needed says (plus a random slack), and judges them with e2fsck and
// debugfs rdump; every tenth is also mounted.
func TestWriterProperty(t *testing.T) {
	testenv.Tool(t, "e2fsck")
	n := *propN
	if testing.Short() && n > 20 {
		n = 20
	}
	for i := 0; i < n; i++ {
		seed := int64(i)
		r := rand.New(rand.NewSource(seed))
		o := randomOptions(r)
		entries := randomTree(r, int64(o.BlockSize), o.InodeSize)
		need, err := Needed(usageOf(entries), o)
		if err != nil {
			t.Fatalf("seed %d: Needed: %v", seed, err)
		}
		o.Size = need + int64(r.Intn(3))<<20
		img := filepath.Join(t.TempDir(), "fs.img")
		if err := writeImageTo(img, o, entries); err != nil {
			t.Fatalf("seed %d: writing %d entries into %d MiB (Needed): %v", seed, len(entries), o.Size>>20, err)
		}
		ok := t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			fsck(t, img)
			want := expectFacts(o, entries)
			rdumpCheck(t, img, want)
			if i%10 == 0 && os.Geteuid() == 0 {
				mountCheck(t, img, want)
			}
		})
		os.Remove(img)
		if !ok {
			break
		}
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestWriterDeterministic(t *testing.T) {
	for _, bs := range []int{1024, 4096} {
		o := Options{Size: 96 << 20, BlockSize: bs, Journal: true, Epoch: time.Unix(1700000000, 0)}
		a := writeImage(t, o, boundaryEntries(int64(bs), 256, bs == 1024))
		b := writeImage(t, o, boundaryEntries(int64(bs), 256, bs == 1024))
		if fileSum(t, a) != fileSum(t, b) {
			t.Errorf("block size %d: two writes of the same entries differ", bs)
		}
		o.UUID[0] = 1
		c := writeImage(t, o, boundaryEntries(int64(bs), 256, bs == 1024))
		if fileSum(t, a) == fileSum(t, c) {
			t.Errorf("block size %d: a different UUID gives the same bytes", bs)
		}
	}
}

// TestWriterSparseOutput checks that unused blocks are never written: the
// image file allocates about what the filesystem uses.
func TestWriterSparseOutput(t *testing.T) {
	o := Options{Size: 1 << 30, Journal: true, Epoch: time.Unix(1700000000, 0)}
	img := writeImage(t, o, []entry{{h: Header{Name: "f", Mode: 0644}, c: dense(bytes.Repeat([]byte{1}, 1<<20))}})
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 1<<30 {
		t.Errorf("image size %d, want %d", fi.Size(), 1<<30)
	}
	alloc := fi.Sys().(*syscall.Stat_t).Blocks * 512
	// 1 MiB of data + metadata written (bitmaps, inode table blocks in
	// use, descriptors, superblocks): a few hundred KiB, far from 1 GiB.
	if alloc > 4<<20 {
		t.Errorf("image allocates %d bytes on the host for 1 MiB of data", alloc)
	}
	fsck(t, img)
}

func TestWriterDumpe2fsMatchesMke2fs(t *testing.T) {
	mke2fs := testenv.Tool(t, "mke2fs")
	dumpe2fs := testenv.Tool(t, "dumpe2fs")
	fields := []string{"Filesystem features", "Filesystem flags", "Default mount options", "Inode count", "Block count",
		"Reserved block count", "Free blocks", "Free inodes", "First block", "Block size", "Reserved GDT blocks",
		"Blocks per group", "Inodes per group", "Inode blocks per group", "Maximum mount count", "Errors behavior",
		"Inode size", "Required extra isize", "Desired extra isize", "Default directory hash", "Journal backup",
		"Total journal size", "Total journal blocks", "Journal sequence", "Journal start", "Filesystem state"}
	parse := func(img string) map[string]string {
		out, err := exec.Command(dumpe2fs, "-h", img).CombinedOutput()
		if err != nil {
			t.Fatalf("dumpe2fs: %v\n%s", err, out)
		}
		m := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				m[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		return m
	}
	cases := []struct {
		size      int64
		bs, isize int
		journal   bool
		legacy    bool
	}{
		{64 << 20, 1024, 128, true, false},
		{64 << 20, 1024, 256, false, false},
		{300 << 20, 4096, 256, true, false},
		{1 << 30, 4096, 256, true, false},
		{100 << 20, 4096, 128, true, true},
		{2100 << 20, 4096, 256, true, false},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%dM-%d-%d-j%v-legacy%v", c.size>>20, c.bs, c.isize, c.journal, c.legacy)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ref := filepath.Join(dir, "ref.img")
			if err := os.WriteFile(ref, nil, 0644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(ref, c.size); err != nil {
				t.Fatal(err)
			}
			typ := "ext2"
			if c.journal {
				typ = "ext3"
			}
			args := []string{"-q", "-F", "-t", typ, "-b", fmt.Sprint(c.bs), "-I", fmt.Sprint(c.isize), "-i", "16384", "-m", "5"}
			o := Options{Size: c.size, BlockSize: c.bs, InodeSize: c.isize, Journal: c.journal, Epoch: time.Unix(1700000000, 0)}
			if c.legacy {
				args = append(args, "-O", "^resize_inode,^dir_index,^ext_attr,^large_file")
				o.Features = &FeaturesLegacy
			}
			cmd := exec.Command(mke2fs, append(args, ref)...)
			cmd.Env = append(os.Environ(), "MKE2FS_CONFIG=/etc/mke2fs.conf")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mke2fs: %v\n%s", err, out)
			}
			ours := writeImage(t, o, nil)
			fsck(t, ours)
			a, b := parse(ours), parse(ref)
			for _, f := range fields {
				if a[f] != b[f] {
					t.Errorf("%s: ours %q, mke2fs %q", f, a[f], b[f])
				}
			}
		})
	}
}

func TestWriterTooSmall(t *testing.T) {
	o := Options{Size: 8 << 20, BlockSize: 1024, Epoch: time.Unix(1700000000, 0)}
	entries := []entry{{h: Header{Name: "big", Mode: 0644}, c: dense(bytes.Repeat([]byte{7}, 10<<20))}}
	err := writeImageTo(filepath.Join(t.TempDir(), "small.img"), o, entries)
	if !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("10 MiB into 8 MiB: got %v, want ErrTooSmall naming MiB", err)
	}
	need, err := Needed(usageOf(entries), o)
	if err != nil {
		t.Fatal(err)
	}
	if need <= 10<<20 {
		t.Fatalf("Needed says %d bytes for 10 MiB of data", need)
	}
	o.Size = need
	fsck(t, writeImage(t, o, entries))
	// Inodes run out too.
	o = Options{Size: 8 << 20, BlockSize: 1024, Inodes: 16, Epoch: time.Unix(1700000000, 0)}
	var many []entry
	for i := 0; i < 40; i++ {
		many = append(many, entry{h: Header{Name: fmt.Sprint("f", i), Mode: 0644}})
	}
	if err := writeImageTo(filepath.Join(t.TempDir(), "inodes.img"), o, many); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("40 files with 16 inodes: got %v, want ErrTooSmall", err)
	}
}

func TestWriterErrors(t *testing.T) {
	newW := func() *Writer {
		f, err := os.Create(filepath.Join(t.TempDir(), "e.img"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		w, err := NewWriter(f, Options{Size: 4 << 20, BlockSize: 1024})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, c := range []struct {
		name string
		h    []Header
		want error
	}{
		{"dotdot", []Header{{Name: "../etc/passwd"}}, ErrBadName},
		{"dotdot-inner", []Header{{Name: "a/../../b"}}, ErrBadName},
		{"long", []Header{{Name: strings.Repeat("x", 256)}}, ErrBadName},
		{"nul", []Header{{Name: "a\x00b"}}, ErrBadName},
		{"dup", []Header{{Name: "a"}, {Name: "a"}}, ErrEntryExists},
		{"dup-dir-file", []Header{{Name: "a", Mode: fs.ModeDir}, {Name: "a"}}, ErrEntryExists},
		{"link-dup", []Header{{Name: "a"}, {Name: "a", Hardlink: "a"}}, ErrEntryExists},
	} {
		w := newW()
		var err error
		for i := range c.h {
			if err = w.WriteHeader(&c.h[i]); err != nil {
				break
			}
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if err2 := w.WriteHeader(&Header{Name: "later"}); err2 == nil {
			t.Errorf("%s: writer not sticky after %v", c.name, err)
		}
	}
	w := newW()
	if err := w.WriteHeader(&Header{Name: "x", Hardlink: "missing"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("hard link to a missing target: %v", err)
	}
	w = newW()
	if err := w.WriteHeader(&Header{Name: "f", Size: 3}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write([]byte("abcd")); !errors.Is(err, ErrWriteTooLong) || n != 3 {
		t.Errorf("write too long: n=%d err=%v", n, err)
	}
	w = newW()
	if err := w.WriteHeader(&Header{Name: "f", Size: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "missing 1 of 3") {
		t.Errorf("close with short content: %v", err)
	}
	w = newW()
	if err := w.WriteHeader(&Header{Name: "dir/f"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(&Header{Name: "dir/f/g"}); err == nil {
		t.Errorf("entry under a regular file accepted")
	}
	if _, err := NewWriter(nil, Options{Size: 1 << 20, BlockSize: 2048}); err == nil {
		t.Errorf("block size 2048 accepted")
	}
	if _, err := NewWriter(nil, Options{Size: 10 << 10}); !errors.Is(err, ErrTooSmall) {
		t.Errorf("10 KiB image: %v", err)
	}
}

func TestWriterAddTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := boundaryEntries(1024, 256, false)
	var kept []entry
	for _, e := range entries {
		h := e.h
		th := &tar.Header{Name: h.Name, Uid: int(h.Uid), Gid: int(h.Gid), ModTime: h.ModTime, Linkname: h.Linkname,
			Devmajor: int64(h.Devmajor), Devminor: int64(h.Devminor), Mode: int64(h.Mode.Perm()), Format: tar.FormatPAX}
		if h.Mode&fs.ModeSetuid != 0 {
			th.Mode |= 0o4000
		}
		if h.Mode&fs.ModeSetgid != 0 {
			th.Mode |= 0o2000
		}
		if h.Mode&fs.ModeSticky != 0 {
			th.Mode |= 0o1000
		}
		switch {
		case h.Hardlink != "":
			th.Typeflag, th.Linkname = tar.TypeLink, h.Hardlink
		case h.Mode.IsDir():
			th.Typeflag = tar.TypeDir
		case h.Mode&fs.ModeSymlink != 0:
			th.Typeflag = tar.TypeSymlink
		case h.Mode&fs.ModeCharDevice != 0:
			th.Typeflag = tar.TypeChar
		case h.Mode&fs.ModeDevice != 0:
			th.Typeflag = tar.TypeBlock
		case h.Mode&fs.ModeNamedPipe != 0:
			th.Typeflag = tar.TypeFifo
		case h.Mode&fs.ModeSocket != 0:
			continue // tar has no sockets
		default:
			th.Typeflag = tar.TypeReg
			th.Size = e.c.size
		}
		if th.ModTime.IsZero() {
			th.ModTime = time.Unix(1700000000, 0)
			e.h.ModTime = th.ModTime
		}
		if err := tw.WriteHeader(th); err != nil {
			t.Fatal(err)
		}
		if e.c != nil {
			if _, err := io.Copy(tw, e.c.reader()); err != nil {
				t.Fatal(err)
			}
		}
		kept = append(kept, e)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	o := Options{Size: 32 << 20, BlockSize: 1024, Journal: true, Epoch: time.Unix(1700000000, 0)}
	img := filepath.Join(t.TempDir(), "tar.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTar(tar.NewReader(&buf)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fsck(t, img)
	want := expectFacts(o, kept)
	rdumpCheck(t, img, want)
	mountCheck(t, img, want)
}

// TestWriterAddDir copies a host tree and compares it with the mounted
// image, times and owners included.
func TestWriterAddDir(t *testing.T) {
	testenv.Root(t)
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "a/b"), 0750))
	must(os.WriteFile(filepath.Join(src, "a/b/file"), bytes.Repeat([]byte("data"), 5000), 0640))
	must(os.Link(filepath.Join(src, "a/b/file"), filepath.Join(src, "a/hard")))
	must(os.Symlink("b/file", filepath.Join(src, "a/sym")))
	must(syscall.Mknod(filepath.Join(src, "a/null"), syscall.S_IFCHR|0666, 1<<8|3))
	must(syscall.Mkfifo(filepath.Join(src, "a/fifo"), 0600))
	must(os.Lchown(filepath.Join(src, "a/b/file"), 1234, 5678))
	must(os.Chtimes(filepath.Join(src, "a/b/file"), time.Unix(1500000000, 0), time.Unix(1500000001, 0)))
	img := filepath.Join(t.TempDir(), "dir.img")
	f, err := os.Create(img)
	must(err)
	w, err := NewWriter(f, Options{Size: 16 << 20, BlockSize: 1024, Epoch: time.Unix(1700000000, 0)})
	must(err)
	must(w.AddDir(src, ""))
	must(w.Close())
	f.Close()
	fsck(t, img)
	want := walkFacts(t, src)
	want["lost+found"] = fact{mode: fs.ModeDir | 0700, mtime: 1700000000, nlink: 2}
	r := want[""]
	r.nlink++
	want[""] = r
	mountCheck(t, img, want)
}

type failingTarget struct {
	after int64 // bytes accepted before WriteAt fails
	n     int64
}

var errDisk = errors.New("disk on fire")

func (f *failingTarget) WriteAt(p []byte, off int64) (int, error) {
	if f.n+int64(len(p)) > f.after {
		return 0, errDisk
	}
	f.n += int64(len(p))
	return len(p), nil
}

func (f *failingTarget) Truncate(int64) error { return nil }

func TestWriterTargetErrors(t *testing.T) {
	for _, after := range []int64{0, 4096, 1 << 20, 3 << 20} {
		err := func() error {
			w, err := NewWriter(&failingTarget{after: after}, Options{Size: 32 << 20, BlockSize: 1024, Journal: true})
			if err != nil {
				return err
			}
			for i := 0; i < 20; i++ {
				if err := w.WriteHeader(&Header{Name: fmt.Sprint("d/f", i), Mode: 0644, Size: 200 << 10}); err != nil {
					return err
				}
				if _, err := w.Write(bytes.Repeat([]byte{byte(i + 1)}, 200<<10)); err != nil {
					return err
				}
			}
			return w.Close()
		}()
		if !errors.Is(err, errDisk) {
			t.Errorf("target failing after %d bytes: got %v, want the target's error", after, err)
		}
	}
}

func TestWriterSubdirLimit(t *testing.T) {
	w, err := NewWriter(&failingTarget{after: 1 << 62}, Options{Size: 64 << 20, BlockSize: 1024, Inodes: 33000})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	i := 0
	for ; i < EXT2_LINK_MAX; i++ {
		if werr = w.WriteHeader(&Header{Name: fmt.Sprint("p/d", i), Mode: fs.ModeDir | 0755}); werr != nil {
			break
		}
	}
	if werr == nil || i != EXT2_LINK_MAX-2 || !strings.Contains(werr.Error(), "subdirectories") {
		t.Errorf("after %d subdirectories: %v; want an error at %d", i, werr, EXT2_LINK_MAX-2)
	}
}
