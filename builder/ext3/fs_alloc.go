package ext3

import (
	"fmt"
)

// Block and inode allocation over the group bitmaps. Bitmaps are loaded on
// first use and written by Sync; the free counters live in f.gds and are
// summed into the superblock by Sync.

func (f *FS) loadBitmap(cache map[uint32][]byte, g uint32, blk uint32, what string) ([]byte, error) {
	if bm, ok := cache[g]; ok {
		return bm, nil
	}
	if g >= f.ngroups {
		return nil, corruptf(what, "group %d out of range", g)
	}
	bm := make([]byte, f.bs)
	if err := readFull(f.dev, bm, int64(blk)*int64(f.bs)); err != nil {
		return nil, fmt.Errorf("reading %s of group %d: %w", what, g, err)
	}
	cache[g] = bm
	return bm, nil
}

func (f *FS) blockBitmap(g uint32) ([]byte, error) {
	if g >= f.ngroups {
		return nil, corruptf("block bitmap", "group %d out of range", g)
	}
	return f.loadBitmap(f.blockBitmaps, g, f.gds[g].blockBitmap, "block bitmap")
}

func (f *FS) inodeBitmap(g uint32) ([]byte, error) {
	if g >= f.ngroups {
		return nil, corruptf("inode bitmap", "group %d out of range", g)
	}
	return f.loadBitmap(f.inodeBitmaps, g, f.gds[g].inodeBitmap, "inode bitmap")
}

// groupBlocks returns the number of blocks in group g (the last may be short).
func (f *FS) groupBlocks(g uint32) uint32 {
	base := f.firstData + g*f.bpg
	if base+f.bpg > f.blocks {
		return f.blocks - base
	}
	return f.bpg
}

func (f *FS) totalFreeBlocks() uint64 {
	var n uint64
	for _, d := range f.gds {
		n += uint64(d.freeBlocks)
	}
	return n
}

// allocBlock allocates one block, searching from goal onwards and wrapping.
func (f *FS) allocBlock(goal uint32) (uint32, error) {
	if goal < f.firstData || goal >= f.blocks {
		goal = f.firstData
	}
	g0 := (goal - f.firstData) / f.bpg
	start := (goal - f.firstData) % f.bpg
	for k := uint32(0); k <= f.ngroups; k++ {
		g := (g0 + k) % f.ngroups
		from := uint32(0)
		if k == 0 {
			from = start
		} else if g == g0 {
			// wrapped around to the goal's group: search its start
			from = 0
		}
		if f.gds[g].freeBlocks == 0 {
			continue
		}
		bm, err := f.blockBitmap(g)
		if err != nil {
			return 0, err
		}
		n := f.groupBlocks(g)
		for i := from; i < n; i++ {
			if i&7 == 0 && bm[i>>3] == 0xFF {
				i += 7
				continue
			}
			if bm[i>>3]&(1<<(i&7)) == 0 {
				bm[i>>3] |= 1 << (i & 7)
				f.gds[g].freeBlocks--
				f.dirtyBB[g] = true
				f.dirtyMeta = true
				return f.firstData + g*f.bpg + i, nil
			}
		}
	}
	return 0, ErrNoSpace
}

// freeBlock releases block b. Freeing a free block means the image is
// corrupt (a block shared by two files, or a bad pointer).
func (f *FS) freeBlock(b uint32) error {
	if b < f.firstData || b >= f.blocks {
		return corruptf("block bitmap", "freeing block %d out of range", b)
	}
	g := (b - f.firstData) / f.bpg
	i := (b - f.firstData) % f.bpg
	bm, err := f.blockBitmap(g)
	if err != nil {
		return err
	}
	if bm[i>>3]&(1<<(i&7)) == 0 {
		return corruptf("block bitmap", "block %d freed but not in use", b)
	}
	bm[i>>3] &^= 1 << (i & 7)
	f.gds[g].freeBlocks++
	f.dirtyBB[g] = true
	f.dirtyMeta = true
	return nil
}

// allocInode allocates an inode, preferring group pref.
func (f *FS) allocInode(pref uint32, dir bool) (uint32, error) {
	if pref >= f.ngroups {
		pref = 0
	}
	for k := uint32(0); k < f.ngroups; k++ {
		g := (pref + k) % f.ngroups
		if f.gds[g].freeInodes == 0 {
			continue
		}
		bm, err := f.inodeBitmap(g)
		if err != nil {
			return 0, err
		}
		for i := uint32(0); i < f.ipg; i++ {
			if i&7 == 0 && bm[i>>3] == 0xFF {
				i += 7
				continue
			}
			ino := g*f.ipg + i + 1
			if ino < f.firstIno {
				continue
			}
			if bm[i>>3]&(1<<(i&7)) == 0 {
				bm[i>>3] |= 1 << (i & 7)
				f.gds[g].freeInodes--
				if dir {
					f.gds[g].usedDirs++
				}
				f.dirtyIB[g] = true
				f.dirtyMeta = true
				return ino, nil
			}
		}
	}
	return 0, ErrNoInodes
}

func (f *FS) freeInode(ino uint32, dir bool) error {
	if ino < f.firstIno || ino > f.inodes {
		return corruptf("inode bitmap", "freeing reserved or out of range inode %d", ino)
	}
	g := (ino - 1) / f.ipg
	i := (ino - 1) % f.ipg
	bm, err := f.inodeBitmap(g)
	if err != nil {
		return err
	}
	if bm[i>>3]&(1<<(i&7)) == 0 {
		return corruptf("inode bitmap", "inode %d freed but not in use", ino)
	}
	bm[i>>3] &^= 1 << (i & 7)
	f.gds[g].freeInodes++
	if dir && f.gds[g].usedDirs > 0 {
		f.gds[g].usedDirs--
	}
	f.dirtyIB[g] = true
	f.dirtyMeta = true
	return nil
}

// inodeGroup returns the group of inode ino.
func (f *FS) inodeGroup(ino uint32) uint32 { return (ino - 1) / f.ipg }

// groupFirstBlock returns the first block of group g.
func (f *FS) groupFirstBlock(g uint32) uint32 { return f.firstData + g*f.bpg }
