package publish

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/xenimg/xenimg/builder/ext3"
)

// CheckReport summarises a consistency check.
type CheckReport struct {
	Blocks, FreeBlocks uint64
	Inodes, FreeInodes uint64
	Files, Dirs        int // reached from the root
	DataBlocks         uint64
}

// CheckError lists the problems Check found.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	const show = 10
	s := fmt.Sprintf("ext3: %d problems: ", len(e.Problems))
	for i, p := range e.Problems {
		if i == show {
			s += fmt.Sprintf("; and %d more", len(e.Problems)-show)
			break
		}
		if i > 0 {
			s += "; "
		}
		s += p
	}
	return s
}

// Check is a read-only consistency check of an ext2/ext3 image, a subset of
// what e2fsck -fn proves:
//   - superblock and group descriptors are sane; bitmaps and inode tables
//     lie inside the filesystem;
//   - the free block and inode counts of every group and of the superblock
//     agree with the bitmaps;
//   - every block pointer (direct and indirect) of every inode in use lies
//     inside the filesystem, is marked in use, and belongs to one inode only;
//   - every directory reached from the root can be read; every entry names
//     an inode marked in use; link counts equal the references found;
//     every inode in use (past the reserved ones) is reached.
//
// It does not check: the journal's contents, directory hash indexes, the
// resize inode's layout, extended attribute blocks beyond their range.
func Check(dev io.ReaderAt) (*CheckReport, error) {
	c := &checker{dev: dev}
	if err := c.run(); err != nil {
		return nil, err
	}
	if len(c.problems) > 0 {
		return &c.rep, &CheckError{Problems: c.problems}
	}
	return &c.rep, nil
}

type inodeSum struct {
	mode  uint16
	links uint16
	refs  int // directory entries naming it (and subdirectories' "..")
}

type checker struct {
	dev      io.ReaderAt
	sb       ext3.SuperBlock
	bs       int64
	gds      []ext3.GroupDesc
	bbm      [][]byte // block bitmaps by group
	ibm      [][]byte
	claimed  []byte // bitset of blocks claimed by an inode
	inodes   map[uint32]*inodeSum
	problems []string
	rep      CheckReport
}

func (c *checker) problem(format string, args ...any) {
	if len(c.problems) < 1000 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *checker) read(p []byte, off int64, what string) error {
	n, err := c.dev.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %s at byte %d: %w", what, off, err)
}

func (c *checker) block(b uint32, what string) ([]byte, error) {
	p := make([]byte, c.bs)
	return p, c.read(p, int64(b)*c.bs, what)
}

func (c *checker) inRange(b uint32) bool {
	return b >= c.sb.FirstDataBlock && b < c.sb.BlocksCount
}

func (c *checker) used(b uint32) bool {
	r := b - c.sb.FirstDataBlock
	g, i := r/c.sb.BlocksPerGroup, r%c.sb.BlocksPerGroup
	return c.bbm[g][i/8]&(1<<(i%8)) != 0
}

func (c *checker) inodeUsed(ino uint32) bool {
	g, i := (ino-1)/c.sb.InodesPerGroup, (ino-1)%c.sb.InodesPerGroup
	return c.ibm[g][i/8]&(1<<(i%8)) != 0
}

