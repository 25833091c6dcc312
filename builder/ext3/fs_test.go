package ext3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// patchSuper returns a copy of img with a 32-bit superblock field changed.
func patchSuper(img []byte, off int, set, clear uint32) []byte {
	b := bytes.Clone(img)
	v := binary.LittleEndian.Uint32(b[1024+off:])
	binary.LittleEndian.PutUint32(b[1024+off:], v&^clear|set)
	return b
}

func TestOpenRefuses(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644)
	imgPath := mkfs(t, src, imgConfig{"ext3", []string{"-t", "ext3", "-b", "1024"}, 4 << 10})
	img, err := os.ReadFile(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	badMagic := bytes.Clone(img)
	badMagic[1024+sbOffMagic] = 0
	cases := []struct {
		name string
		img  []byte
		want error
		text string
	}{
		{"needs_recovery", patchSuper(img, sbOffFeatureIncompat, EXT3_FEATURE_INCOMPAT_RECOVER, 0), ErrNeedsRecovery, ""},
		{"extents", patchSuper(img, sbOffFeatureIncompat, EXT3_FEATURE_INCOMPAT_EXTENTS|EXT4_FEATURE_INCOMPAT_FLEX_BG, 0), ErrUnsupported, "extent,flex_bg"},
		{"64bit", patchSuper(img, sbOffFeatureIncompat, EXT4_FEATURE_INCOMPAT_64BIT, 0), ErrUnsupported, "64bit"},
		{"metadata_csum", patchSuper(img, sbOffFeatureRoCompat, EXT4_FEATURE_RO_COMPAT_METADATA_CSUM, 0), ErrUnsupported, "metadata_csum"},
		{"unknown bit", patchSuper(img, sbOffFeatureIncompat, 1<<30, 0), ErrUnsupported, "FEATURE_0x40000000"},
		{"bad magic", badMagic, ErrBadMagic, ""},
		{"truncated", img[:1500], io.ErrUnexpectedEOF, ""},
		{"empty", nil, io.ErrUnexpectedEOF, ""},
		{"unclean", patchSuper(img, sbOffState-2, 0, 1<<16), ErrUncleanFS, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := &memDev{b: bytes.Clone(c.img)}
			_, err := Open(dev, OpenOptions{})
			if !errors.Is(err, c.want) || !strings.Contains(fmt_(err), c.text) {
				t.Fatalf("Open: %v, want %v containing %q", err, c.want, c.text)
			}
			if !bytes.Equal(dev.b, c.img) {
				t.Fatal("a refused Open wrote to the image")
			}
		})
	}
	// A journal holding transactions (s_start != 0) is refused for
	// editing even without needs_recovery; reading still works.
	dev := &memDev{b: bytes.Clone(img)}
	x, err := Open(dev, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	jn, _ := x.readInode(x.sb32(sbOffJournalInum))
	jb, _ := x.bmap(8, jn, 0)
	binary.BigEndian.PutUint32(dev.b[int64(jb)*int64(x.bs)+0x1C:], 1)
	if _, err := Open(dev, OpenOptions{}); !errors.Is(err, ErrNeedsRecovery) {
		t.Errorf("dirty journal: %v", err)
	}
	if _, err := Open(dev, OpenOptions{ReadOnly: true}); err != nil {
		t.Errorf("dirty journal, read-only: %v", err)
	}
}

func fmt_(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSetUUID(t *testing.T) {
	imgPath := mkfs(t, "", imgConfig{"ext3", []string{"-t", "ext3", "-b", "1024"}, 20 << 10})
	fh, err := os.OpenFile(imgPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, err := Open(fh, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if err := x.SetUUID(u); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	efsck(t, imgPath)
	fh, _ = os.Open(imgPath)
	defer fh.Close()
	y, err := Open(fh, OpenOptions{ReadOnly: true})
	if err != nil || y.UUID() != u {
		t.Fatalf("UUID after reopen: %x, %v", y.UUID(), err)
	}
	// every backup superblock carries it too
	b, _ := os.ReadFile(imgPath)
	backups := 0
	for g := uint32(1); g < y.ngroups; g++ {
		if y.hasSuperBackup(g) {
			off := int64(y.firstData+g*y.bpg) * int64(y.bs)
			if !bytes.Equal(b[off+sbOffUUID:off+sbOffUUID+16], u[:]) {
				t.Errorf("backup superblock of group %d has the old UUID", g)
			}
			backups++
		}
	}
	if backups == 0 {
		t.Error("no backup superblocks checked")
	}
}

// exercise reads everything reachable in an image, with bounds.
func exercise(x *FS) {
	n := 0
	fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		n++
		if err != nil || n > 2000 || strings.Count(p, "/") > 20 {
			return fs.SkipDir
		}
		if fi, err := d.Info(); err == nil {
			_ = FormatLong(fi)
			if fi.Mode().IsRegular() && fi.Size() < 1<<20 {
				x.ReadFile(p)
			}
		}
		x.ReadLink(p)
		return nil
	})
	x.UsedBlocks()
}

func fuzzSeeds(f *testing.F) {
	for _, p := range []string{"testdata/fuzz-seed-ext2-1k.img"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// withDeadline runs fn and fails if it takes more than a few seconds:
// a corrupt image must never make the reader hang.
func withDeadline(t *testing.T, fn func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("reader hung on a corrupt image")
	}
}

func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, img []byte) {
		withDeadline(t, func() {
			x, err := Open(&memDev{b: img}, OpenOptions{ReadOnly: true})
			if err != nil {
				return
			}
			exercise(x)
		})
	})
}

func FuzzEdit(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, img []byte) {
		withDeadline(t, func() {
			dev := &memDev{b: bytes.Clone(img)}
			x, err := Open(dev, OpenOptions{})
			if err != nil {
				return
			}
			x.WriteFile("hello", []byte("replaced"), 0o644, 0, 0)
			x.WriteFile("dir/new", bytes.Repeat([]byte("n"), 5000), 0o644, 0, 0)
			x.Mkdir("dir/sub/newdir", 0o755, 0, 0)
			x.Symlink(strings.Repeat("y", 80), "dir/sub/l", 0, 0)
			x.Rename("dir/sub/file-1", "dir/moved")
			x.Rename("dir/sub", "sub2")
			x.Remove("dir/big")
			x.Remove("link")
			x.Chmod("dir", 0o700)
			x.Close()
			exercise(x)
		})
	})
}
