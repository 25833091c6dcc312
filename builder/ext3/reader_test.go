package ext3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// memDev is an in-memory device for tests.
type memDev struct{ b []byte }

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("memDev: write beyond end")
	}
	return copy(m.b[off:], p), nil
}

// imgConfig is one way of running mke2fs.
type imgConfig struct {
	name string
	args []string // mke2fs arguments besides -d and the image
	kb   int      // image size in KiB
}

var imgConfigs = []imgConfig{
	{"ext3-4k-256", []string{"-t", "ext3", "-b", "4096", "-I", "256"}, 24 << 10},
	{"ext3-1k-128", []string{"-t", "ext3", "-b", "1024", "-I", "128"}, 24 << 10},
	{"ext2-1k-256", []string{"-t", "ext2", "-b", "1024", "-I", "256"}, 24 << 10},
	{"ext2-4k-128-noindex", []string{"-t", "ext2", "-b", "4096", "-I", "128", "-O", "^dir_index,^resize_inode"}, 24 << 10},
}

// mkfs makes an image of src with mke2fs -d.
func mkfs(t testing.TB, src string, c imgConfig) string {
	t.Helper()
	mke2fs := testenv.Tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), c.name+".img")
	args := append([]string{"-q", "-F", "-E", "root_owner=0:0", "-U", "4a3b2c1d-0000-4000-8000-000000000001"}, c.args...)
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img, fmt.Sprintf("%dk", c.kb))
	if out, err := exec.Command(mke2fs, args...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs %v: %v\n%s", args, err, out)
	}
	return img
}

// efsck runs e2fsck -fn and fails the test on any complaint.
func efsck(t testing.TB, img string) {
	t.Helper()
	e2fsck := testenv.Tool(t, "e2fsck")
	out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
}

// populate writes a tree exercising the block map boundaries for both
// block sizes, symlink boundaries, hard links and special files.
func populate(t testing.TB, dir string) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	data := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	write := func(p string, b []byte, mode os.FileMode) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("empty", nil, 0o644)
	write("one", []byte("x"), 0o600)
	for _, n := range []int{1023, 1024, 1025, 4095, 4096, 4097, 12 * 1024, 12*1024 + 1, 12 * 4096, 12*4096 + 1,
		(12 + 256) * 1024, (12+256)*1024 + 1, (12 + 1024) * 4096, (12+1024)*4096 + 1} {
		write(fmt.Sprintf("sizes/f%d", n), data(n), 0o644)
	}
	write("bin/suid", data(100), 0o4755|os.ModeSetuid)
	write("etc/hostname", []byte("template\n"), 0o644)
	// a sparse file: a hole, data, a hole, data at the end
	sp := filepath.Join(dir, "sparse")
	fh, err := os.Create(sp)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte("start"), 40000)
	fh.WriteAt([]byte("end"), 3<<20)
	fh.Close()
	for _, n := range []int{1, 59, 60, 61, 200, 1000} {
		target := strings.Repeat("t", n)
		if err := os.Symlink(target, filepath.Join(dir, fmt.Sprintf("link%d", n))); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("etc/hostname", filepath.Join(dir, "hostlink"))
	os.Symlink("/etc", filepath.Join(dir, "etclink"))
	if err := os.Link(filepath.Join(dir, "one"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	// a directory big enough to be hashed (dir_index)
	big := filepath.Join(dir, "big")
	os.MkdirAll(big, 0o755)
	for i := 0; i < 1500; i++ {
		write(fmt.Sprintf("big/entry-with-a-long-name-%05d", i), []byte(fmt.Sprint(i)), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "a/b/c/d"), 0o750)
	if os.Geteuid() == 0 {
		if err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(dir, "bigdev"), syscall.S_IFBLK|0o660, int(mkdev(259, 300))); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Lchown(filepath.Join(dir, "etc/hostname"), 1000, 70000)
	}
}

func mkdev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12
}

// compareTree checks that every file under src appears in the image with
// the same type, permissions, owner, size, content and link target.
func compareTree(t testing.TB, x *FS, src string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		seen++
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		fi, err := x.Lstat(rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		xi := fi.(*FileInfo)
		if uint32(xi.RawMode) != st.Mode&0xFFFF {
			t.Errorf("%s: mode %o, want %o", rel, xi.RawMode, st.Mode)
		}
		if xi.UID != st.Uid || xi.GID != st.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, xi.UID, xi.GID, st.Uid, st.Gid)
		}
		if xi.Nlink != uint16(st.Nlink) && !d.IsDir() {
			t.Errorf("%s: nlink %d, want %d", rel, xi.Nlink, st.Nlink)
		}
		switch {
		case d.Type().IsRegular():
			want, _ := os.ReadFile(p)
			got, err := x.ReadFile(rel)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(got), len(want))
			}
		case d.Type()&fs.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := x.ReadLink(rel)
			if err != nil || got != want || xi.Target != want {
				t.Errorf("%s: link %q (%v), want %q", rel, got, err, want)
			}
		case d.Type()&fs.ModeDevice != 0:
			maj := uint32((st.Rdev >> 8) & 0xfff)
			min := uint32(st.Rdev&0xff) | uint32((st.Rdev>>12)&0xfff00)
			if xi.Major != maj || xi.Minor != min {
				t.Errorf("%s: device %d,%d, want %d,%d", rel, xi.Major, xi.Minor, maj, min)
			}
		case d.IsDir():
			want, _ := os.ReadDir(p)
			got, err := x.ReadDir(rel)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			} else if len(got) != len(want) {
				t.Errorf("%s: %d entries, want %d", rel, len(got), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("empty source tree")
	}
}

