package tree

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// FromTar builds a tree from a tar stream (the members of "tar -C DIR -cf -
// ." or of any tar, with or without a leading "./"): directories, regular
// files (contents spooled), symbolic and hard links, character and block
// devices and FIFOs, with their permission bits (setuid, setgid and sticky
// included), numeric owners and modification times (seconds). A directory
// listed after entries below it gets its metadata then; a missing parent
// is created with mode 0755, owned by 0:0. Other member types (PAX and GNU
// extension headers are handled by archive/tar) are an error naming the
// member, as are names that leave the root ("..").
func FromTar(r io.Reader, opts Options) (*Tree, error) {
	t, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := t.addTar(r); err != nil {
		t.Close()
		return nil, fmt.Errorf("reading tree from tar: %w", err)
	}
	return t, nil
}

// tarPath turns a member name into a tree path; ok is false for names
// that leave the root.
func tarPath(name string) (string, bool) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", false
		}
	}
	return Clean("/" + name), true
}

func (t *Tree) addTar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p, ok := tarPath(h.Name)
		if !ok {
			return fmt.Errorf("member %q: name leaves the root", h.Name)
		}
		m := Meta{Mode: uint32(h.Mode) & 07777, UID: h.Uid, GID: h.Gid, Mtime: h.ModTime.Unix()}
		if err := t.addTarMember(tr, h, p, m); err != nil {
			return fmt.Errorf("member %q: %w", h.Name, err)
		}
	}
}

func (t *Tree) addTarMember(tr *tar.Reader, h *tar.Header, p string, m Meta) error {
	if p != "/" && h.Typeflag != tar.TypeDir {
		if err := t.MkdirAll(parentDir(p), Meta{Mode: 0o755}); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if p == "/" {
			t.root.setMeta(m)
			return nil
		}
		if n, err := t.Lstat(p); err == nil && n.Type == TypeDir {
			n.setMeta(m) // its entries came first
			return nil
		}
		if err := t.MkdirAll(parentDir(p), Meta{Mode: 0o755}); err != nil {
			return err
		}
		return t.Mkdir(p, m)
	case tar.TypeReg, tar.TypeRegA:
		c, err := t.Store(tr, h.Size)
		if err != nil {
			return err
		}
		_, err = t.Create(p, m, c)
		return err
	case tar.TypeSymlink:
		if err := t.Symlink(h.Linkname, p, m); err != nil {
			return err
		}
		// Symlink defaults a zero mode to 0777: keep the member's.
		n, err := t.Lstat(p)
		if err != nil {
			return err
		}
		n.Mode = m.Mode
		return nil
	case tar.TypeLink:
		old, ok := tarPath(h.Linkname)
		if !ok {
			return fmt.Errorf("hard link target %q leaves the root", h.Linkname)
		}
		if _, err := t.Lstat(old); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("hard link to %q, which comes later or not at all", h.Linkname)
		}
		return t.Link(old, p)
	case tar.TypeChar:
		return t.Mknod(p, TypeChar, m, uint32(h.Devmajor), uint32(h.Devminor))
	case tar.TypeBlock:
		return t.Mknod(p, TypeBlock, m, uint32(h.Devmajor), uint32(h.Devminor))
	case tar.TypeFifo:
		return t.Mknod(p, TypeFifo, m, 0, 0)
	}
	return fmt.Errorf("unsupported tar member type %q", h.Typeflag)
}

// parentDir is the directory holding the clean path p.
func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
