package ext3

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

// benchTree is the host tree the benchmarks copy: XENIMG_BENCH_TREE, or
// the Go installation (about 270 MB, 15,000 files).
func benchTree(b *testing.B) (string, int64) {
	dir := os.Getenv("XENIMG_BENCH_TREE")
	if dir == "" {
		dir = runtime.GOROOT()
	}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
			// Warm the page cache so both tools read from memory.
			if data, err := os.ReadFile(p); err == nil {
				_ = data
			}
		}
		return nil
	})
	if err != nil {
		b.Skipf("bench tree %s: %v", dir, err)
	}
	return dir, total
}

func writeDir(b *testing.B, src, img string) { writeDirSize(b, src, img, 1<<30) }

func writeDirSize(b *testing.B, src, img string, size int64) {
	f, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWriter(f, Options{Size: size, Journal: true, Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.AddDir(src, ""); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriter copies the bench tree into a 1 GiB ext3 image.
func BenchmarkWriter(b *testing.B) {
	src, total := benchTree(b)
	img := filepath.Join(b.TempDir(), "bench.img")
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeDir(b, src, img)
	}
	b.StopTimer()
	fsck(b, img) // the benchmarked image is a good one
	// How close is Needed to what the tree really uses?
	var u Usage
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := Header{Name: p, Mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			h.Size = fi.Size()
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			h.Linkname, _ = os.Readlink(p)
		}
		u.Add(&h)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	need, err := Needed(u, Options{Journal: true})
	if err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("dumpe2fs", "-h", img).Output()
	if err == nil {
		bc, fb := regexpFind(string(out), "Block count:"), regexpFind(string(out), "Free blocks:")
		var nb, nf int64
		fmt.Sscan(bc, &nb)
		fmt.Sscan(fb, &nf)
		b.ReportMetric(float64((nb-nf)*4096)/(1<<20), "used-MiB")
	}
	b.ReportMetric(float64(need)/(1<<20), "needed-MiB")
	// The tree fits an image of exactly that size.
	writeDirSize(b, src, img, need)
	fsck(b, img)
}

// BenchmarkMke2fs runs mke2fs -t ext3 -d on the same tree, for comparison.
func BenchmarkMke2fs(b *testing.B) {
	mke2fs := testenv.Tool(b, "mke2fs")
	src, total := benchTree(b)
	img := filepath.Join(b.TempDir(), "ref.img")
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		os.Remove(img)
		if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-d", src, img, "1G").CombinedOutput(); err != nil {
			b.Fatalf("mke2fs: %v\n%s", err, out)
		}
	}
}

// BenchmarkWriterVsMke2fs times both on the same tree, alternating, and
// reports mke2fs time / xenimg time (above 1: xenimg is faster).
func BenchmarkWriterVsMke2fs(b *testing.B) {
	mke2fs := testenv.Tool(b, "mke2fs")
	src, _ := benchTree(b)
	dir := b.TempDir()
	var ours, theirs time.Duration
	for i := 0; i < b.N; i++ {
		img := filepath.Join(dir, "ours.img")
		t0 := time.Now()
		writeDir(b, src, img)
		ours += time.Since(t0)
		os.Remove(img)
		ref := filepath.Join(dir, "ref.img")
		t0 = time.Now()
		if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-d", src, ref, "1G").CombinedOutput(); err != nil {
			b.Fatalf("mke2fs: %v\n%s", err, out)
		}
		theirs += time.Since(t0)
		os.Remove(ref)
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "xenimg-ms/op")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "mke2fs-ms/op")
	b.ReportMetric(float64(theirs)/float64(ours), "speedup")
}
