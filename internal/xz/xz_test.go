package xz

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// arMembers returns the members of an ar archive (a .deb) by name.
func arMembers(b []byte) (map[string][]byte, error) {
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		return nil, fmt.Errorf("not an ar archive")
	}
	out := map[string][]byte{}
	b = b[8:]
	for len(b) >= 60 {
		name := strings.TrimRight(strings.TrimSpace(string(b[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(b[48:58])))
		if err != nil || size < 0 || 60+size > len(b) {
			return nil, fmt.Errorf("bad ar header %q", b[:60])
		}
		out[name] = b[60 : 60+size]
		b = b[60+size:]
		if size%2 == 1 && len(b) > 0 {
			b = b[1:]
		}
	}
	return out, nil
}

// xzMembers returns the .xz members of the .deb at path, named deb/member.
func xzMembers(t testing.TB, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := arMembers(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string][]byte{}
	for name, data := range m {
		if strings.HasSuffix(name, ".xz") {
			out[filepath.Base(path)+"/"+name] = data
		}
	}
	return out
}

// xzTool decodes b with xz(1).
func xzTool(t testing.TB, xz string, b []byte) []byte {
	t.Helper()
	cmd := exec.Command(xz, "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz -dc: %v", err)
	}
	return out
}

func decode(b []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// compareWithXZ decodes b with Reader and with xz(1).
func compareWithXZ(t *testing.T, xz, name string, b []byte) {
	t.Helper()
	want := xzTool(t, xz, b)
	got, err := decode(b)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes (sha256 %x), xz -dc gives %d (sha256 %x)", name,
			len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

// TestPool compares every xz member of the .debs under $XENIMG_XZ_POOL
// (e.g. a mirror's pool/) with xz -dc.
func TestPool(t *testing.T) {
	dir := os.Getenv("XENIMG_XZ_POOL")
	if dir == "" {
		t.Skip("XENIMG_XZ_POOL not set")
	}
	xz := testenv.Tool(t, "xz")
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".deb") {
			return err
		}
		for name, b := range xzMembers(t, p) {
			compareWithXZ(t, xz, name, b)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d members compared", n)
}

// want returns what testdata/NAME.xz decodes to.
func want(t testing.TB, xzPath string) []byte {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(xzPath, ".xz") + ".out")
	if os.IsNotExist(err) {
		b, err = os.ReadFile("testdata/text.out")
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testdata(t testing.TB) []string {
	m, err := filepath.Glob("testdata/*.xz")
	if err != nil || len(m) < 8 {
		t.Fatalf("testdata: %v %v", m, err)
	}
	return m
}

// TestTestdata decodes the files testdata/mkxz.sh made with xz(1).
func TestTestdata(t *testing.T) {
	for _, p := range testdata(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(b)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if w := want(t, p); !bytes.Equal(got, w) {
			t.Errorf("%s: got %d bytes, want %d", p, len(got), len(w))
		}
	}
}

// TestTruncated cuts every test file at every length: each read must end
// in an error wrapping io.ErrUnexpectedEOF, never in a panic or success.
func TestTruncated(t *testing.T) {
	for _, p := range testdata(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		full := len(b)
		if strings.HasSuffix(p, "streams.xz") {
			full = len(b) - 12 // the padding after the last stream may go
		}
		for n := range full {
			_, err := decode(b[:n])
			if strings.HasSuffix(p, "streams.xz") && (n == 676 || n == 680) && err == nil {
				continue // the first stream (crc64.xz), with or without padding
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d of %d: error %v, want io.ErrUnexpectedEOF", p, n, len(b), err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "xz: ") {
				t.Errorf("%s cut at %d: error %q lacks the xz: prefix", p, n, err)
			}
		}
	}
}

// TestDamaged flips each byte of the files with a check: every read must
// fail (the header, block, index and footer CRCs and the check cover
// every byte), with an xz: error and no panic.
func TestDamaged(t *testing.T) {
	for _, name := range []string{"crc32.xz", "crc64.xz", "sha256.xz", "blocks.xz", "streams.xz", "random.xz", "empty.xz"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		end := len(b)
		if name == "streams.xz" {
			end -= 12 // stream padding is not covered by a CRC
		}
		for i := range end {
			for _, x := range []byte{0x01, 0x80, 0xFF} {
				c := bytes.Clone(b)
				c[i] ^= x
				_, err := decode(c)
				if err == nil {
					t.Errorf("%s: byte %d ^ %#x: decoded without error", name, i, x)
				} else if !strings.HasPrefix(err.Error(), "xz: ") {
					t.Errorf("%s: byte %d: error %q lacks the xz: prefix", name, i, err)
				}
			}
		}
	}
}

// TestErrors checks the errors that name what is wrong.
func TestErrors(t *testing.T) {
	text, err := os.ReadFile("testdata/crc64.xz")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"), ErrFormat},
		{"zeros", make([]byte, 32), ErrFormat},
		{"garbage after stream", append(bytes.Clone(text), "JUNK"...), ErrCorrupt},
		{"padding not multiple of 4", append(bytes.Clone(text), 0, 0), io.ErrUnexpectedEOF},
	} {
		_, err := decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// genData returns n bytes that compress like real files: text with
// repeats at all distances, runs, and incompressible stretches.
func genData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	words := strings.Fields("the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet libc6 perl coreutils usr bin lib x86_64-linux-gnu share doc")
	b := make([]byte, 0, n)
	for len(b) < n {
		switch k := r.IntN(10); {
		case k < 5:
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, " \n/"[r.IntN(3)])
		case k < 7 && len(b) > 0:
			d := 1 + r.IntN(min(len(b), 1<<r.IntN(23)))
			l := 2 + r.IntN(300)
			for range l {
				b = append(b, b[len(b)-d])
			}
		case k < 8:
			b = append(b, bytes.Repeat([]byte{byte(r.IntN(256))}, r.IntN(100))...)
		default:
			for range r.IntN(2000) {
				b = append(b, byte(r.Uint32()))
			}
		}
	}
	return b[:n]
}

// TestGenerated compresses generated data with xz(1) and many option sets
// and decodes it.
func TestGenerated(t *testing.T) {
	xz := testenv.Tool(t, "xz")
	dir := t.TempDir()
	data := genData(1<<20, 1)
	in := filepath.Join(dir, "data")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	small := genData(100<<10, 2)
	smallIn := filepath.Join(dir, "small")
	if err := os.WriteFile(smallIn, small, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"-0"}, {"-1"}, {"-6"}, {"-9"}, {"-0e"}, {"-6e"},
		{"--check=none"}, {"--check=crc32"}, {"--check=crc64"}, {"--check=sha256"},
		{"--block-size=100000"}, {"-T2", "--block-size=1MiB"},
		{"--lzma2=dict=4KiB"}, {"--lzma2=dict=64KiB,lc=4,lp=0,pb=0"},
		{"--lzma2=preset=6,lc=0,lp=4,pb=4"}, {"--lzma2=preset=1,lc=1,lp=3,pb=2"},
	}
	for _, args := range cases {
		for _, f := range []struct {
			path string
			data []byte
		}{{in, data}, {smallIn, small}} {
			if f.path == in && (args[0] == "-9" || args[0] == "-6e") {
				continue // slow to compress, covered by the small input
			}
			out, err := exec.Command(xz, append(append([]string{"-c"}, args...), f.path)...).Output()
			if err != nil {
				t.Fatalf("xz %v: %v", args, err)
			}
			got, err := decode(out)
			if err != nil {
				t.Errorf("xz %v %s: %v", args, filepath.Base(f.path), err)
				continue
			}
			if !bytes.Equal(got, f.data) {
				t.Errorf("xz %v %s: got %d bytes, want %d", args, filepath.Base(f.path), len(got), len(f.data))
			}
		}
	}
	// From a pipe xz cannot shrink the dictionary to the input: the ring
	// grows from 64 KiB towards 8 MiB.
	cmd := exec.Command(xz, "-c", "-6")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decode(out); err != nil || !bytes.Equal(got, data) {
		t.Errorf("xz -6 from a pipe: %d bytes, %v", len(got), err)
	}
	// Filters other than LZMA2 and dictionaries over MaxDict are refused.
	for _, args := range [][]string{{"--x86", "--lzma2"}, {"--delta=dist=4", "--lzma2"}, {"--lzma2=dict=128MiB"}} {
		out, err := exec.Command(xz, append(append([]string{"-c"}, args...), smallIn)...).Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		if _, err := decode(out); !errors.Is(err, ErrUnsupported) {
			t.Errorf("xz %v: error %v, want ErrUnsupported", args, err)
		}
	}
}

// TestReadSizes reads with buffers of odd sizes.
func TestReadSizes(t *testing.T) {
	b, err := os.ReadFile("testdata/streams.xz")
	if err != nil {
		t.Fatal(err)
	}
	w := want(t, "testdata/streams.xz")
	for _, size := range []int{1, 7, 4096} {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		p := make([]byte, size)
		for {
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, w) {
			t.Errorf("reads of %d: got %d bytes, want %d", size, len(got), len(w))
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, p := range testdata(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "xz: ") {
				t.Fatalf("error %q lacks the xz: prefix", err)
			}
			return
		}
		defer r.Close()
		_, err = io.Copy(io.Discard, io.LimitReader(r, 8<<20))
		if err != nil && !strings.HasPrefix(err.Error(), "xz: ") {
			t.Fatalf("error %q lacks the xz: prefix", err)
		}
	})
}
