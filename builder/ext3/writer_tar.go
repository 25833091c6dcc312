package ext3

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// HeaderFromTar converts a tar header. Hard links (TypeLink) become
// Hardlink entries; PAX/GNU long names and times are already resolved by
// archive/tar. It returns ok=false for entries that are not files (global
// PAX headers).
func HeaderFromTar(th *tar.Header) (h Header, ok bool, err error) {
	h = Header{
		Name: th.Name, Uid: uint32(th.Uid), Gid: uint32(th.Gid),
		ModTime: th.ModTime, AccessTime: th.AccessTime, ChangeTime: th.ChangeTime,
		Devmajor: uint32(th.Devmajor), Devminor: uint32(th.Devminor),
	}
	if th.Uid < 0 || th.Gid < 0 || int64(th.Uid) > 0xFFFFFFFF || int64(th.Gid) > 0xFFFFFFFF {
		return h, false, fmt.Errorf("ext3: %s: uid/gid %d/%d out of range", th.Name, th.Uid, th.Gid)
	}
	if th.Devmajor < 0 || th.Devminor < 0 || th.Devmajor > 0xfff || th.Devminor > 0xfffff {
		return h, false, fmt.Errorf("ext3: %s: device %d:%d out of range", th.Name, th.Devmajor, th.Devminor)
	}
	perm := fs.FileMode(th.Mode & 0o777)
	if th.Mode&0o4000 != 0 {
		perm |= fs.ModeSetuid
	}
	if th.Mode&0o2000 != 0 {
		perm |= fs.ModeSetgid
	}
	if th.Mode&0o1000 != 0 {
		perm |= fs.ModeSticky
	}
	switch th.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		h.Mode = perm
		h.Size = th.Size
	case tar.TypeLink:
		h.Hardlink = th.Linkname
	case tar.TypeSymlink:
		h.Mode = perm | fs.ModeSymlink
		h.Linkname = th.Linkname
	case tar.TypeChar:
		h.Mode = perm | fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		h.Mode = perm | fs.ModeDevice
	case tar.TypeDir:
		h.Mode = perm | fs.ModeDir
	case tar.TypeFifo:
		h.Mode = perm | fs.ModeNamedPipe
	case tar.TypeXGlobalHeader:
		return h, false, nil
	default:
		return h, false, fmt.Errorf("ext3: %s: unsupported tar type %q", th.Name, th.Typeflag)
	}
	return h, true, nil
}

// AddTar copies every entry of a tar stream into the image.
func (w *Writer) AddTar(r *tar.Reader) error {
	for {
		th, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		h, ok, err := HeaderFromTar(th)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := w.WriteHeader(&h); err != nil {
			return err
		}
		if h.Size > 0 {
			if _, err := io.Copy(w, r); err != nil {
				return fmt.Errorf("copying %s: %w", th.Name, err)
			}
		}
	}
}
