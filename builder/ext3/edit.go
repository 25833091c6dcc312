package ext3

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Edits in place. Every edit keeps bitmaps, free counts, directory entries,
// link counts and i_blocks consistent (Sync/Close write the bitmaps and
// counters), so e2fsck -fn stays clean after any sequence of them. Edits
// stamp the times they change with OpenOptions.Epoch.

// dirGrowthReserve is the number of free blocks an edit that adds a
// directory entry keeps in hand for a new directory block and up to three
// indirect blocks, so that it never fails half-way.
const dirGrowthReserve = 4

// maxLinks is EXT2_LINK_MAX.
const maxLinks = 65000

func validName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: bad file name %q", ErrInvalidPath, name)
	}
	return nil
}

// lastComponent returns the final component of a path as written.
func lastComponent(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// locateEdit resolves the target of an edit and refuses the root, "." and
// ".." as the final component.
func (f *FS) locateEdit(op, name string, followLast bool) (*located, error) {
	if err := f.writable(op + " " + name); err != nil {
		return nil, err
	}
	if err := validName(lastComponent(name)); err != nil {
		return nil, pathErr(op, name, err)
	}
	loc, err := f.locate(name, followLast)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	if loc.parent == 0 {
		return nil, pathErr(op, name, ErrInvalidPath)
	}
	return loc, nil
}

func (f *FS) newInode(parent uint32, mode uint16, uid, gid uint32) (uint32, *xinode, error) {
	ino, err := f.allocInode(f.inodeGroup(parent), mode&S_IFMT == S_IFDIR)
	if err != nil {
		return 0, nil, err
	}
	n := f.newInodeBytes()
	n.put16(inOffMode, mode)
	n.setOwner(uid, gid)
	n.setTimes(f.epoch, true, true, true)
	return ino, n, nil
}

// linkInto adds an entry for ino to directory parent (re-read from disk).
func (f *FS) linkInto(parent uint32, name string, ino uint32, mode uint16) error {
	pn, err := f.readInode(parent)
	if err != nil {
		return err
	}
	return f.addEntry(parent, pn, dirent{ino: ino, name: name, ftype: FileTypeOfMode(mode)})
}

// adjustLinks changes the link count of inode ino by delta and stamps ctime.
func (f *FS) adjustLinks(ino uint32, delta int) error {
	n, err := f.readInode(ino)
	if err != nil {
		return err
	}
	l := int(n.links()) + delta
	if l < 0 || l > maxLinks {
		return corruptf(fmt.Sprintf("inode %d", ino), "link count would become %d", l)
	}
	n.put16(inOffLinks, uint16(l))
	n.setTimes(f.epoch, false, false, true)
	return f.writeInode(ino, n)
}

// WriteFile creates the regular file name, or replaces the contents of an
// existing one, and sets its permissions and owner. A final symbolic link
// is followed. The old blocks are released; the file may grow or shrink.
func (f *FS) WriteFile(name string, data []byte, perm fs.FileMode, uid, gid uint32) error {
	loc, err := f.locateEdit("writefile", name, true)
	if err != nil {
		return err
	}
	mode := S_IFREG | fromPerm(perm)
	if loc.ino != 0 {
		switch {
		case loc.n.isDir():
			return pathErr("writefile", name, ErrIsDir)
		case loc.n.ftype() != S_IFREG:
			return pathErr("writefile", name, ErrNotRegular)
		}
		n := loc.n
		n.put16(inOffMode, mode)
		n.setOwner(uid, gid)
		n.setTimes(f.epoch, false, true, true)
		if err := f.writeContent(loc.ino, n, data, 0); err != nil {
			return pathErr("writefile", name, err)
		}
		return nil
	}
	if err := validName(loc.name); err != nil {
		return pathErr("writefile", name, err)
	}
	if f.gdsFreeInodes() == 0 {
		return pathErr("writefile", name, ErrNoInodes)
	}
	ino, n, err := f.newInode(loc.parent, mode, uid, gid)
	if err != nil {
		return pathErr("writefile", name, err)
	}
	n.put16(inOffLinks, 1)
	if err := f.writeContent(ino, n, data, dirGrowthReserve); err != nil {
		if ferr := f.freeInode(ino, false); ferr != nil {
			f.fail(ferr)
		}
		return pathErr("writefile", name, err)
	}
	if err := f.linkInto(loc.parent, loc.name, ino, mode); err != nil {
		return pathErr("writefile", name, f.fail(err))
	}
	return nil
}

func (f *FS) gdsFreeInodes() uint64 {
	var n uint64
	for _, d := range f.gds {
		n += uint64(d.freeInodes)
	}
	return n
}

// countMapBlocks returns the number of data and indirect blocks of n.
func (f *FS) countMapBlocks(ino uint32, n *xinode) (uint64, error) {
	if !n.hasBlockMap() {
		return 0, nil
	}
	var c uint64
	err := f.walkBlocks(ino, n, f.maxFileBlocks(), func(uint64, uint32, bool) error {
		c++
		return nil
	})
	return c, err
}

// writeContent replaces the block map of inode ino with data and writes
// the inode. It checks for space first (keeping reserve blocks free), so it
// fails either before changing anything or not at all.
func (f *FS) writeContent(ino uint32, n *xinode, data []byte, reserve uint64) error {
	bs := uint64(f.bs)
	nblk := (uint64(len(data)) + bs - 1) / bs
	if nblk > f.maxFileBlocks() {
		return ErrFileTooLarge
	}
	var logicals []uint64
	zero := make([]byte, bs)
	for l := uint64(0); l < nblk; l++ {
		end := (l + 1) * bs
		if end > uint64(len(data)) {
			end = uint64(len(data))
		}
		if f.opt.SparseZeros && bytes.Equal(data[l*bs:end], zero[:end-l*bs]) {
			continue
		}
		logicals = append(logicals, l)
	}
	need := uint64(len(logicals)) + f.indirectBlocksNeeded(logicals) + reserve
	old, err := f.countMapBlocks(ino, n)
	if err != nil {
		return err
	}
	if f.totalFreeBlocks()+old < need {
		return fmt.Errorf("%w: need %d blocks, %d free", ErrNoSpace, need, f.totalFreeBlocks()+old)
	}
	if err := f.freeBlockMap(ino, n); err != nil {
		return err
	}
	w := f.newBmapWriter(ino, n, f.groupFirstBlock(f.inodeGroup(ino)))
	// Write data in runs of consecutive blocks.
	var runStart uint32
	var runData []byte
	flushRun := func() error {
		if len(runData) == 0 {
			return nil
		}
		if _, err := f.wdev.WriteAt(runData, int64(runStart)*int64(bs)); err != nil {
			return f.fail(fmt.Errorf("writing data of inode %d: %w", ino, err))
		}
		runData = runData[:0]
		return nil
	}
	for _, l := range logicals {
		phys, err := w.alloc()
		if err != nil {
			return f.fail(err)
		}
		if err := w.set(l, phys); err != nil {
			return f.fail(err)
		}
		chunk := data[l*bs : min((l+1)*bs, uint64(len(data)))]
		if len(runData) == 0 || uint64(runStart)+uint64(len(runData))/bs != uint64(phys) || len(runData) >= 1<<20 {
			if err := flushRun(); err != nil {
				return err
			}
			runStart = phys
		}
		runData = append(runData, chunk...)
		if uint64(len(chunk)) < bs {
			runData = append(runData, zero[:bs-uint64(len(chunk))]...)
		}
	}
	if err := flushRun(); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	size := uint64(len(data))
	if size >= 1<<31 && f.sb32(sbOffFeatureRoCompat)&EXT2_FEATURE_RO_COMPAT_LARGE_FILE == 0 {
		binary.LittleEndian.PutUint32(f.sb[sbOffFeatureRoCompat:], f.sb32(sbOffFeatureRoCompat)|EXT2_FEATURE_RO_COMPAT_LARGE_FILE)
		f.dirtyMeta = true
	}
	n.setSize(size)
	n.put32(inOffBlocks, n.sectors()+uint32((uint64(len(logicals))+uint64(w.newMeta))*(bs/512)))
	return f.writeInode(ino, n)
}

// Mkdir creates the directory name.
func (f *FS) Mkdir(name string, perm fs.FileMode, uid, gid uint32) error {
	loc, err := f.locateEdit("mkdir", name, false)
	if err != nil {
		return err
	}
	if loc.ino != 0 {
		return pathErr("mkdir", name, ErrExist)
	}
	pn, err := f.readInode(loc.parent)
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	if pn.links() >= maxLinks {
		return pathErr("mkdir", name, ErrTooManyLinks)
	}
	if f.totalFreeBlocks() < 1+dirGrowthReserve {
		return pathErr("mkdir", name, ErrNoSpace)
	}
	if f.gdsFreeInodes() == 0 {
		return pathErr("mkdir", name, ErrNoInodes)
	}
	mode := S_IFDIR | fromPerm(perm)
	ino, n, err := f.newInode(loc.parent, mode, uid, gid)
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	blk, err := f.allocBlock(f.groupFirstBlock(f.inodeGroup(ino)))
	if err != nil {
		return pathErr("mkdir", name, f.fail(err))
	}
	buf := make([]byte, f.bs)
	f.putDirent(buf, dirent{ino: ino, name: ".", ftype: EXT2_FT_DIR}, 12)
	f.putDirent(buf[12:], dirent{ino: loc.parent, name: "..", ftype: EXT2_FT_DIR}, f.bs-12)
	if _, err := f.wdev.WriteAt(buf, int64(blk)*int64(f.bs)); err != nil {
		return pathErr("mkdir", name, f.fail(fmt.Errorf("writing directory block: %w", err)))
	}
	n.put16(inOffLinks, 2)
	n.setBlockPtr(0, blk)
	n.setSize(uint64(f.bs))
	n.put32(inOffBlocks, f.bs/512)
	if err := f.writeInode(ino, n); err != nil {
		return pathErr("mkdir", name, err)
	}
	if err := f.linkInto(loc.parent, loc.name, ino, mode); err != nil {
		return pathErr("mkdir", name, f.fail(err))
	}
	if err := f.adjustLinks(loc.parent, +1); err != nil {
		return pathErr("mkdir", name, f.fail(err))
	}
	return nil
}

// Symlink creates name as a symbolic link to target. Targets shorter than
// 60 bytes are stored in the inode (fast symlinks), longer ones in a block.
func (f *FS) Symlink(target, name string, uid, gid uint32) error {
	loc, err := f.locateEdit("symlink", name, false)
	if err != nil {
		return err
	}
	if loc.ino != 0 {
		return pathErr("symlink", name, ErrExist)
	}
	if target == "" || len(target) >= int(f.bs) || len(target) >= 4096 || strings.IndexByte(target, 0) >= 0 {
		return pathErr("symlink", name, fmt.Errorf("%w: symlink target of %d bytes", ErrInvalidArgument, len(target)))
	}
	fast := len(target) < 60
	need := uint64(dirGrowthReserve)
	if !fast {
		need++
	}
	if f.totalFreeBlocks() < need {
		return pathErr("symlink", name, ErrNoSpace)
	}
	if f.gdsFreeInodes() == 0 {
		return pathErr("symlink", name, ErrNoInodes)
	}
	mode := uint16(S_IFLNK | 0o777)
	ino, n, err := f.newInode(loc.parent, mode, uid, gid)
	if err != nil {
		return pathErr("symlink", name, err)
	}
	n.put16(inOffLinks, 1)
	n.setSize(uint64(len(target)))
	if fast {
		copy(n.raw[inOffBlock:inOffBlock+60], target)
	} else {
		blk, err := f.allocBlock(f.groupFirstBlock(f.inodeGroup(ino)))
		if err != nil {
			return pathErr("symlink", name, f.fail(err))
		}
		buf := make([]byte, f.bs)
		copy(buf, target)
		if _, err := f.wdev.WriteAt(buf, int64(blk)*int64(f.bs)); err != nil {
			return pathErr("symlink", name, f.fail(fmt.Errorf("writing symlink block: %w", err)))
		}
		n.setBlockPtr(0, blk)
		n.put32(inOffBlocks, f.bs/512)
	}
	if err := f.writeInode(ino, n); err != nil {
		return pathErr("symlink", name, err)
	}
	if err := f.linkInto(loc.parent, loc.name, ino, mode); err != nil {
		return pathErr("symlink", name, f.fail(err))
	}
	return nil
}

// modifyInode applies fn to the inode at name and stamps ctime.
func (f *FS) modifyInode(op, name string, follow bool, fn func(n *xinode)) error {
	if err := f.writable(op + " " + name); err != nil {
		return err
	}
	loc, err := f.locate(name, follow)
	if err != nil {
		return pathErr(op, name, err)
	}
	if loc.ino == 0 {
		return pathErr(op, name, ErrNotExist)
	}
	fn(loc.n)
	loc.n.setTimes(f.epoch, false, false, true)
	if err := f.writeInode(loc.ino, loc.n); err != nil {
		return pathErr(op, name, err)
	}
	return nil
}

// Chmod sets the permission bits (and setuid, setgid, sticky) of name,
// following symbolic links.
func (f *FS) Chmod(name string, perm fs.FileMode) error {
	return f.modifyInode("chmod", name, true, func(n *xinode) {
		n.put16(inOffMode, n.ftype()|fromPerm(perm))
	})
}

// Chown sets the owner of name, following symbolic links.
func (f *FS) Chown(name string, uid, gid uint32) error {
	return f.modifyInode("chown", name, true, func(n *xinode) { n.setOwner(uid, gid) })
}

// Lchown sets the owner of name without following a final symbolic link.
func (f *FS) Lchown(name string, uid, gid uint32) error {
	return f.modifyInode("lchown", name, false, func(n *xinode) { n.setOwner(uid, gid) })
}

// Chtimes sets the access and modification times of name (seconds
// precision, following symbolic links); ctime becomes the epoch.
func (f *FS) Chtimes(name string, atime, mtime time.Time) error {
	for _, t := range []time.Time{atime, mtime} {
		if t.Unix() < 0 || t.Unix() > 0xFFFFFFFF {
			return pathErr("chtimes", name, fmt.Errorf("%w: time %v out of range", ErrInvalidArgument, t))
		}
	}
	return f.modifyInode("chtimes", name, true, func(n *xinode) {
		n.put32(inOffAtime, uint32(atime.Unix()))
		n.put32(inOffMtime, uint32(mtime.Unix()))
	})
}

// isEmptyDir reports whether directory ino holds only "." and "..".
func (f *FS) isEmptyDir(ino uint32, n *xinode) (bool, error) {
	ents, err := f.readDir(ino, n)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.name != "." && e.name != ".." {
			return false, nil
		}
	}
	return true, nil
}