func TestReadMke2fsImages(t *testing.T) {
	src := t.TempDir()
	populate(t, src)
	for _, c := range imgConfigs {
		t.Run(c.name, func(t *testing.T) {
			img := mkfs(t, src, c)
			fh, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			x, err := Open(fh, OpenOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			compareTree(t, x, src)
			// the same tree through io/fs
			var walked, want int
			filepath.WalkDir(src, func(string, fs.DirEntry, error) error { want++; return nil })
			err = fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != "lost+found" {
					walked++
				}
				if d.Type().IsRegular() && strings.HasPrefix(p, "sizes/") {
					h, err := x.Open(p)
					if err != nil {
						return err
					}
					defer h.Close()
					got, err := io.ReadAll(h)
					if err != nil {
						return err
					}
					exp, _ := os.ReadFile(filepath.Join(src, p))
					if !bytes.Equal(got, exp) {
						t.Errorf("%s: streamed content differs", p)
					}
				}
				if d.IsDir() && p == "lost+found" {
					return fs.SkipDir
				}
				return nil
			})
			if err != nil || walked != want {
				t.Errorf("fs.WalkDir: %d entries (want %d), %v", walked, want, err)
			}
			// symlinks are followed inside the image
			b, err := x.ReadFile("/etclink/hostname")
			if err != nil || string(b) != "template\n" {
				t.Errorf("through /etclink: %q, %v", b, err)
			}
			if _, err := x.Stat("missing/x"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing: %v", err)
			}
			if _, err := x.ReadFile("etc"); !errors.Is(err, ErrIsDir) {
				t.Errorf("reading a dir: %v", err)
			}
			if err := x.WriteFile("x", nil, 0o644, 0, 0); !errors.Is(err, ErrReadOnly) {
				t.Errorf("write on read-only: %v", err)
			}
		})
	}
}

func TestFormatLong(t *testing.T) {
	for _, c := range []struct {
		mode uint16
		want string
	}{
		{S_IFREG | 0o4755, "-rwsr-xr-x"},
		{S_IFDIR | 0o1777, "drwxrwxrwt"},
		{S_IFLNK | 0o777, "lrwxrwxrwx"},
		{S_IFCHR | 0o620, "crw--w----"},
		{S_IFREG | 0o2644, "-rw-r-Sr--"},
	} {
		if got := ModeString(c.mode); got != c.want {
			t.Errorf("ModeString(%o) = %q, want %q", c.mode, got, c.want)
		}
	}
	fi := &FileInfo{name: "l", RawMode: S_IFLNK | 0o777, Nlink: 1, FileSize: 4, Target: "/etc"}
	if got := FormatLong(fi); !strings.HasPrefix(got, "lrwxrwxrwx 1 0 0 4 ") || !strings.HasSuffix(got, " l -> /etc") {
		t.Errorf("FormatLong = %q", got)
	}
}

func TestUsedBlocksMatchesDumpe2fs(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), bytes.Repeat([]byte("a"), 100000), 0o644)
	for _, c := range imgConfigs[:2] {
		img := mkfs(t, src, c)
		fh, _ := os.Open(img)
		x, err := Open(fh, OpenOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		ext, err := x.UsedBlocks()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		var used uint64
		for _, e := range ext {
			used += e.Count
		}
		// used = blocks - free - blocks before the first data block + those
		want := x.BlockCount() - x.FreeBlocks()
		if used != want {
			t.Errorf("%s: UsedBlocks counts %d, want %d", c.name, used, want)
		}
		// zero every unused block: the image must stay identical to e2fsck
		b, _ := os.ReadFile(img)
		z := make([]byte, len(b))
		bs := uint64(x.BlockSize())
		for _, e := range ext {
			copy(z[e.Start*bs:(e.Start+e.Count)*bs], b[e.Start*bs:(e.Start+e.Count)*bs])
		}
		cp := filepath.Join(t.TempDir(), "copy.img")
		os.WriteFile(cp, z, 0o644)
		efsck(t, cp)
		fh, _ = os.Open(cp)
		y, err := Open(fh, OpenOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := y.ReadFile("f")
		fh.Close()
		if err != nil || len(got) != 100000 {
			t.Errorf("%s: copy of used blocks: %d bytes, %v", c.name, len(got), err)
		}
	}
}
