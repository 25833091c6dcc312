package ext3

import (
	"encoding/binary"
	"fmt"
)

// Directories are read linearly, block by block. Hashed (dir_index)
// directories read the same way: their index blocks look like a block
// holding one empty entry, and the root block's ".." entry covers the
// index. An edit of a hashed directory clears EXT2_INDEX_FL, which leaves a
// valid linear directory.

// maxDirSize bounds the directories the reader loads (256 MiB holds
// millions of entries).
const maxDirSize = 256 << 20

type dirent struct {
	ino   uint32
	name  string
	ftype uint8
}

// dirBlock is one block of a directory.
type dirBlock struct {
	logical uint64
	phys    uint32
	buf     []byte
}

func (f *FS) recLen(b []byte) uint32 {
	v := uint32(binary.LittleEndian.Uint16(b[4:]))
	if f.bs >= 65536 && (v == 65535 || v == 0) {
		return 65536
	}
	return v
}

func (f *FS) putRecLen(b []byte, v uint32) {
	if v >= 65536 {
		v = 65535
	}
	binary.LittleEndian.PutUint16(b[4:], uint16(v))
}

// scanDirBlock calls fn for every entry of a directory block, live or not,
// after validating its header. fn returns false to stop.
func (f *FS) scanDirBlock(ino uint32, blk *dirBlock, fn func(off, rec uint32, e dirent) bool) error {
	what := fmt.Sprintf("directory inode %d block %d", ino, blk.logical)
	b := blk.buf
	off := uint32(0)
	for off < f.bs {
		if f.bs-off < 8 {
			return corruptf(what, "entry header at offset %d crosses block end", off)
		}
		h := b[off:]
		rec := f.recLen(h)
		nameLen := uint32(h[6])
		if rec < 8 || rec%4 != 0 || rec > f.bs-off {
			return corruptf(what, "entry at offset %d has record length %d", off, rec)
		}
		e := dirent{ino: binary.LittleEndian.Uint32(h)}
		if e.ino != 0 {
			if nameLen == 0 || 8+nameLen > rec {
				return corruptf(what, "entry at offset %d has name length %d", off, nameLen)
			}
			if e.ino > f.inodes {
				return corruptf(what, "entry at offset %d names inode %d", off, e.ino)
			}
			e.name = string(h[8 : 8+nameLen])
			if f.filetype {
				e.ftype = h[7]
			}
		}
		if !fn(off, rec, e) {
			return nil
		}
		off += rec
	}
	return nil
}

// dirBlocks reads every block of directory ino.
func (f *FS) dirBlocks(ino uint32, n *xinode) ([]dirBlock, error) {
	size := n.size()
	if size%uint64(f.bs) != 0 || size > maxDirSize {
		return nil, corruptf(fmt.Sprintf("directory inode %d", ino), "size %d", size)
	}
	runs, err := f.blockRuns(ino, n, size/uint64(f.bs))
	if err != nil {
		return nil, err
	}
	var out []dirBlock
	for _, r := range runs {
		buf := make([]byte, uint64(r.count)*uint64(f.bs))
		if err := readFull(f.dev, buf, int64(r.phys)*int64(f.bs)); err != nil {
			return nil, fmt.Errorf("reading directory inode %d: %w", ino, err)
		}
		for i := uint32(0); i < r.count; i++ {
			out = append(out, dirBlock{logical: r.logical + uint64(i), phys: r.phys + i, buf: buf[i*f.bs : (i+1)*f.bs]})
		}
	}
	return out, nil
}