// releaseXattr drops the inode's reference to its extended attribute block.
func (f *FS) releaseXattr(ino uint32, n *xinode) error {
	b := n.fileACL()
	if b == 0 {
		return nil
	}
	what := fmt.Sprintf("inode %d xattr block", ino)
	if b < f.firstData || b >= f.blocks {
		return corruptf(what, "block %d out of range", b)
	}
	var h [8]byte
	off := int64(b) * int64(f.bs)
	if err := readFull(f.dev, h[:], off); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if binary.LittleEndian.Uint32(h[:]) != 0xEA020000 {
		return corruptf(what, "bad magic")
	}
	ref := binary.LittleEndian.Uint32(h[4:])
	if ref > 1 {
		binary.LittleEndian.PutUint32(h[4:], ref-1)
		if _, err := f.wdev.WriteAt(h[4:8], off+4); err != nil {
			return f.fail(fmt.Errorf("writing %s: %w", what, err))
		}
	} else if err := f.freeBlock(b); err != nil {
		return err
	}
	n.put32(inOffFileACL, 0)
	return nil
}

// dropInode releases an inode whose last link is gone: blocks, extended
// attributes, and the inode itself, which is zeroed.
func (f *FS) dropInode(ino uint32, n *xinode) error {
	dir := n.isDir()
	if err := f.freeBlockMap(ino, n); err != nil {
		return err
	}
	if err := f.releaseXattr(ino, n); err != nil {
		return err
	}
	clear(n.raw)
	if err := f.writeInode(ino, n); err != nil {
		return err
	}
	return f.freeInode(ino, dir)
}

