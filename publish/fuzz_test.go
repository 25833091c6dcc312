package publish

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

// FuzzCheck: Check never panics or hangs on a damaged image: builder/ext3's
// seed image (128 KiB, 1 KiB blocks) with up to three 4-byte words
// overwritten, and optionally cut short. (The fuzzer mutates the small
// edit parameters, not the whole image: a 128 KiB []byte input made the
// fuzzing engine crawl.)
func FuzzCheck(f *testing.F) {
	seed, err := os.ReadFile("../builder/ext3/testdata/fuzz-seed-ext2-1k.img")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(1024+12), uint32(1), uint32(2048+8), uint32(0x40), uint32(0), uint32(0), uint32(0))
	f.Add(uint32(1024+4), uint32(0xFFFFFFFF), uint32(0), uint32(0), uint32(0), uint32(0), uint32(70000))
	f.Fuzz(func(t *testing.T, o1, v1, o2, v2, o3, v3, cut uint32) {
		img := bytes.Clone(seed)
		for _, e := range [][2]uint32{{o1, v1}, {o2, v2}, {o3, v3}} {
			p := int(e[0]) % (len(img) - 4)
			binary.LittleEndian.PutUint32(img[p:], binary.LittleEndian.Uint32(img[p:])^e[1])
		}
		if cut != 0 {
			img = img[:int(cut)%len(img)]
		}
		Check(bytes.NewReader(img))
	})
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.img\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := ParseSums(data)
		if err != nil {
			return
		}
		again, err := ParseSums(FormatSums(sums))
		if err != nil || len(again) != len(sums) {
			t.Fatalf("FormatSums output does not parse back: %v", err)
		}
	})
}
