package publish

import (
	"context"
	"fmt"
	"io"

	"github.com/xenimg/xenimg/builder/ext3"
)

// WriteCpio writes the tree of fsys as a newc ("070701") cpio archive, as
// `find . | cpio -o -H newc` would: names relative ("." for the root, then
// "etc", "etc/passwd", ...), inode numbers from the filesystem, device
// numbers of device nodes in rdevmajor/rdevminor, symlink targets as data.
// Hard links share one inode number; as GNU cpio expects, only the last
// link of a group carries the data, the others have size 0. Sockets are
// kept (newc can hold them). The archive ends with TRAILER!!!.
//
// Written here rather than with github.com/cavaliergopher/cpio, whose
// newc writer stores 0,0 as every device number.
func WriteCpio(ctx context.Context, fsys *ext3.FS, w io.Writer) error {
	nodes, err := walkTree(fsys)
	if err != nil {
		return err
	}
	links := map[uint32]int{} // inode -> paths in the archive
	for _, n := range nodes {
		if fileType(n.Info.RawMode) != sIFDIR {
			links[n.Info.Ino]++
		}
	}
	seen := map[uint32]int{}
	cw := &cpioWriter{w: w}
	for _, n := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi := n.Info
		t := fileType(fi.RawMode)
		h := cpioHeader{
			ino: fi.Ino, mode: uint32(fi.RawMode), uid: fi.UID, gid: fi.GID,
			nlink: uint32(fi.Nlink), mtime: uint32(fi.Mtime.Unix()), name: n.Path,
		}
		var data []byte
		switch t {
		case sIFDIR:
		case sIFREG:
			seen[fi.Ino]++
			h.nlink = uint32(links[fi.Ino])
			if seen[fi.Ino] == links[fi.Ino] {
				h.size = uint32(fi.FileSize)
				if fi.FileSize > 0xFFFFFFFF {
					return fmt.Errorf("writing cpio: %s: %d bytes is more than newc holds (4 GiB)", n.Path, fi.FileSize)
				}
			}
		case sIFLNK:
			data = []byte(fi.Target)
			h.size = uint32(len(data))
		case sIFCHR, sIFBLK:
			h.rmajor, h.rminor = fi.Major, fi.Minor
		}
		if t != sIFDIR && t != sIFREG {
			h.nlink = uint32(links[fi.Ino])
		}
		if err := cw.header(&h); err != nil {
			return fmt.Errorf("writing cpio entry %s: %w", n.Path, err)
		}
		switch {
		case data != nil:
			if err := cw.body(data); err != nil {
				return fmt.Errorf("writing cpio entry %s: %w", n.Path, err)
			}
		case h.size > 0:
			if err := copyFile(fsys, n.Path, cw, int64(h.size)); err != nil {
				return err
			}
			if err := cw.pad(); err != nil {
				return fmt.Errorf("writing cpio entry %s: %w", n.Path, err)
			}
		}
	}
	if err := cw.header(&cpioHeader{nlink: 1, name: "TRAILER!!!"}); err != nil {
		return fmt.Errorf("writing cpio trailer: %w", err)
	}
	return nil
}

type cpioHeader struct {
	ino, mode, uid, gid, nlink, mtime, size uint32
	rmajor, rminor                          uint32
	name                                    string
}

// cpioWriter tracks the offset for the 4-byte alignment newc needs.
type cpioWriter struct {
	w   io.Writer
	off int64
}

func (c *cpioWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.off += int64(n)
	return n, err
}

func (c *cpioWriter) pad() error {
	if r := c.off % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

func (c *cpioWriter) header(h *cpioHeader) error {
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with NUL), check.
	s := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
		h.ino, h.mode, h.uid, h.gid, h.nlink, h.mtime, h.size, 0, 0, h.rmajor, h.rminor, len(h.name)+1, 0, h.name)
	if _, err := io.WriteString(c, s); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) body(p []byte) error {
	if _, err := c.Write(p); err != nil {
		return err
	}
	return c.pad()
}