// readDir returns the live entries of directory ino, "." and ".." included,
// in on-disk order.
func (f *FS) readDir(ino uint32, n *xinode) ([]dirent, error) {
	if !n.isDir() {
		return nil, ErrNotDir
	}
	blocks, err := f.dirBlocks(ino, n)
	if err != nil {
		return nil, err
	}
	var out []dirent
	for i := range blocks {
		err := f.scanDirBlock(ino, &blocks[i], func(_, _ uint32, e dirent) bool {
			if e.ino != 0 {
				out = append(out, e)
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookup finds name in directory ino; it returns 0 when absent.
func (f *FS) lookup(ino uint32, n *xinode, name string) (uint32, error) {
	ents, err := f.readDir(ino, n)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.name == name {
			return e.ino, nil
		}
	}
	return 0, nil
}

func (f *FS) writeDirBlock(ino uint32, blk *dirBlock) error {
	if _, err := f.wdev.WriteAt(blk.buf, int64(blk.phys)*int64(f.bs)); err != nil {
		return f.fail(fmt.Errorf("writing directory inode %d block %d: %w", ino, blk.logical, err))
	}
	return nil
}

func direntSize(nameLen int) uint32 { return uint32(8+nameLen+3) &^ 3 }

func (f *FS) putDirent(b []byte, e dirent, rec uint32) {
	binary.LittleEndian.PutUint32(b, e.ino)
	f.putRecLen(b, rec)
	b[6] = uint8(len(e.name))
	b[7] = 0
	if f.filetype {
		b[7] = e.ftype
	}
	copy(b[8:], e.name)
	// zero the padding so images stay deterministic
	for i := 8 + len(e.name); i < int(direntSize(len(e.name))) && i < len(b); i++ {
		b[i] = 0
	}
}

// touchDir marks a directory modified: mtime/ctime to the epoch and the
// hash index dropped.
func (f *FS) touchDir(n *xinode) {
	n.put32(inOffFlags, n.flags()&^EXT2_INDEX_FL)
	n.setTimes(f.epoch, false, true, true)
}

// addEntry adds e to directory ino and writes the directory inode.
func (f *FS) addEntry(ino uint32, n *xinode, e dirent) error {
	need := direntSize(len(e.name))
	blocks, err := f.dirBlocks(ino, n)
	if err != nil {
		return err
	}
	for i := range blocks {
		blk := &blocks[i]
		done := false
		err := f.scanDirBlock(ino, blk, func(off, rec uint32, cur dirent) bool {
			used := uint32(0)
			if cur.ino != 0 {
				used = direntSize(len(cur.name))
			}
			if rec-used < need {
				return true
			}
			if cur.ino == 0 {
				f.putDirent(blk.buf[off:], e, rec)
			} else {
				f.putRecLen(blk.buf[off:], used)
				f.putDirent(blk.buf[off+used:], e, rec-used)
			}
			done = true
			return false
		})
		if err != nil {
			return err
		}
		if done {
			if err := f.writeDirBlock(ino, blk); err != nil {
				return err
			}
			f.touchDir(n)
			return f.writeInode(ino, n)
		}
	}
	// No room: append a block.
	if uint64(len(blocks)) != n.size()/uint64(f.bs) {
		return corruptf(fmt.Sprintf("directory inode %d", ino), "has holes")
	}
	if f.totalFreeBlocks() < 1+f.indirectBlocksNeeded([]uint64{uint64(len(blocks))}) {
		return ErrNoSpace
	}
	goal := f.groupFirstBlock(f.inodeGroup(ino))
	if len(blocks) > 0 {
		goal = blocks[len(blocks)-1].phys + 1
	}
	w := f.newBmapWriter(ino, n, goal)
	phys, err := w.alloc()
	if err != nil {
		return f.fail(err)
	}
	if err := w.set(uint64(len(blocks)), phys); err != nil {
		return f.fail(err)
	}
	if err := w.flush(); err != nil {
		return err
	}
	blk := &dirBlock{logical: uint64(len(blocks)), phys: phys, buf: make([]byte, f.bs)}
	f.putDirent(blk.buf, e, f.bs)
	if err := f.writeDirBlock(ino, blk); err != nil {
		return err
	}
	n.setSize(n.size() + uint64(f.bs))
	n.put32(inOffBlocks, n.sectors()+(1+w.newMeta)*(f.bs/512))
	f.touchDir(n)
	return f.writeInode(ino, n)
}

// removeEntry removes name from directory ino and writes the directory
// inode. It returns the inode the entry named.
func (f *FS) removeEntry(ino uint32, n *xinode, name string) (uint32, error) {
	blocks, err := f.dirBlocks(ino, n)
	if err != nil {
		return 0, err
	}
	for i := range blocks {
		blk := &blocks[i]
		var found uint32
		prevOff, havePrev := uint32(0), false
		err := f.scanDirBlock(ino, blk, func(off, rec uint32, cur dirent) bool {
			if cur.ino != 0 && cur.name == name {
				found = cur.ino
				if havePrev {
					f.putRecLen(blk.buf[prevOff:], f.recLen(blk.buf[prevOff:])+rec)
				} else {
					binary.LittleEndian.PutUint32(blk.buf[off:], 0)
				}
				return false
			}
			prevOff, havePrev = off, true
			return true
		})
		if err != nil {
			return 0, err
		}
		if found != 0 {
			if err := f.writeDirBlock(ino, blk); err != nil {
				return 0, err
			}
			f.touchDir(n)
			return found, f.writeInode(ino, n)
		}
	}
	return 0, ErrNotExist
}

// setEntry points the existing entry name of directory ino at e.ino/e.ftype.
func (f *FS) setEntry(ino uint32, n *xinode, name string, target uint32, ftype uint8) error {
	blocks, err := f.dirBlocks(ino, n)
	if err != nil {
		return err
	}
	for i := range blocks {
		blk := &blocks[i]
		found := false
		err := f.scanDirBlock(ino, blk, func(off, _ uint32, cur dirent) bool {
			if cur.ino != 0 && cur.name == name {
				binary.LittleEndian.PutUint32(blk.buf[off:], target)
				if f.filetype {
					blk.buf[off+7] = ftype
				}
				found = true
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if found {
			if err := f.writeDirBlock(ino, blk); err != nil {
				return err
			}
			f.touchDir(n)
			return f.writeInode(ino, n)
		}
	}
	return ErrNotExist
}
