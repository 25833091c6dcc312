package ext3

import (
	"encoding/binary"
	"fmt"
)

// Inode field offsets (struct ext2_inode).
const (
	inOffMode      = 0
	inOffUID       = 2
	inOffSize      = 4
	inOffAtime     = 8
	inOffCtime     = 12
	inOffMtime     = 16
	inOffDtime     = 20
	inOffGID       = 24
	inOffLinks     = 26
	inOffBlocks    = 28
	inOffFlags     = 32
	inOffBlock     = 40
	inOffFileACL   = 104
	inOffSizeHigh  = 108
	inOffUIDHigh   = 120
	inOffGIDHigh   = 122
	inOffExtraSize = 128

	inFlagHuge = 0x40000 // EXT4_HUGE_FILE_FL

)

// xinode is one on-disk inode, kept as raw bytes so that fields the editor
// does not know survive a rewrite.
type xinode struct {
	raw []byte
}

func (n *xinode) u16(off int) uint16          { return binary.LittleEndian.Uint16(n.raw[off:]) }
func (n *xinode) u32(off int) uint32          { return binary.LittleEndian.Uint32(n.raw[off:]) }
func (n *xinode) put16(off int, v uint16)     { binary.LittleEndian.PutUint16(n.raw[off:], v) }
func (n *xinode) put32(off int, v uint32)     { binary.LittleEndian.PutUint32(n.raw[off:], v) }
func (n *xinode) mode() uint16                { return n.u16(inOffMode) }
func (n *xinode) ftype() uint16               { return n.mode() & S_IFMT }
func (n *xinode) isDir() bool                 { return n.ftype() == S_IFDIR }
func (n *xinode) links() uint16               { return n.u16(inOffLinks) }
func (n *xinode) flags() uint32               { return n.u32(inOffFlags) }
func (n *xinode) blockPtr(i int) uint32       { return n.u32(inOffBlock + 4*i) }
func (n *xinode) setBlockPtr(i int, v uint32) { n.put32(inOffBlock+4*i, v) }
func (n *xinode) fileACL() uint32             { return n.u32(inOffFileACL) }
func (n *xinode) sectors() uint32             { return n.u32(inOffBlocks) }

func (n *xinode) uid() uint32 {
	return uint32(n.u16(inOffUID)) | uint32(n.u16(inOffUIDHigh))<<16
}

func (n *xinode) gid() uint32 {
	return uint32(n.u16(inOffGID)) | uint32(n.u16(inOffGIDHigh))<<16
}

func (n *xinode) setOwner(uid, gid uint32) {
	n.put16(inOffUID, uint16(uid))
	n.put16(inOffUIDHigh, uint16(uid>>16))
	n.put16(inOffGID, uint16(gid))
	n.put16(inOffGIDHigh, uint16(gid>>16))
}

func (n *xinode) size() uint64 {
	s := uint64(n.u32(inOffSize))
	if n.ftype() == S_IFREG {
		s |= uint64(n.u32(inOffSizeHigh)) << 32
	}
	return s
}

func (n *xinode) setSize(s uint64) {
	n.put32(inOffSize, uint32(s))
	if n.ftype() == S_IFREG {
		n.put32(inOffSizeHigh, uint32(s>>32))
	}
}

func (n *xinode) setTimes(t uint32, atime, mtime, ctime bool) {
	if atime {
		n.put32(inOffAtime, t)
	}
	if mtime {
		n.put32(inOffMtime, t)
	}
	if ctime {
		n.put32(inOffCtime, t)
	}
}

// isFastSymlink follows e2fsprogs: a symlink whose target is shorter than
// i_block (60 bytes) keeps it there.
func (n *xinode) isFastSymlink() bool {
	return n.ftype() == S_IFLNK && n.size() < 60 && n.flags()&EXT4_INLINE_DATA_FL == 0
}

// hasBlockMap reports whether i_block holds a block map.
func (n *xinode) hasBlockMap() bool {
	switch n.ftype() {
	case S_IFREG, S_IFDIR:
		return true
	case S_IFLNK:
		return !n.isFastSymlink()
	}
	return false
}

// inodeOffset returns the byte offset of inode ino on the device.
func (f *FS) inodeOffset(ino uint32) (int64, error) {
	if ino < 1 || ino > f.inodes {
		return 0, corruptf(fmt.Sprintf("inode %d", ino), "inode number out of range 1..%d", f.inodes)
	}
	g := (ino - 1) / f.ipg
	i := (ino - 1) % f.ipg
	return int64(f.gds[g].inodeTable)*int64(f.bs) + int64(i)*int64(f.isize), nil
}

func (f *FS) readInode(ino uint32) (*xinode, error) {
	off, err := f.inodeOffset(ino)
	if err != nil {
		return nil, err
	}
	n := &xinode{raw: make([]byte, f.isize)}
	if err := readFull(f.dev, n.raw, off); err != nil {
		return nil, fmt.Errorf("reading inode %d: %w", ino, err)
	}
	return n, nil
}

// checkInode validates an inode the reader is about to use.
func (f *FS) checkInode(ino uint32, n *xinode) error {
	what := fmt.Sprintf("inode %d", ino)
	if n.links() == 0 && n.mode() == 0 {
		return corruptf(what, "inode is not in use")
	}
	if n.flags()&(EXT4_EXTENTS_FL|EXT4_INLINE_DATA_FL) != 0 {
		return corruptf(what, "uses extents or inline data, which this filesystem's features do not allow")
	}
	switch n.ftype() {
	case S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
	default:
		return corruptf(what, "unknown file type %#o", n.ftype())
	}
	return nil
}

func (f *FS) writeInode(ino uint32, n *xinode) error {
	off, err := f.inodeOffset(ino)
	if err != nil {
		return err
	}
	if _, err := f.wdev.WriteAt(n.raw, off); err != nil {
		return f.fail(fmt.Errorf("writing inode %d: %w", ino, err))
	}
	return nil
}

// newInodeBytes returns a zeroed inode of the filesystem's inode size with
// i_extra_isize set the way e2fsprogs sets it for new large inodes.
func (f *FS) newInodeBytes() *xinode {
	n := &xinode{raw: make([]byte, f.isize)}
	if f.isize >= 160 {
		n.put16(inOffExtraSize, 32)
	}
	return n
}
