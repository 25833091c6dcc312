package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/xenimg/xenimg/builder"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Keyring (armored or binary public keys) checks SHA256SUMS.gpg. With a
	// keyring, a missing signature is an error; without one, a present
	// signature is reported as not checked.
	Keyring string
	// Now is the time signatures are checked at (keys may expire).
	Now time.Time
	// E2fsck, if set, is the path of e2fsck, run with -fn on the
	// decompressed image in addition to Check.
	E2fsck string
	// TempDir holds the decompressed image (default os.TempDir()).
	TempDir string
	Log     *slog.Logger
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Name        string
	Files       []string // checked against SHA256SUMS
	Signer      string   // fingerprint; "" if no signature was checked
	Unchecked   []string // notes on what was not checked
	ImageSHA256 string
	Check       CheckReport
}

// Verify checks a directory written by Publish. Every failure names the
// file at fault.
func Verify(ctx context.Context, dir string, o VerifyOptions) (*VerifyReport, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rep := &VerifyReport{}
	sumsData, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, fmt.Errorf("reading checksums: %w", err)
	}
	// The signature first: nothing in SHA256SUMS is trusted before it.
	sig, err := os.ReadFile(filepath.Join(dir, SigFile))
	switch {
	case err == nil && o.Keyring != "":
		fp, err := CheckSignature(sumsData, sig, o.Keyring, o.Now)
		if err != nil {
			return nil, fmt.Errorf("%s: bad signature over %s (keyring %s): %w", SigFile, SumsFile, o.Keyring, err)
		}
		rep.Signer = fp
		log.Info("signature good", "signer", fp)
	case err == nil:
		rep.Unchecked = append(rep.Unchecked, SigFile+" present but not checked (no keyring given)")
	case errors.Is(err, os.ErrNotExist) && o.Keyring != "":
		return nil, fmt.Errorf("%s: missing: the publication is not signed, and a keyring was given", SigFile)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading signature: %w", err)
	}
	sums, err := ParseSums(sumsData)
	if err != nil {
		return nil, err
	}
	listed := map[string]string{}
	for _, s := range sums {
		listed[s.Name] = s.SHA256
	}
	for _, need := range []string{"manifest.json", IndexFile} {
		if listed[need] == "" {
			return nil, fmt.Errorf("%s: does not list %s", SumsFile, need)
		}
	}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, s := range sums {
		g.Go(func() error {
			got, _, err := builder.FileSHA256(filepath.Join(dir, s.Name))
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			if got != s.SHA256 {
				return fmt.Errorf("%s: checksum mismatch: SHA256SUMS says %s, file has %s", s.Name, s.SHA256, got)
			}
			return nil
		})
		rep.Files = append(rep.Files, s.Name)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if n := e.Name(); listed[n] == "" && n != SumsFile && n != SigFile {
				rep.Unchecked = append(rep.Unchecked, n+" is not listed in "+SumsFile)
			}
		}
	}
	sort.Strings(rep.Unchecked)
	m, _, err := ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	rep.Name = m.Name
	idxData, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(idxData, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", IndexFile, err)
	}
	var t *IndexTemplate
	for i := range idx.Templates {
		if idx.Templates[i].Name == m.Name {
			t = &idx.Templates[i]
		}
	}
	if t == nil {
		return nil, fmt.Errorf("%s: no template named %q (the manifest's name)", IndexFile, m.Name)
	}
	zname := m.Name + ".img.zst"
	if listed[zname] == "" {
		return nil, fmt.Errorf("%s: does not list %s", SumsFile, zname)
	}

	// Decompress the image (sparse) and check it.
	tmp, err := os.CreateTemp(o.TempDir, "xenimg-verify-*.img")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary image: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sum, size, err := decompressZstd(ctx, filepath.Join(dir, zname), tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zname, err)
	}
	rep.ImageSHA256 = sum
	if size != t.Size {
		return nil, fmt.Errorf("%s: decompresses to %d bytes, %s says %d", zname, size, IndexFile, t.Size)
	}
	if sum != t.ImageSHA256 {
		return nil, fmt.Errorf("%s: decompresses to SHA256 %s, %s says %s", zname, sum, IndexFile, t.ImageSHA256)
	}
	if ms := m.Images["root.img"].SHA256; sum != ms {
		if t.ImageMatchesManifest {
			return nil, fmt.Errorf("%s: decompresses to SHA256 %s, manifest.json says root.img is %s", zname, sum, ms)
		}
		rep.Unchecked = append(rep.Unchecked, "the image differs from the manifest's root.img (published with unused blocks zeroed, as index.json records)")
	}
	cr, err := Check(tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: the decompressed image fails the consistency check: %w", zname, err)
	}
	rep.Check = *cr
	if o.E2fsck != "" {
		out, err := exec.CommandContext(ctx, o.E2fsck, "-fn", tmp.Name()).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("%s: e2fsck -fn on the decompressed image: %v\n%s", zname, err, out)
		}
	}
	return rep, nil
}

// decompressZstd writes the zstd stream in src to dst, leaving all-zero
// 4 KiB blocks as holes, and returns the SHA256 and size of the content.
func decompressZstd(ctx context.Context, src string, dst *os.File) (string, int64, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return "", 0, err
	}
	defer d.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		n, rerr := io.ReadFull(d, buf)
		h.Write(buf[:n])
		for i := 0; i < n; i += 4096 {
			b := buf[i:min(i+4096, n)]
			if !allZero(b) {
				if _, err := dst.WriteAt(b, off+int64(i)); err != nil {
					return "", 0, fmt.Errorf("writing the decompressed image: %w", err)
				}
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", 0, fmt.Errorf("decompressing: %w", rerr)
		}
	}
	if err := dst.Truncate(off); err != nil {
		return "", 0, fmt.Errorf("writing the decompressed image: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), off, nil
}
