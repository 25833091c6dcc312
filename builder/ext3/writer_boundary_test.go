package ext3

import (
	"fmt"
	"io/fs"
	"math/rand"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// boundaryEntries returns the boundary table for block size bs: the ends of
// the direct, single, double and triple indirect ranges, holes, symlinks at
// the inline limit, hard links, devices and odd modes. huge adds the files
// that are only cheap with 1 KiB blocks (double indirect end and triple
// indirect), which with 4 KiB blocks are over 4 GiB (sparse).
func boundaryEntries(bs int64, inodeSize int, huge bool) []entry {
	r := rand.New(rand.NewSource(bs))
	apb := bs / 4
	denseN := func(n int64) *content { return dense(randBytes(r, int(n))) }
	// sparseAt: a sparse file of size n with one block of data at each
	// offset (clipped to n).
	sparseAt := func(n int64, offs ...int64) *content {
		c := &content{size: n}
		for _, o := range offs {
			if o < 0 || o >= n {
				continue
			}
			l := min(bs, n-o)
			if len(c.segs) > 0 {
				last := c.segs[len(c.segs)-1]
				if last.off+int64(len(last.data)) > o {
					continue
				}
			}
			c.segs = append(c.segs, seg{o, randBytes(r, int(l))})
		}
		return c
	}
	indEnd := (NDirBlocks + apb) * bs
	dindEnd := indEnd + apb*apb*bs
	t0 := time.Unix(1234567890, 0)
	e := []entry{
		{h: Header{Name: "f/empty", Mode: 0644, ModTime: t0}, c: &content{}},
		{h: Header{Name: "f/one", Mode: 0644, ModTime: t0}, c: dense([]byte{1})},
		{h: Header{Name: "f/direct12", Mode: 0644, ModTime: t0}, c: denseN(NDirBlocks * bs)},
		{h: Header{Name: "f/direct12+1", Mode: 0644, ModTime: t0}, c: denseN(NDirBlocks*bs + 1)},
		{h: Header{Name: "f/ind-end", Mode: 0644, ModTime: t0}, c: denseN(indEnd)},
		{h: Header{Name: "f/ind-end+1", Mode: 0644, ModTime: t0}, c: denseN(indEnd + 1)},
		{h: Header{Name: "f/dind-dense", Mode: 0644, ModTime: t0}, c: denseN(indEnd + 3*apb*bs + 17)},
		{h: Header{Name: "f/holes", Mode: 0644, ModTime: t0}, c: sparseAt(40*bs, 0, 5*bs, 20*bs+7)},
		{h: Header{Name: "f/zeros", Mode: 0644, ModTime: t0}, c: &content{size: 100 * bs}},
		{h: Header{Name: "f/hole-in-ind", Mode: 0644, ModTime: t0}, c: sparseAt(indEnd+5*apb*bs, indEnd-bs, indEnd+4*apb*bs)},
		{h: Header{Name: "l/59", Mode: fs.ModeSymlink | 0777, ModTime: t0, Linkname: strings.Repeat("a", 58) + "9"}},
		{h: Header{Name: "l/60", Mode: fs.ModeSymlink | 0777, ModTime: t0, Linkname: strings.Repeat("b", 59) + "0"}},
		{h: Header{Name: "l/max", Mode: fs.ModeSymlink | 0777, ModTime: t0, Linkname: strings.Repeat("c/", int(bs-1)/2) + "x"[:int(bs-1)%2]}},
		{h: Header{Name: "l/dangling", Mode: fs.ModeSymlink | 0777, Linkname: "/nonexistent/target"}},
		{h: Header{Name: "hl/a", Mode: 0640, Uid: 7, Gid: 8, ModTime: t0}, c: dense([]byte("shared\n"))},
		{h: Header{Name: "hl/b", Hardlink: "hl/a"}},
		{h: Header{Name: "other/c", Hardlink: "/hl/a"}},
		{h: Header{Name: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0666, Devmajor: 1, Devminor: 3}},
		{h: Header{Name: "dev/sda1", Mode: fs.ModeDevice | 0660, Gid: 6, Devmajor: 8, Devminor: 1}},
		{h: Header{Name: "dev/big", Mode: fs.ModeDevice | fs.ModeCharDevice | 0600, Devmajor: 259, Devminor: 70000}},
		{h: Header{Name: "dev/max", Mode: fs.ModeDevice | 0600, Devmajor: 4095, Devminor: 1048575}},
		{h: Header{Name: "dev/minor300", Mode: fs.ModeDevice | fs.ModeCharDevice | 0600, Devmajor: 10, Devminor: 300}},
		{h: Header{Name: "dev/fifo", Mode: fs.ModeNamedPipe | 0644}},
		{h: Header{Name: "dev/sock", Mode: fs.ModeSocket | 0755}},
		{h: Header{Name: "m/suid", Mode: fs.ModeSetuid | fs.ModeSetgid | 0755}, c: dense([]byte("#!/bin/sh\n"))},
		{h: Header{Name: "m/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0777}},
		{h: Header{Name: "m/sgid", Mode: fs.ModeDir | fs.ModeSetgid | 0755}},
		{h: Header{Name: "m/bigid", Mode: 0600, Uid: 4000000000, Gid: 3000000000}, c: dense([]byte("x"))},
		{h: Header{Name: "m/old", Mode: 0644, ModTime: time.Unix(-1000000, 0)}, c: dense([]byte("x"))},
		{h: Header{Name: "x/y/z/file", Mode: 0644}, c: dense([]byte("implicit parents"))},
		{h: Header{Name: "x", Mode: fs.ModeDir | 0700, Uid: 5, Gid: 5, ModTime: t0}},
		{h: Header{Name: ".", Mode: fs.ModeDir | 0751, ModTime: t0}},
		{h: Header{Name: strings.Repeat("n", 255), Mode: 0644}, c: dense([]byte("long name"))},
	}
	if inodeSize > 128 {
		e = append(e, entry{h: Header{Name: "m/y2100", Mode: 0644, ModTime: time.Unix(4102444800, 0)}, c: dense([]byte("x"))})
	}
	if huge {
		e = append(e, entry{h: Header{Name: "h/dind-end+1", Mode: 0644, ModTime: t0}, c: sparseAt(dindEnd+1, 0, dindEnd-bs, dindEnd)})
		if bs == 1024 {
			e = append(e,
				entry{h: Header{Name: "h/dind-end", Mode: 0644, ModTime: t0}, c: sparseAt(dindEnd, 0, indEnd-bs, indEnd, indEnd+apb*bs, dindEnd-bs)},
				entry{h: Header{Name: "h/tind", Mode: 0644, ModTime: t0}, c: sparseAt(dindEnd+apb*apb*bs+3*apb*bs, 0, dindEnd, dindEnd+apb*bs, dindEnd+apb*apb*bs+apb*bs)},
			)
		}
	}
	return e
}

func TestWriterBoundaries(t *testing.T) {
	ext3 := true
	cases := []struct {
		name      string
		bs, isize int
		journal   bool
		features  *Features
		huge      bool
	}{
		{"1k-128-ext2", 1024, 128, false, nil, true},
		{"1k-256-ext3", 1024, 256, ext3, nil, true},
		{"1k-128-ext3-legacy", 1024, 128, ext3, &FeaturesLegacy, false},
		{"4k-128-ext3-legacy", 4096, 128, ext3, &FeaturesLegacy, false},
		{"4k-256-ext2", 4096, 256, false, nil, false},
		{"4k-256-ext3-huge", 4096, 256, ext3, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.huge && c.bs == 4096 && testing.Short() {
				t.Skip("4 GiB sparse files in -short mode")
			}
			o := Options{Size: 96 << 20, BlockSize: c.bs, InodeSize: c.isize, Journal: c.journal, Features: c.features,
				Epoch: time.Unix(1700000000, 0), Label: "boundary"}
			entries := boundaryEntries(int64(c.bs), c.isize, c.huge)
			img := writeImage(t, o, entries)
			fsck(t, img)
			want := expectFacts(o, entries)
			var big []entry
			for _, e := range entries {
				if strings.HasPrefix(e.h.Name, "h/") {
					big = append(big, e)
				}
			}
			rdumpCheck(t, img, want, "h")
			mountCheck(t, img, want, big...)
			checkBlockCounts(t, img, entries)
		})
	}
}

// checkBlockCounts asks debugfs for i_blocks of some files and checks them
// against data blocks + indirect blocks computed independently.
func checkBlockCounts(t *testing.T, img string, entries []entry) {
	debugfs := testenv.Tool(t, "debugfs")
	out, err := exec.Command(debugfs, "-R", "stat /f/zeros", img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Blockcount: 0\n") {
		t.Errorf("all-zero file is not fully sparse:\n%s", out)
	}
	for _, name := range []string{"f/direct12", "f/direct12+1", "f/ind-end", "f/ind-end+1", "f/dind-dense"} {
		var c *content
		for _, e := range entries {
			if e.h.Name == name {
				c = e.c
			}
		}
		out, err := exec.Command(debugfs, "-R", "stat /"+name, img).CombinedOutput()
		if err != nil {
			t.Fatalf("debugfs stat %s: %v\n%s", name, err, out)
		}
		bs := uint64(1024)
		if m := regexpFind(string(out), "Blockcount: "); m != "" {
			got, _ := strconv.ParseUint(m, 10, 64)
			// Which block size? Read it from the superblock.
			sb, err := exec.Command("dumpe2fs", "-h", img).Output()
			if err == nil {
				if v := regexpFind(string(sb), "Block size:"); v != "" {
					bs, _ = strconv.ParseUint(v, 10, 64)
				}
			}
			n := divCeil(uint64(c.size), bs)
			want := (n + mapBlocks(n, bs/4)) * (bs / 512)
			if got != want {
				t.Errorf("%s: Blockcount %d, want %d", name, got, want)
			}
		} else {
			t.Errorf("%s: no Blockcount in debugfs output:\n%s", name, out)
		}
	}
}

// regexpFind returns the first whitespace-separated word after key.
func regexpFind(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+len(key):])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func TestWriterLargeDirectory(t *testing.T) {
	for _, c := range []struct {
		name   string
		n, bs  int
		linear bool
	}{
		{"1k-linear", 50000, 1024, true},     // double indirect directory blocks
		{"1k-htree", 50000, 1024, false},     // two index levels
		{"4k-htree", 20000, 4096, false},     // one index level
		{"4k-htree-small", 300, 4096, false}, // a root and two leaves
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Size: 64 << 20, BlockSize: c.bs, InodeSize: 128, Journal: true, Inodes: uint32(c.n + 100),
				Epoch: time.Unix(1700000000, 0), LinearDirs: c.linear}
			entries := make([]entry, 0, c.n)
			for i := 0; i < c.n; i++ {
				entries = append(entries, entry{h: Header{Name: fmt.Sprintf("big/file-%05d", i), Mode: 0644}, c: &content{}})
			}
			img := writeImage(t, o, entries)
			fsck(t, img)
			// The mount looks every name up through the kernel's htree code.
			mountCheck(t, img, expectFacts(o, entries))
			out, err := exec.Command(testenv.Tool(t, "debugfs"), "-R", "stat /big", img).CombinedOutput()
			if err != nil {
				t.Fatalf("debugfs: %v\n%s", err, out)
			}
			if c.linear && !strings.Contains(string(out), "(DIND)") {
				t.Errorf("directory of %d entries has no double indirect block:\n%.2000s", c.n, out)
			}
			if indexed := strings.Contains(string(out), "Flags: 0x1000"); indexed == c.linear {
				t.Errorf("directory indexed=%v, want %v:\n%.500s", indexed, !c.linear, out)
			}
			if !c.linear {
				out, err := exec.Command(testenv.Tool(t, "debugfs"), "-R", "htree /big", img).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "Indirect levels:") {
					t.Errorf("debugfs htree: %v\n%.1000s", err, out)
				}
			}
		})
	}
}
