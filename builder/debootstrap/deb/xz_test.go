package deb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	txz "github.com/therootcompany/xz"
	uxz "github.com/ulikunitz/xz"

	ixz "github.com/xenimg/xenimg/internal/xz"
)

// xzDecoders are the pure-Go xz decoders compared by BenchmarkXZ.
var xzDecoders = []struct {
	name string
	open func(io.Reader) (io.Reader, error)
}{
	{"ulikunitz", func(r io.Reader) (io.Reader, error) { return uxz.NewReader(r) }},
	{"therootcompany", func(r io.Reader) (io.Reader, error) { return txz.NewReader(r, 0) }},
	{"internal", func(r io.Reader) (io.Reader, error) { return ixz.NewReader(r) }},
}

// dataMembers returns the compressed data.tar.xz members of the .debs
// named in $XENIMG_BENCH_DEBS (a directory), e.g. libc6, perl-base and
// coreutils from bookworm.
func dataMembers(t testing.TB) map[string][]byte {
	dir := os.Getenv("XENIMG_BENCH_DEBS")
	if dir == "" {
		t.Skip("XENIMG_BENCH_DEBS not set")
	}
	out := map[string][]byte{}
	for _, pat := range []string{"libc6_*.deb", "perl-base_*.deb", "coreutils_*.deb"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			ar, err := newArReader(bufio.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			for {
				h, err := ar.next()
				if err != nil {
					break
				}
				if h.name == "data.tar.xz" {
					b, err := io.ReadAll(ar)
					if err != nil {
						t.Fatal(err)
					}
					out[filepath.Base(p)] = b
				}
			}
			f.Close()
		}
	}
	if len(out) == 0 {
		t.Skip("no xz-compressed libc6/perl-base/coreutils in XENIMG_BENCH_DEBS")
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestXZDecodersAgree checks that every decoder yields the same bytes.
func TestXZDecodersAgree(t *testing.T) {
	for name, b := range dataMembers(t) {
		var sums [][]byte
		for _, d := range xzDecoders {
			r, err := d.open(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("%s %s: %v", d.name, name, err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, r); err != nil {
				t.Fatalf("%s %s: %v", d.name, name, err)
			}
			sums = append(sums, h.Sum(nil))
		}
		for i := range sums {
			if !bytes.Equal(sums[i], sums[0]) {
				t.Errorf("%s: %s and %s disagree", name, xzDecoders[i].name, xzDecoders[0].name)
			}
		}
	}
}

// BenchmarkXZ decodes real data.tar.xz members with each decoder and
// reports CPU time per operation, which stays meaningful on a busy machine.
func BenchmarkXZ(b *testing.B) {
	members := dataMembers(b)
	var total int64
	for _, m := range members {
		total += int64(len(m))
	}
	for _, d := range xzDecoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(total)
			c0 := cpuTime()
			var out int64
			for b.Loop() {
				out = 0
				for _, m := range members {
					r, err := d.open(bufio.NewReader(bytes.NewReader(m)))
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, r)
					if err != nil {
						b.Fatal(err)
					}
					out += n
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(out)/1e6, "outMB")
		})
	}
}

// xzMember returns the data.tar.xz member of testdata/hello_xz.deb.
func xzMember(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open("testdata/hello_xz.deb")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ar, err := newArReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	for {
		h, err := ar.next()
		if err != nil {
			t.Fatalf("no data.tar.xz in hello_xz.deb: %v", err)
		}
		if h.name == "data.tar.xz" {
			b, err := io.ReadAll(ar)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestNewXZErrors holds newXZ to its error contract: "xz: " prefixed
// errors, io.ErrUnexpectedEOF on truncation, the check verified.
func TestNewXZErrors(t *testing.T) {
	b := xzMember(t)
	read := func(b []byte) error {
		z, err := newXZ(bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer z.Close()
		_, err = io.Copy(io.Discard, z)
		return err
	}
	if err := read(b); err != nil {
		t.Fatalf("intact member: %v", err)
	}
	for n := range len(b) {
		err := read(b[:n])
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "xz: ") {
			t.Errorf("cut at %d of %d: error %v, want an xz: error wrapping io.ErrUnexpectedEOF", n, len(b), err)
		}
	}
	// The last 12 bytes are the stream footer; before them the index and,
	// before that, the block's check.
	for i := range len(b) {
		c := bytes.Clone(b)
		c[i] ^= 0x20
		if err := read(c); err == nil || !strings.HasPrefix(err.Error(), "xz: ") {
			t.Errorf("byte %d flipped: error %v, want an xz: error", i, err)
		}
	}
}
