package ext3

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Block maps: twelve direct pointers, then single, double and triple
// indirect blocks (i_block[12], [13], [14]).

// ptrsPerBlock returns the number of block pointers in one indirect block.
func (f *FS) ptrsPerBlock() uint64 { return uint64(f.bs / 4) }

// maxFileBlocks returns how many logical blocks a block map can address.
func (f *FS) maxFileBlocks() uint64 {
	p := f.ptrsPerBlock()
	return NDirBlocks + p + p*p + p*p*p
}

// indirectPath locates logical block l (NDirBlocks or more) of a block
// map with p pointers per indirect block: the inode's slot (IndBlock,
// DindBlock or TindBlock) and the index to follow in each level. ok is
// false past the triple indirect block.
func indirectPath(l, p uint64) (slot int, idx []uint64, ok bool) {
	l -= NDirBlocks
	switch {
	case l < p:
		return IndBlock, []uint64{l}, true
	case l < p+p*p:
		l -= p
		return DindBlock, []uint64{l / p, l % p}, true
	case l < p+p*p+p*p*p:
		l -= p + p*p
		return TindBlock, []uint64{l / (p * p), (l / p) % p, l % p}, true
	}
	return 0, nil, false
}

func (f *FS) readPtrs(b uint32, what string) ([]uint32, error) {
	if b < f.firstData || b >= f.blocks {
		return nil, corruptf(what, "indirect block %d out of range", b)
	}
	buf := make([]byte, f.bs)
	if err := readFull(f.dev, buf, int64(b)*int64(f.bs)); err != nil {
		return nil, fmt.Errorf("reading indirect block %d of %s: %w", b, what, err)
	}
	ptrs := make([]uint32, f.bs/4)
	for i := range ptrs {
		ptrs[i] = binary.LittleEndian.Uint32(buf[4*i:])
	}
	return ptrs, nil
}