// unlinkInode handles the inode side of removing one entry naming ino
// from directory parent (the entry itself is already gone).
func (f *FS) unlinkInode(parent, ino uint32) error {
	n, err := f.readInode(ino)
	if err != nil {
		return err
	}
	if n.isDir() {
		if err := f.dropInode(ino, n); err != nil {
			return err
		}
		return f.adjustLinks(parent, -1)
	}
	if n.links() > 1 {
		n.put16(inOffLinks, n.links()-1)
		n.setTimes(f.epoch, false, false, true)
		return f.writeInode(ino, n)
	}
	return f.dropInode(ino, n)
}

// Remove removes a file, symbolic link, device node or empty directory.
func (f *FS) Remove(name string) error {
	loc, err := f.locateEdit("remove", name, false)
	if err != nil {
		return err
	}
	if loc.ino == 0 {
		return pathErr("remove", name, ErrNotExist)
	}
	if loc.ino < f.firstIno && loc.ino != RootInode {
		return pathErr("remove", name, fmt.Errorf("%w: reserved inode %d", ErrInvalidArgument, loc.ino))
	}
	if loc.n.isDir() {
		empty, err := f.isEmptyDir(loc.ino, loc.n)
		if err != nil {
			return pathErr("remove", name, err)
		}
		if !empty {
			return pathErr("remove", name, ErrNotEmpty)
		}
	}
	pn, err := f.readInode(loc.parent)
	if err != nil {
		return pathErr("remove", name, err)
	}
	if _, err := f.removeEntry(loc.parent, pn, loc.name); err != nil {
		return pathErr("remove", name, err)
	}
	if err := f.unlinkInode(loc.parent, loc.ino); err != nil {
		return pathErr("remove", name, f.fail(err))
	}
	return nil
}

