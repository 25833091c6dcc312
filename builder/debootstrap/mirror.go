package debootstrap

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
)

// Mirror writes a partial Debian repository into dir: the verbatim signed
// Release files, the Packages indexes the plan loaded, and the pool files
// of the resolved set. apt, debootstrap and xenimg accept it as a file://
// mirror for the same suite, architecture and components. debs are the
// local paths Fetch returned, in set order.
func (p *Plan) Mirror(ctx context.Context, f *fetch.Fetcher, debs []string, dir string) error {
	if len(debs) != len(p.Set.Packages) {
		return fmt.Errorf("mirror: %d .debs for %d packages", len(debs), len(p.Set.Packages))
	}
	// apt also fetches the English descriptions of every component.
	for _, comp := range p.opts.Components {
		if _, err := p.Archive.Translation(ctx, comp, "en"); err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
	}
	for _, ix := range p.Archive.IndexFiles() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			data []byte
			err  error
		)
		base := filepath.Base(ix.Path)
		if base == "InRelease" || base == "Release" || base == "Release.gpg" {
			data, err = f.Unverified(ctx, ix.URL) // verified by Open; the cache holds it
		} else {
			data, err = f.Bytes(ctx, ix.URL, ix.Sum)
		}
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		if err := writeMirrorFile(dir, ix.Path, data); err != nil {
			return err
		}
	}
	for i, s := range p.Set.Packages {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copyMirrorFile(dir, s.Filename, debs[i]); err != nil {
			return err
		}
	}
	return nil
}

func mirrorPath(dir, rel string) (string, error) {
	clean := filepath.Clean("/" + rel)
	if clean == "/" || strings.Contains(rel, "..") {
		return "", fmt.Errorf("mirror: refusing path %q", rel)
	}
	return filepath.Join(dir, clean), nil
}

func writeMirrorFile(dir, rel string, data []byte) error {
	dst, err := mirrorPath(dir, rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func copyMirrorFile(dir, rel, src string) error {
	dst, err := mirrorPath(dir, rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
