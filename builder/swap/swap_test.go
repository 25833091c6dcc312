package swap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func writeFile(t *testing.T, path string, size int64, o Options) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, size, o); err != nil {
		f.Close()
		t.Fatalf("Write(%d, %+v): %v", size, o, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var cases = []struct {
	name string
	size int64
	o    Options
}{
	{"min", MinPages * 4096, Options{UUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Label: "s"}},
	{"odd-size", MinPages*4096 + 4095, Options{UUID: [16]byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00}}},
	{"label-max", 1 << 20, Options{UUID: [16]byte{0xde, 0xad, 0xbe, 0xef}, Label: "0123456789abcde"}},
	{"64MiB", 64 << 20, Options{UUID: [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, Label: "Debian_Swap"}},
	{"64k-pages", 2 << 20, Options{UUID: [16]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, Label: "big", PageSize: 65536}},
	{"zero-uuid", 128 << 10, Options{}},
}

// TestMatchesMkswap compares every byte of our area with mkswap's output
// for a file of the same size, UUID, label and page size.
func TestMatchesMkswap(t *testing.T) {
	mkswap := testenv.Tool(t, "mkswap")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ours := filepath.Join(dir, "ours.img")
			theirs := filepath.Join(dir, "theirs.img")
			writeFile(t, ours, c.size, c.o)
			if err := os.WriteFile(theirs, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(theirs, c.size); err != nil {
				t.Fatal(err)
			}
			args := []string{"-U", uuidString(c.o.UUID)}
			if c.o.UUID == ([16]byte{}) {
				args = []string{"-U", "clear"}
			}
			if c.o.Label != "" {
				args = append(args, "-L", c.o.Label)
			}
			if c.o.PageSize != 0 {
				args = append(args, "-p", fmt.Sprint(c.o.PageSize))
			}
			args = append(args, theirs)
			if out, err := exec.Command(mkswap, args...).CombinedOutput(); err != nil {
				t.Fatalf("mkswap %v: %v\n%s", args, err, out)
			}
			a, err := os.ReadFile(ours)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(theirs)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != len(b) {
				t.Fatalf("size: ours %d, mkswap %d", len(a), len(b))
			}
			if !bytes.Equal(a, b) {
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("first difference at byte %d: ours %#02x, mkswap %#02x", i, a[i], b[i])
					}
				}
			}
		})
	}
}

// TestBlkid reads UUID, label and type back with util-linux's blkid (low
// level probe) and file(1).
func TestBlkid(t *testing.T) {
	blkid := testenv.Tool(t, "blkid")
	file := testenv.Tool(t, "file")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "swap.img")
			writeFile(t, p, c.size, c.o)
			out, err := exec.Command(blkid, "-p", "-o", "export", p).Output()
			if err != nil {
				t.Fatalf("blkid -p: %v", err)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				got[k] = v
			}
			if got["TYPE"] != "swap" || got["VERSION"] != "1" {
				t.Errorf("blkid TYPE=%q VERSION=%q, want swap 1\n%s", got["TYPE"], got["VERSION"], out)
			}
			if c.o.UUID != ([16]byte{}) && got["UUID"] != uuidString(c.o.UUID) {
				t.Errorf("blkid UUID=%q, want %q", got["UUID"], uuidString(c.o.UUID))
			}
			if got["LABEL"] != c.o.Label {
				t.Errorf("blkid LABEL=%q, want %q", got["LABEL"], c.o.Label)
			}
			fo, err := exec.Command(file, "-s", p).Output()
			if err != nil {
				t.Fatalf("file -s: %v", err)
			}
			ps := c.o.PageSize
			if ps == 0 {
				ps = 4096
			}
			wantPages := fmt.Sprintf("size %d pages", c.size/int64(ps)-1)
			if !strings.Contains(string(fo), "Linux swap file") || !strings.Contains(string(fo), wantPages) {
				t.Errorf("file -s: %s; want a Linux swap file of %s", fo, wantPages)
			}
		})
	}
}

func TestSparse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "swap.img")
	writeFile(t, p, 256<<20, Options{Label: "sparse"})
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 256<<20 {
		t.Fatalf("size %d, want %d", fi.Size(), 256<<20)
	}
	if used := diskUsage(fi); used > 1<<20 {
		t.Errorf("256 MiB swap uses %d bytes on disk, want it sparse", used)
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		size int64
		o    Options
		want string
	}{
		{"nine-pages", 9*4096 + 4095, Options{}, "need at least 10 pages (40960 bytes)"},
		{"zero", 0, Options{}, "too small"},
		{"negative", -1, Options{}, "negative size"},
		{"long-label", 1 << 20, Options{Label: "0123456789abcdef"}, "more than 15"},
		{"nul-label", 1 << 20, Options{Label: "a\x00b"}, "NUL"},
		{"page-size", 1 << 20, Options{PageSize: 5000}, "power of two"},
		{"small-64k", 9 * 65536, Options{PageSize: 65536}, "too small"},
		{"huge", 1 << 50, Options{}, "32-bit last_page"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Header(c.size, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Header(%d, %+v) = %v, want error containing %q", c.size, c.o, err, c.want)
			}
			if strings.Contains(c.want, "small") && !errors.Is(err, ErrTooSmall) {
				t.Errorf("error %v is not ErrTooSmall", err)
			}
		})
	}
}

// TestMkswapRejectsWhatWeReject checks the lower bound against mkswap.
func TestMkswapRejectsWhatWeReject(t *testing.T) {
	mkswap := testenv.Tool(t, "mkswap")
	p := filepath.Join(t.TempDir(), "small.img")
	if err := os.WriteFile(p, make([]byte, 9*4096+4095), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkswap, "-p", "4096", p).CombinedOutput(); err == nil {
		t.Fatalf("mkswap accepted %d bytes, we reject it:\n%s", 9*4096+4095, out)
	}
}