// isAncestor reports whether directory anc is dir or one of its ancestors.
func (f *FS) isAncestor(anc, dir uint32) (bool, error) {
	for steps := 0; steps < maxPathDepth; steps++ {
		if dir == anc {
			return true, nil
		}
		if dir == RootInode {
			return false, nil
		}
		n, err := f.readInode(dir)
		if err != nil {
			return false, err
		}
		if !n.isDir() {
			return false, corruptf(fmt.Sprintf("inode %d", dir), "parent is not a directory")
		}
		if dir, err = f.lookup(dir, n, ".."); err != nil {
			return false, err
		}
		if dir == 0 {
			return false, corruptf(fmt.Sprintf("inode %d", dir), "directory without ..")
		}
	}
	return false, corruptf("directory tree", "deeper than %d levels or looping", maxPathDepth)
}

// Rename moves oldname to newname, replacing newname if it exists (a
// directory only by an empty directory, a non-directory only by a
// non-directory).
func (f *FS) Rename(oldname, newname string) error {
	src, err := f.locateEdit("rename", oldname, false)
	if err != nil {
		return err
	}
	if src.ino == 0 {
		return pathErr("rename", oldname, ErrNotExist)
	}
	if src.ino < f.firstIno {
		return pathErr("rename", oldname, fmt.Errorf("%w: reserved inode %d", ErrInvalidArgument, src.ino))
	}
	dst, err := f.locateEdit("rename", newname, false)
	if err != nil {
		return err
	}
	if dst.ino == src.ino {
		return nil
	}
	isDir := src.n.isDir()
	if isDir {
		inside, err := f.isAncestor(src.ino, dst.parent)
		if err != nil {
			return pathErr("rename", newname, err)
		}
		if inside {
			return pathErr("rename", newname, fmt.Errorf("%w: cannot move a directory into itself", ErrInvalidArgument))
		}
	}
	if dst.ino != 0 {
		if dst.ino < f.firstIno {
			return pathErr("rename", newname, fmt.Errorf("%w: reserved inode %d", ErrInvalidArgument, dst.ino))
		}
		switch {
		case isDir && !dst.n.isDir():
			return pathErr("rename", newname, ErrNotDir)
		case !isDir && dst.n.isDir():
			return pathErr("rename", newname, ErrIsDir)
		case isDir:
			empty, err := f.isEmptyDir(dst.ino, dst.n)
			if err != nil {
				return pathErr("rename", newname, err)
			}
			if !empty {
				return pathErr("rename", newname, ErrNotEmpty)
			}
		}
	} else {
		if f.totalFreeBlocks() < dirGrowthReserve {
			return pathErr("rename", newname, ErrNoSpace)
		}
		if isDir && dst.parent != src.parent {
			pn, err := f.readInode(dst.parent)
			if err != nil {
				return pathErr("rename", newname, err)
			}
			if pn.links() >= maxLinks {
				return pathErr("rename", newname, ErrTooManyLinks)
			}
		}
	}
	mode := src.n.mode()
	// From here on a failure leaves the image inconsistent: sticky error.
	err = func() error {
		if dst.ino != 0 {
			pn, err := f.readInode(dst.parent)
			if err != nil {
				return err
			}
			if err := f.setEntry(dst.parent, pn, dst.name, src.ino, FileTypeOfMode(mode)); err != nil {
				return err
			}
			if err := f.unlinkInode(dst.parent, dst.ino); err != nil {
				return err
			}
		} else if err := f.linkInto(dst.parent, dst.name, src.ino, mode); err != nil {
			return err
		}
		pn, err := f.readInode(src.parent)
		if err != nil {
			return err
		}
		if _, err := f.removeEntry(src.parent, pn, src.name); err != nil {
			return err
		}
		if isDir && src.parent != dst.parent {
			sn, err := f.readInode(src.ino)
			if err != nil {
				return err
			}
			if err := f.setEntry(src.ino, sn, "..", dst.parent, EXT2_FT_DIR); err != nil {
				return err
			}
			if err := f.adjustLinks(src.parent, -1); err != nil {
				return err
			}
			if err := f.adjustLinks(dst.parent, +1); err != nil {
				return err
			}
		}
		return f.adjustLinks(src.ino, 0)
	}()
	if err != nil {
		return pathErr("rename", oldname, f.fail(err))
	}
	return nil
}
