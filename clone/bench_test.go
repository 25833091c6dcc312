package clone_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xenimg/xenimg/clone"
	"github.com/xenimg/xenimg/internal/testenv"
)

// BenchmarkClone8 clones a 1 GiB template (150 MiB of file data) into 8
// slaves on image files, and in the same run copies the same images 8
// times with cp --sparse=always (the copy alone, before any mount or
// edit). It reports seconds per 8 slaves for each, with RSA-3072 host keys
// (the default) and RSA-2048, and the ratio cp / clone.
//
//	go test ./clone -run '^$' -bench Clone8 -benchtime 3x
func BenchmarkClone8(b *testing.B) {
	cp := testenv.Tool(b, "cp")
	tmpl := makeTemplate(b, tmplOptions{sizeMiB: 1024, swapMiB: 64, filler: 150 << 20})
	seed := testSeed(7)
	clean := func() {
		for _, d := range []string{"slaves", "xen", "cluster"} {
			os.RemoveAll(filepath.Join(tmpl, d))
		}
	}
	var t3072, t2048, tcp time.Duration
	n := 0
	for b.Loop() {
		n++
		for _, bits := range []int{0, 2048} {
			b.StopTimer()
			clean()
			b.StartTimer()
			t0 := time.Now()
			if _, err := run(b, clone.Options{From: tmpl, N: 8, Seed: seed, RSABits: bits}); err != nil {
				b.Fatal(err)
			}
			if bits == 0 {
				t3072 += time.Since(t0)
			} else {
				t2048 += time.Since(t0)
			}
		}
		b.StopTimer()
		dst := b.TempDir()
		t0 := time.Now()
		for i := range 8 {
			for _, f := range []string{"root.img", "swap.img"} {
				if out, err := exec.Command(cp, "--sparse=always", filepath.Join(tmpl, f), filepath.Join(dst, strconv.Itoa(i)+f)).CombinedOutput(); err != nil {
					b.Fatalf("cp: %v\n%s", err, out)
				}
			}
		}
		tcp += time.Since(t0)
		os.RemoveAll(dst)
		b.StartTimer()
	}
	clean()
	b.ReportMetric(t3072.Seconds()/float64(n), "clone-rsa3072-s")
	b.ReportMetric(t2048.Seconds()/float64(n), "clone-rsa2048-s")
	b.ReportMetric(tcp.Seconds()/float64(n), "cp-sparse-s")
	b.ReportMetric(tcp.Seconds()/t3072.Seconds(), "cp/clone")
}