func (c *checker) run() error {
	raw := make([]byte, ext3.SuperBlockSize)
	if err := c.read(raw, ext3.SuperBlockOffset, "superblock"); err != nil {
		return err
	}
	if err := c.sb.UnmarshalBinary(raw); err != nil {
		return err
	}
	if err := c.sb.Validate(); err != nil {
		return err
	}
	c.bs = int64(c.sb.BlockSize())
	ng := c.sb.GroupCount()
	c.rep.Blocks, c.rep.Inodes = uint64(c.sb.BlocksCount), uint64(c.sb.InodesCount)
	gdt := make([]byte, int64(ng)*ext3.GroupDescSize)
	if err := c.read(gdt, int64(c.sb.FirstDataBlock+1)*c.bs, "group descriptors"); err != nil {
		return err
	}
	c.gds = make([]ext3.GroupDesc, ng)
	var freeB, freeI uint64
	for g := uint32(0); g < ng; g++ {
		gd := &c.gds[g]
		gd.UnmarshalBinary(gdt[g*ext3.GroupDescSize:])
		itb := (int64(c.sb.InodesPerGroup)*int64(c.sb.InodeSizeBytes()) + c.bs - 1) / c.bs
		if !c.inRange(gd.BlockBitmap) || !c.inRange(gd.InodeBitmap) || !c.inRange(gd.InodeTable) ||
			int64(gd.InodeTable)+itb > int64(c.sb.BlocksCount) {
			return fmt.Errorf("ext3: group %d: bitmap or inode table outside the filesystem (block bitmap %d, inode bitmap %d, inode table %d)",
				g, gd.BlockBitmap, gd.InodeBitmap, gd.InodeTable)
		}
		bb, err := c.block(gd.BlockBitmap, fmt.Sprintf("block bitmap of group %d", g))
		if err != nil {
			return err
		}
		ib, err := c.block(gd.InodeBitmap, fmt.Sprintf("inode bitmap of group %d", g))
		if err != nil {
			return err
		}
		c.bbm, c.ibm = append(c.bbm, bb), append(c.ibm, ib)
		nb := min(c.sb.BlocksPerGroup, c.sb.BlocksCount-c.sb.FirstDataBlock-g*c.sb.BlocksPerGroup)
		fb := countZero(bb, nb)
		fi := countZero(ib, c.sb.InodesPerGroup)
		if fb != uint64(gd.FreeBlocksCount) {
			c.problem("group %d: descriptor says %d free blocks, bitmap has %d", g, gd.FreeBlocksCount, fb)
		}
		if fi != uint64(gd.FreeInodesCount) {
			c.problem("group %d: descriptor says %d free inodes, bitmap has %d", g, gd.FreeInodesCount, fi)
		}
		freeB += fb
		freeI += fi
	}
	c.rep.FreeBlocks, c.rep.FreeInodes = freeB, freeI
	if freeB != uint64(c.sb.FreeBlocksCount) {
		c.problem("superblock says %d free blocks, bitmaps have %d", c.sb.FreeBlocksCount, freeB)
	}
	if freeI != uint64(c.sb.FreeInodesCount) {
		c.problem("superblock says %d free inodes, bitmaps have %d", c.sb.FreeInodesCount, freeI)
	}
	if err := c.scanInodes(); err != nil {
		return err
	}
	return c.walkDirs()
}

// countZero counts the clear bits among the first n of bm.
func countZero(bm []byte, n uint32) uint64 {
	var z uint64
	for i := uint32(0); i < n; i++ {
		if bm[i/8]&(1<<(i%8)) == 0 {
			z++
		}
	}
	return z
}

func (c *checker) scanInodes() error {
	c.claimed = make([]byte, (c.sb.BlocksCount+7)/8)
	c.inodes = map[uint32]*inodeSum{}
	isz := int64(c.sb.InodeSizeBytes())
	firstIno := uint32(ext3.GoodOldFirstIno)
	if c.sb.RevLevel >= ext3.DynamicRev {
		firstIno = c.sb.FirstIno
	}
	table := make([]byte, int64(c.sb.InodesPerGroup)*isz)
	for g := range c.gds {
		if err := c.read(table, int64(c.gds[g].InodeTable)*c.bs, fmt.Sprintf("inode table of group %d", g)); err != nil {
			return err
		}
		for i := uint32(0); i < c.sb.InodesPerGroup; i++ {
			ino := uint32(g)*c.sb.InodesPerGroup + i + 1
			if !c.inodeUsed(ino) {
				continue
			}
			var n ext3.Inode
			if err := n.UnmarshalBinary(table[int64(i)*isz : int64(i+1)*isz]); err != nil {
				return err
			}
			if ino < firstIno && ino != ext3.RootInode && ino != ext3.ResizeInode && ino != ext3.JournalInode {
				continue
			}
			if n.Mode == 0 {
				if ino >= firstIno {
					c.problem("inode %d: marked in use but has no mode", ino)
				}
				continue
			}
			if ino >= firstIno || ino == ext3.RootInode {
				c.inodes[ino] = &inodeSum{mode: n.Mode, links: n.LinksCount}
			}
			if n.FileACL != 0 && (!c.inRange(n.FileACL) || !c.used(n.FileACL)) {
				c.problem("inode %d: extended attribute block %d outside the filesystem or free", ino, n.FileACL)
			}
			t := fileType(n.Mode)
			if t == sIFLNK && n.Blocks == 0 || t != sIFREG && t != sIFDIR && t != sIFLNK {
				continue // fast symlink or a device/fifo/socket: i_block is not a block map
			}
			if t == sIFLNK && n.FileACL != 0 && int64(n.Blocks) == c.bs/512 {
				continue // fast symlink with an attribute block
			}
			for j := 0; j < ext3.NDirBlocks; j++ {
				c.claim(ino, n.Block[j], 0)
			}
			c.claim(ino, n.Block[ext3.IndBlock], 1)
			c.claim(ino, n.Block[ext3.DindBlock], 2)
			c.claim(ino, n.Block[ext3.TindBlock], 3)
		}
	}
	return nil
}