// walkBlocks calls fn for every non-hole pointer of inode ino's block map in
// logical order: data blocks with their logical number, indirect blocks with
// meta set. It stops at logical block limit (exclusive). The number of
// pointers visited is bounded by the block count, so a corrupt map with
// shared indirect blocks cannot make it run for long.
func (f *FS) walkBlocks(ino uint32, n *xinode, limit uint64, fn func(logical uint64, phys uint32, meta bool) error) error {
	what := fmt.Sprintf("inode %d block map", ino)
	visits := uint64(0)
	p := f.ptrsPerBlock()
	var rec func(b uint32, level int, base uint64) error
	rec = func(b uint32, level int, base uint64) error {
		if base >= limit {
			return nil
		}
		visits++
		if visits > uint64(f.blocks) {
			return corruptf(what, "maps more blocks than the filesystem has")
		}
		if b < f.firstData || b >= f.blocks {
			return corruptf(what, "block %d out of range", b)
		}
		if level == 0 {
			return fn(base, b, false)
		}
		if err := fn(0, b, true); err != nil {
			return err
		}
		ptrs, err := f.readPtrs(b, what)
		if err != nil {
			return err
		}
		span := uint64(1)
		for i := 1; i < level; i++ {
			span *= p
		}
		for i, c := range ptrs {
			if c == 0 {
				continue
			}
			if err := rec(c, level-1, base+uint64(i)*span); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < NDirBlocks; i++ {
		if b := n.blockPtr(i); b != 0 {
			if err := rec(b, 0, uint64(i)); err != nil {
				return err
			}
		}
	}
	base := uint64(NDirBlocks)
	span := p
	for lvl := 1; lvl <= 3; lvl++ {
		if b := n.blockPtr(NDirBlocks - 1 + lvl); b != 0 {
			if err := rec(b, lvl, base); err != nil {
				return err
			}
		}
		base += span
		span *= p
	}
	return nil
}

// run is a stretch of logical blocks mapped to consecutive physical blocks.
type run struct {
	logical uint64
	phys    uint32
	count   uint32
}

// blockRuns returns the data block runs of an inode up to limit blocks.
func (f *FS) blockRuns(ino uint32, n *xinode, limit uint64) ([]run, error) {
	var runs []run
	err := f.walkBlocks(ino, n, limit, func(l uint64, b uint32, meta bool) error {
		if meta {
			return nil
		}
		if k := len(runs); k > 0 {
			r := &runs[k-1]
			if r.logical+uint64(r.count) == l && uint64(r.phys)+uint64(r.count) == uint64(b) && r.count < 1<<30 {
				r.count++
				return nil
			}
		}
		runs = append(runs, run{logical: l, phys: b, count: 1})
		return nil
	})
	return runs, err
}

// bmap returns the physical block of logical block l (0 for a hole).
func (f *FS) bmap(ino uint32, n *xinode, l uint64) (uint32, error) {
	what := fmt.Sprintf("inode %d block map", ino)
	p := f.ptrsPerBlock()
	if l < NDirBlocks {
		return n.blockPtr(int(l)), nil
	}
	slot, idx, ok := indirectPath(l, p)
	if !ok {
		return 0, nil
	}
	b := n.blockPtr(slot)
	for _, i := range idx {
		if b == 0 {
			return 0, nil
		}
		ptrs, err := f.readPtrs(b, what)
		if err != nil {
			return 0, err
		}
		b = ptrs[i]
	}
	if b != 0 && (b < f.firstData || b >= f.blocks) {
		return 0, corruptf(what, "block %d out of range", b)
	}
	return b, nil
}

// indirectBlocksNeeded counts the indirect blocks a fresh map of the given
// logical blocks (ascending) needs.
func (f *FS) indirectBlocksNeeded(logicals []uint64) uint64 {
	p := f.ptrsPerBlock()
	seen := map[[2]uint64]bool{}
	for _, l := range logicals {
		if l < NDirBlocks {
			continue
		}
		l -= NDirBlocks
		switch {
		case l < p:
			seen[[2]uint64{1, 0}] = true
		case l < p+p*p:
			l -= p
			seen[[2]uint64{2, 0}] = true
			seen[[2]uint64{3, l / p}] = true
		default:
			l -= p + p*p
			seen[[2]uint64{4, 0}] = true
			seen[[2]uint64{5, l / (p * p)}] = true
			seen[[2]uint64{6, l / p}] = true
		}
	}
	return uint64(len(seen))
}

// bmapWriter sets pointers in an inode's block map, allocating indirect
// blocks as needed. Indirect blocks are cached and written by flush.
type bmapWriter struct {
	f       *FS
	ino     uint32
	n       *xinode
	goal    uint32
	cache   map[uint32][]uint32
	dirty   map[uint32]bool
	newMeta uint32 // indirect blocks allocated
}

func (f *FS) newBmapWriter(ino uint32, n *xinode, goal uint32) *bmapWriter {
	return &bmapWriter{f: f, ino: ino, n: n, goal: goal, cache: map[uint32][]uint32{}, dirty: map[uint32]bool{}}
}

func (w *bmapWriter) alloc() (uint32, error) {
	b, err := w.f.allocBlock(w.goal)
	if err != nil {
		return 0, err
	}
	w.goal = b + 1
	return b, nil
}

func (w *bmapWriter) ptrs(b uint32) ([]uint32, error) {
	if p, ok := w.cache[b]; ok {
		return p, nil
	}
	p, err := w.f.readPtrs(b, fmt.Sprintf("inode %d block map", w.ino))
	if err != nil {
		return nil, err
	}
	w.cache[b] = p
	return p, nil
}

// newIndirect allocates a zeroed indirect block.
func (w *bmapWriter) newIndirect() (uint32, error) {
	b, err := w.alloc()
	if err != nil {
		return 0, err
	}
	w.cache[b] = make([]uint32, w.f.bs/4)
	w.dirty[b] = true
	w.newMeta++
	return b, nil
}

// set maps logical block l to physical block phys.
func (w *bmapWriter) set(l uint64, phys uint32) error {
	p := w.f.ptrsPerBlock()
	if l < NDirBlocks {
		w.n.setBlockPtr(int(l), phys)
		return nil
	}
	slot, idx, ok := indirectPath(l, p)
	if !ok {
		return ErrFileTooLarge
	}
	b := w.n.blockPtr(slot)
	if b == 0 {
		nb, err := w.newIndirect()
		if err != nil {
			return err
		}
		w.n.setBlockPtr(slot, nb)
		b = nb
	}
	for k, i := range idx {
		ptrs, err := w.ptrs(b)
		if err != nil {
			return err
		}
		if k == len(idx)-1 {
			ptrs[i] = phys
			w.dirty[b] = true
			return nil
		}
		if ptrs[i] == 0 {
			nb, err := w.newIndirect()
			if err != nil {
				return err
			}
			ptrs[i] = nb
			w.dirty[b] = true
		}
		b = ptrs[i]
	}
	return nil
}

// flush writes the changed indirect blocks.
func (w *bmapWriter) flush() error {
	bs := make([]uint32, 0, len(w.dirty))
	for b := range w.dirty {
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
	buf := make([]byte, w.f.bs)
	for _, b := range bs {
		for i, v := range w.cache[b] {
			binary.LittleEndian.PutUint32(buf[4*i:], v)
		}
		if _, err := w.f.wdev.WriteAt(buf, int64(b)*int64(w.f.bs)); err != nil {
			return w.f.fail(fmt.Errorf("writing indirect block %d of inode %d: %w", b, w.ino, err))
		}
	}
	w.dirty = map[uint32]bool{}
	return nil
}

// freeBlockMap releases every data and indirect block of an inode and
// clears its map. i_blocks keeps only the extended attribute block.
func (f *FS) freeBlockMap(ino uint32, n *xinode) error {
	if !n.hasBlockMap() {
		return nil
	}
	var all []uint32
	err := f.walkBlocks(ino, n, f.maxFileBlocks(), func(_ uint64, b uint32, _ bool) error {
		all = append(all, b)
		return nil
	})
	if err != nil {
		return err
	}
	for _, b := range all {
		if err := f.freeBlock(b); err != nil {
			return f.fail(fmt.Errorf("freeing blocks of inode %d: %w", ino, err))
		}
	}
	for i := 0; i < 15; i++ {
		n.setBlockPtr(i, 0)
	}
	var sectors uint32
	if n.fileACL() != 0 {
		sectors = f.bs / 512
	}
	n.put32(inOffBlocks, sectors)
	return nil
}
