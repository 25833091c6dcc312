package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/builder/tree"
)

// imageHeaders lists the tree's entries as ext3 headers, in walk order,
// with hard links pointing at the first name of their node.
func imageHeaders(t *tree.Tree) ([]ext3.Header, []*tree.Node, error) {
	var (
		hdrs  []ext3.Header
		nodes []*tree.Node
		first = map[*tree.Node]string{}
	)
	err := t.Walk(func(p string, n *tree.Node) error {
		if p == "/" {
			hdrs = append(hdrs, ext3.Header{Name: ".", Mode: fs.ModeDir | fs.FileMode(n.Mode&0o777) | modeBits(n.Mode),
				Uid: uint32(n.UID), Gid: uint32(n.GID), ModTime: time.Unix(n.Mtime, 0)})
			nodes = append(nodes, n)
			return nil
		}
		name := p[1:]
		if n.Type != tree.TypeDir && n.Links() > 1 {
			if f, ok := first[n]; ok {
				hdrs = append(hdrs, ext3.Header{Name: name, Hardlink: f})
				nodes = append(nodes, nil)
				return nil
			}
			first[n] = name
		}
		h := ext3.Header{
			Name: name, Uid: uint32(n.UID), Gid: uint32(n.GID),
			ModTime: time.Unix(n.Mtime, 0),
			Mode:    fs.FileMode(n.Mode&0o777) | modeBits(n.Mode),
		}
		switch n.Type {
		case tree.TypeDir:
			h.Mode |= fs.ModeDir
		case tree.TypeRegular:
			h.Size = n.Size()
		case tree.TypeSymlink:
			h.Mode |= fs.ModeSymlink
			h.Linkname = n.Target
		case tree.TypeChar:
			h.Mode |= fs.ModeDevice | fs.ModeCharDevice
			h.Devmajor, h.Devminor = n.Major, n.Minor
		case tree.TypeBlock:
			h.Mode |= fs.ModeDevice
			h.Devmajor, h.Devminor = n.Major, n.Minor
		case tree.TypeFifo:
			h.Mode |= fs.ModeNamedPipe
		case tree.TypeSocket:
			h.Mode |= fs.ModeSocket
		default:
			return fmt.Errorf("%s: unsupported node type %v", p, n.Type)
		}
		hdrs = append(hdrs, h)
		nodes = append(nodes, n)
		return nil
	})
	return hdrs, nodes, err
}

// modeBits maps setuid/setgid/sticky (04000/02000/01000) to io/fs bits.
func modeBits(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// imageUsage accounts for every entry of the tree.
func imageUsage(hdrs []ext3.Header) ext3.Usage {
	var u ext3.Usage
	for i := range hdrs {
		u.Add(&hdrs[i])
	}
	return u
}

// checkFits says, before anything is written, whether t fits o.Size.
func checkFits(t *tree.Tree, o ext3.Options) error {
	hdrs, _, err := imageHeaders(t)
	if err != nil {
		return err
	}
	return fits(hdrs, o)
}

func fits(hdrs []ext3.Header, o ext3.Options) error {
	need, err := ext3.Needed(imageUsage(hdrs), o)
	if err != nil {
		return err
	}
	if need > o.Size {
		return fmt.Errorf("%w: the tree needs at least %d MiB, image.size is %d MiB", ext3.ErrTooSmall, (need+1<<20-1)>>20, o.Size>>20)
	}
	return nil
}

// WriteImage writes t as an ext2/ext3 image to path (created or
// truncated, with mode perm). It checks the size first and says how much
// is needed.
func WriteImage(ctx context.Context, t *tree.Tree, path string, o ext3.Options, perm os.FileMode) (err error) {
	hdrs, nodes, err := imageHeaders(t)
	if err != nil {
		return err
	}
	if err := fits(hdrs, o); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w, err := ext3.NewWriter(f, o)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range hdrs {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h := &hdrs[i]
		if err := w.WriteHeader(h); err != nil {
			return fmt.Errorf("writing /%s into the image: %w", h.Name, err)
		}
		n := nodes[i]
		if n == nil || n.Type != tree.TypeRegular || h.Size == 0 {
			continue
		}
		rc, err := n.Content().Open()
		if err != nil {
			return fmt.Errorf("reading /%s from the tree: %w", h.Name, err)
		}
		written, err := io.CopyBuffer(w, rc, buf)
		rc.Close()
		if err != nil {
			return fmt.Errorf("writing /%s into the image: %w", h.Name, err)
		}
		if written != h.Size {
			return fmt.Errorf("writing /%s into the image: %w", h.Name, errors.New("content shorter than its size"))
		}
	}
	return w.Close()
}