// claim records that ino uses block b, at indirection depth (0: data), and
// follows indirect blocks.
func (c *checker) claim(ino, b uint32, depth int) {
	if b == 0 {
		return
	}
	if !c.inRange(b) {
		c.problem("inode %d: block pointer %d outside the filesystem (%d..%d)", ino, b, c.sb.FirstDataBlock, c.sb.BlocksCount-1)
		return
	}
	if !c.used(b) {
		c.problem("inode %d: block %d in use but free in the bitmap", ino, b)
	}
	if c.claimed[b/8]&(1<<(b%8)) != 0 {
		c.problem("inode %d: block %d claimed twice", ino, b)
		return
	}
	c.claimed[b/8] |= 1 << (b % 8)
	c.rep.DataBlocks++
	if depth == 0 {
		return
	}
	p, err := c.block(b, fmt.Sprintf("indirect block %d of inode %d", b, ino))
	if err != nil {
		c.problem("%v", err)
		return
	}
	for i := 0; i+4 <= len(p); i += 4 {
		c.claim(ino, binary.LittleEndian.Uint32(p[i:]), depth-1)
	}
}

func (c *checker) walkDirs() error {
	fsys, err := ext3.Open(c.dev, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	root := c.inodes[ext3.RootInode]
	if root == nil || fileType(root.mode) != sIFDIR {
		c.problem("root inode is not a directory in use")
		return nil
	}
	root.refs++ // the root's ".." names itself
	seenDir := map[uint32]bool{ext3.RootInode: true}
	var walk func(dir string, ino uint32)
	walk = func(dir string, ino uint32) {
		c.rep.Dirs++
		c.inodes[ino].refs++ // "."
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			c.problem("directory %s: %v", dir, err)
			return
		}
		for _, de := range ents {
			e, ok := de.(*ext3.Entry)
			if !ok {
				continue
			}
			p := path.Join(dir, e.Name())
			s := c.inodes[e.Ino]
			if s == nil || !c.inodeUsed(e.Ino) {
				c.problem("%s: names inode %d, which is not in use", p, e.Ino)
				continue
			}
			s.refs++
			if fileType(s.mode) == sIFDIR {
				if seenDir[e.Ino] {
					c.problem("%s: directory inode %d reached twice", p, e.Ino)
					continue
				}
				seenDir[e.Ino] = true
				c.inodes[ino].refs++ // the child's ".."
				walk(p, e.Ino)
			} else {
				c.rep.Files++
			}
		}
	}
	walk(".", ext3.RootInode)
	inos := make([]uint32, 0, len(c.inodes))
	for ino := range c.inodes {
		inos = append(inos, ino)
	}
	slices.Sort(inos)
	for _, ino := range inos {
		s := c.inodes[ino]
		switch {
		case s.refs == 0:
			c.problem("inode %d: in use but not reached from the root", ino)
		case int(s.links) != s.refs:
			c.problem("inode %d: link count %d, found %d references", ino, s.links, s.refs)
		}
	}
	return nil
}
