package ext3

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzTree decodes bytes into a small tree: each entry takes 4 bytes (kind,
// parent, name, size/target).
func fuzzTree(data []byte) (Options, []entry) {
	o := Options{Size: 4 << 20, BlockSize: 1024, InodeSize: 128, Epoch: time.Unix(1600000000, 0)}
	if len(data) > 0 {
		if data[0]&1 != 0 {
			o.InodeSize = 256
		}
		if data[0]&2 != 0 {
			o.Journal = true
		}
		if data[0]&4 != 0 {
			o.Features = &FeaturesLegacy
		}
		if data[0]&8 != 0 {
			o.BlockSize = 4096
			o.Size = 8 << 20
		}
		data = data[1:]
	}
	var entries []entry
	dirs := []string{""}
	var files []string
	for len(data) >= 4 {
		kind, parent, nm, sz := data[0], data[1], data[2], data[3]
		data = data[4:]
		name := fmt.Sprintf("%s/%c%d", dirs[int(parent)%len(dirs)], 'a'+nm%26, nm/26)
		name = strings.TrimPrefix(name, "/")
		h := Header{Name: name, Mode: fs.FileMode(kind>>3) | 0o400, Uid: uint32(sz), ModTime: time.Unix(int64(sz)*1000003, 0)}
		var c *content
		switch kind % 8 {
		case 0, 1:
			h.Mode |= fs.ModeDir | 0o700
			dirs = append(dirs, name)
		case 2, 3:
			size := int(sz) * int(sz) * 3
			c = dense(bytes.Repeat([]byte{kind | 1}, size))
			if kind&0x80 != 0 {
				c = &content{size: int64(size) * 97, segs: []seg{{int64(size) * 50, []byte{1, 2, 3}}}}
			}
			files = append(files, name)
		case 4:
			h.Mode |= fs.ModeSymlink
			h.Linkname = strings.Repeat("L", int(sz)%120+1)
		case 5:
			if len(files) == 0 {
				continue
			}
			h = Header{Name: name, Hardlink: files[int(sz)%len(files)]}
		case 6:
			h.Mode |= fs.ModeDevice
			h.Devmajor, h.Devminor = uint32(sz)*17, uint32(nm)*4099
		case 7:
			h.Mode |= fs.ModeNamedPipe
		}
		entries = append(entries, entry{h: h, c: c})
	}
	return o, entries
}

// FuzzWriter writes fuzzed trees; whatever the writer accepts must pass
// e2fsck -fn. Errors (duplicates, too small) are fine, panics are not.
func FuzzWriter(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 2, 1, 5, 9, 4, 1, 7, 60, 5, 0, 9, 0})
	f.Add([]byte{3, 1, 0, 0, 0, 2, 1, 1, 255, 4, 1, 2, 59, 6, 1, 3, 200, 7, 0, 4, 0})
	f.Add([]byte{14, 0, 0, 0, 0, 0x82, 1, 1, 90, 3, 0, 2, 255, 5, 1, 3, 0, 5, 0, 4, 1})
	f.Add([]byte{5, 2, 0, 1, 70, 2, 0, 2, 70, 2, 0, 3, 70, 2, 0, 4, 70, 2, 0, 5, 70})
	f.Fuzz(func(t *testing.T, data []byte) {
		o, entries := fuzzTree(data)
		img := filepath.Join(t.TempDir(), "fuzz.img")
		if err := writeImageTo(img, o, entries); err != nil {
			return
		}
		fsck(t, img)
		rdumpCheck(t, img, expectFacts(o, entries))
	})
}
