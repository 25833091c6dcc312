package publish

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkVersusTools compresses one image with zstd -T0, xz -T0 -6 and
// pigz, and with this package's zstd and parallel xz writers, in one run,
// and reports seconds and sizes side by side. Set XENIMG_BENCH_TEMPLATE to
// a template directory (root.img + manifest.json), e.g. the output of
// xenimg build recipes/minbase.toml:
//
//	XENIMG_BENCH_TEMPLATE=out/minbase go test -run - -bench VersusTools -benchtime 1x ./publish
func BenchmarkVersusTools(b *testing.B) {
	dir := os.Getenv("XENIMG_BENCH_TEMPLATE")
	if dir == "" {
		b.Skip("set XENIMG_BENCH_TEMPLATE to a template directory")
	}
	img := filepath.Join(dir, "root.img")
	tmp := b.TempDir()
	type result struct {
		name string
		secs float64
		size int64
	}
	var res []result
	timeIt := func(name, out string, fn func() error) {
		metric := "s-" + strings.Fields(name)[0]
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		secs := time.Since(start).Seconds()
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		res = append(res, result{name, secs, st.Size()})
		b.ReportMetric(secs, metric)
	}
	shell := func(name, cmd, out string) {
		if _, err := exec.LookPath(name); err != nil {
			b.Logf("%s not installed; skipped", name)
			return
		}
		timeIt(cmd, out, func() error {
			c := exec.Command("sh", "-c", cmd+" < "+img+" > "+out)
			c.Stderr = os.Stderr
			return c.Run()
		})
	}
	for i := 0; i < b.N; i++ {
		res = res[:0]
		src, err := OpenSource(img)
		if err != nil {
			b.Fatal(err)
		}
		toFile := func(out string, fn func(f *os.File) error) func() error {
			return func() error {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				if err := fn(f); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}
		}
		zo, xo := filepath.Join(tmp, "x.img.zst"), filepath.Join(tmp, "x.img.xz")
		timeIt("xenimg-zstd", zo, toFile(zo, func(f *os.File) error { return src.WriteZstd(context.Background(), f, nil) }))
		timeIt("xenimg-xz", xo, toFile(xo, func(f *os.File) error { return src.WriteXZ(context.Background(), f, 0) }))
		src.Close()
		shell("zstd", "zstd -T0 -q -c", filepath.Join(tmp, "t.zst"))
		shell("xz", "xz -T0 -6 -c", filepath.Join(tmp, "t.xz"))
		shell("pigz", "pigz -c", filepath.Join(tmp, "t.gz"))
		pub := filepath.Join(tmp, "pub")
		timeIt("xenimg-publish-all", filepath.Join(pub, SumsFile), func() error {
			_, err := Publish(context.Background(), dir, Options{Out: pub})
			return err
		})
	}
	st, _ := os.Stat(img)
	fmt.Fprintf(os.Stderr, "image %s: %d bytes\n%-24s %9s %12s %7s\n", img, st.Size(), "", "seconds", "bytes", "ratio")
	for _, r := range res {
		if strings.Contains(r.name, "publish-all") {
			fmt.Fprintf(os.Stderr, "%-24s %9.2f   (all artifacts, written concurrently)\n", r.name, r.secs)
			continue
		}
		fmt.Fprintf(os.Stderr, "%-24s %9.2f %12d %7.2f\n", r.name, r.secs, r.size, float64(st.Size())/float64(r.size))
	}
}
