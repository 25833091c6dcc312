package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/ext3"
)

// Options configures Publish.
type Options struct {
	// Out is the output directory (default DIR/publish). An existing Out is
	// replaced only if it holds a previous publication (index.json).
	Out string
	// Table is the disk image's partition table (default MBR).
	Table TableType
	// SignKey is an armored OpenPGP secret key file; empty: no signature.
	SignKey string
	// Workers bounds the parallel xz streams (0: GOMAXPROCS). The output
	// does not depend on it.
	Workers int
	// Log receives progress (nil: discarded).
	Log *slog.Logger
}

// Result is what Publish wrote.
type Result struct {
	Dir      string
	Template IndexTemplate
	Signed   bool
}

// ReadManifest reads and checks DIR/manifest.json.
func ReadManifest(path string) (*builder.Manifest, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	var m builder.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("reading manifest %s: %w", path, err)
	}
	if m.Name == "" || m.Name == "." || m.Name == ".." || strings.ContainsAny(m.Name, "/\\\x00") {
		return nil, nil, fmt.Errorf("reading manifest %s: name %q is not a plain file name", path, m.Name)
	}
	return &m, data, nil
}

// Publish writes the artifacts of the template in dir (see the package
// comment) and returns what it wrote. Nothing is left at Out on error.
func Publish(ctx context.Context, dir string, o Options) (*Result, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Table == "" {
		o.Table = MBR
	}
	if o.Table != MBR && o.Table != GPT {
		return nil, fmt.Errorf("partition table %q: want mbr or gpt", o.Table)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(dir, "publish")
	}
	m, manifestData, err := ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	if o.SignKey != "" { // fail before the long work
		if _, err := Sign(nil, o.SignKey, time.Unix(m.Epoch, 0)); err != nil {
			return nil, err
		}
	}
	if st, err := os.Stat(out); err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("output %s exists and is not a directory", out)
		}
		if _, err := os.Stat(filepath.Join(out, IndexFile)); err != nil {
			return nil, fmt.Errorf("output %s exists and is not a previous publication (no %s); remove it or choose another -o", out, IndexFile)
		}
	}
	src, err := OpenSource(filepath.Join(dir, "root.img"))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	swap := filepath.Join(dir, "swap.img")
	if _, err := os.Stat(swap); err != nil {
		log.Info("no swap.img: the disk image gets no swap partition")
		swap = ""
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	log.Info("publishing", "name", m.Name, "image", src.Path, "size", src.Size, "used", src.Used)

	name := m.Name
	var imageSum string
	var layout DiskLayout
	g, gctx := errgroup.WithContext(ctx)
	create := func(file string, fn func(w io.Writer) error) func() error {
		return func() error {
			start := time.Now()
			f, err := os.Create(filepath.Join(tmp, file))
			if err != nil {
				return fmt.Errorf("writing %s: %w", file, err)
			}
			defer f.Close()
			if err := fn(f); err != nil {
				return fmt.Errorf("writing %s: %w", file, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("writing %s: %w", file, err)
			}
			log.Info("wrote", "file", file, "seconds", time.Since(start).Seconds())
			return nil
		}
	}
	g.Go(create(name+".img.zst", func(w io.Writer) error {
		h := sha256.New()
		if err := src.WriteZstd(gctx, w, h); err != nil {
			return err
		}
		imageSum = hex.EncodeToString(h.Sum(nil))
		return nil
	}))
	g.Go(create(name+".img.xz", func(w io.Writer) error { return src.WriteXZ(gctx, w, o.Workers) }))
	g.Go(create(name+".tar.gz", func(w io.Writer) error {
		return withTree(src, w, func(fsys *ext3.FS, w io.Writer) error { return WriteTar(gctx, fsys, w) })
	}))
	g.Go(create(name+".cpio.gz", func(w io.Writer) error {
		return withTree(src, w, func(fsys *ext3.FS, w io.Writer) error { return WriteCpio(gctx, fsys, w) })
	}))
	g.Go(func() error {
		start := time.Now()
		var err error
		layout, err = WriteDisk(gctx, filepath.Join(tmp, name+".disk.img"), o.Table, src, swap, m.Images["root.img"].SHA256+" "+name)
		log.Info("wrote", "file", name+".disk.img", "seconds", time.Since(start).Seconds())
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), manifestData, 0o644); err != nil {
		return nil, fmt.Errorf("writing manifest.json: %w", err)
	}

	t := IndexTemplate{
		Name: name, OSInfo: osinfo(m.Suite.Codename), Codename: m.Suite.Codename, Arch: m.Suite.Arch,
		Variant: m.Suite.Variant, BuildDate: formatEpoch(m.Epoch), Epoch: m.Epoch,
		Size: src.Size, Used: src.Used, ImageSHA256: imageSum,
		ImageMatchesManifest: imageSum == m.Images["root.img"].SHA256,
		Partitions:           string(layout.Table), Expand: "/dev/sda1",
		Notes: fmt.Sprintf("Debian %s %s (%s), %d packages; %s.img.* is the root filesystem (ext2/ext3, %d bytes; unused blocks published as zeros); %s.disk.img holds it as partition 1 (swap: partition 2).",
			m.Suite.Codename, m.Suite.Arch, m.Suite.Variant, len(m.Packages), name, src.Size, name),
	}
	if !t.ImageMatchesManifest {
		log.Warn("the published image differs from the manifest's root.img SHA256 (root.img was changed after the build, or its unused blocks held data, published as zeros)",
			"manifest", m.Images["root.img"].SHA256, "published", imageSum)
	}
	formats := []struct{ file, format string }{
		{name + ".img.zst", "raw+zstd"}, {name + ".img.xz", "raw+xz"}, {name + ".tar.gz", "tar+gzip"},
		{name + ".cpio.gz", "cpio-newc+gzip"}, {name + ".disk.img", "disk-raw+" + string(o.Table)}, {"manifest.json", "json"},
	}
	sums := make([]Sum, len(formats))
	for i, f := range formats {
		sum, size, err := builder.FileSHA256(filepath.Join(tmp, f.file))
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", f.file, err)
		}
		t.Files = append(t.Files, IndexItem{Name: f.file, Format: f.format, Size: size, SHA256: sum})
		sums[i] = Sum{SHA256: sum, Name: f.file}
	}
	idx := &Index{Version: 1, Templates: []IndexTemplate{t}}
	idxData, err := idx.marshal()
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", IndexFile, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, IndexFile), idxData, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", IndexFile, err)
	}
	is := sha256.Sum256(idxData)
	sums = append(sums, Sum{SHA256: hex.EncodeToString(is[:]), Name: IndexFile})
	sumsData := FormatSums(sums)
	if err := os.WriteFile(filepath.Join(tmp, SumsFile), sumsData, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", SumsFile, err)
	}
	res := &Result{Dir: out, Template: t}
	if o.SignKey != "" {
		sig, err := Sign(sumsData, o.SignKey, time.Unix(m.Epoch, 0))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, SigFile), sig, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", SigFile, err)
		}
		res.Signed = true
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(out); err != nil {
		return nil, fmt.Errorf("replacing %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("moving %s into place: %w", out, err)
	}
	ok = true
	return res, nil
}

// withTree opens a private reader of the image (the FS is not shared
// between goroutines) and writes fn's archive through gzip to w.
func withTree(src *Source, w io.Writer, fn func(*ext3.FS, io.Writer) error) error {
	fsys, err := ext3.Open(src.ReaderAt(), ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("opening filesystem in %s: %w", src.Path, err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if err := fn(fsys, zw); err != nil {
		return err
	}
	return zw.Close()
}
