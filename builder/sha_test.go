package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestFileSHA256Sparse checks the hole-skipping hash against a plain one
// on files with holes at the start, middle and end.
func TestFileSHA256Sparse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int64
		writes map[int64]string
	}{
		{"empty", 0, nil},
		{"all hole", 9 << 20, nil},
		{"data only", 5, map[int64]string{0: "hello"}},
		{"hole data hole", 13<<20 + 7, map[int64]string{6 << 20: "middle"}},
		{"data at both ends", 9<<20 + 1, map[int64]string{0: "first", 9 << 20: "z"}},
		{"unaligned", 4<<20 + 4097, map[int64]string{4<<20 + 4000: "across a block edge"}},
	} {
		p := filepath.Join(t.TempDir(), "f")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(tc.size); err != nil {
			t.Fatal(err)
		}
		for off, s := range tc.writes {
			if _, err := f.WriteAt([]byte(s), off); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		got, n, err := FileSHA256(p)
		if err != nil || got != hex.EncodeToString(want[:]) || n != tc.size {
			t.Errorf("%s: FileSHA256 = %s, %d, %v; want %x, %d", tc.name, got, n, err, want, tc.size)
		}
	}
}
