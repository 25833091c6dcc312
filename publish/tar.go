package publish

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/xenimg/xenimg/builder/ext3"
)

// WriteTar writes the tree of fsys as a tar stream (PAX where needed):
// names "./path", numeric owners, permission bits with setuid/setgid/sticky,
// mtimes in whole seconds, symlinks, hard links (the first path of an inode
// in walk order carries the data), character and block devices, fifos and
// sockets are left out (tar cannot hold them).
func WriteTar(ctx context.Context, fsys *ext3.FS, w io.Writer) error {
	nodes, err := walkTree(fsys)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	first := map[uint32]string{} // inode -> first path, for hard links
	for _, n := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi := n.Info
		name := "./"
		if n.Path != "." {
			name += n.Path
		}
		h := &tar.Header{
			Name:    name,
			Mode:    int64(fi.RawMode & 0o7777),
			Uid:     int(fi.UID),
			Gid:     int(fi.GID),
			ModTime: time.Unix(fi.Mtime.Unix(), 0),
			Format:  tar.FormatPAX,
		}
		t := fileType(fi.RawMode)
		if t != sIFDIR && fi.Nlink > 1 {
			if p, ok := first[fi.Ino]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, "./"+p
				if err := tw.WriteHeader(h); err != nil {
					return fmt.Errorf("writing tar entry %s: %w", name, err)
				}
				continue
			}
			first[fi.Ino] = n.Path
		}
		switch t {
		case sIFDIR:
			h.Typeflag = tar.TypeDir
			if name != "./" {
				h.Name += "/"
			}
		case sIFREG:
			h.Typeflag, h.Size = tar.TypeReg, fi.FileSize
		case sIFLNK:
			h.Typeflag, h.Linkname = tar.TypeSymlink, fi.Target
		case sIFCHR, sIFBLK:
			h.Typeflag = tar.TypeChar
			if t == sIFBLK {
				h.Typeflag = tar.TypeBlock
			}
			h.Devmajor, h.Devminor = int64(fi.Major), int64(fi.Minor)
		case sIFIFO:
			h.Typeflag = tar.TypeFifo
		default: // sockets
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing tar entry %s: %w", name, err)
		}
		if t == sIFREG && fi.FileSize > 0 {
			if err := copyFile(fsys, n.Path, tw, fi.FileSize); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing tar: %w", err)
	}
	return nil
}

// copyFile streams the regular file p (size bytes) to w.
func copyFile(fsys *ext3.FS, p string, w io.Writer, size int64) error {
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("reading %s from the image: %w", p, err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("reading %s from the image: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("reading %s from the image: got %d bytes, inode says %d", p, n, size)
	}
	return nil
}
