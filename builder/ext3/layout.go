package ext3

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// ErrTooSmall is wrapped by every error saying the image is too small for
// what is written into it (blocks or inodes). The message names how many MiB
// are needed at least.
var ErrTooSmall = errors.New("ext3: image too small")

// Features is a set of ext2/ext3 feature flags (s_feature_compat,
// s_feature_incompat, s_feature_ro_compat).
type Features struct {
	Compat   uint32
	Incompat uint32
	RoCompat uint32
}

// FeaturesDefault is mke2fs's ext3 feature set (mke2fs.conf "ext3"): ext_attr,
// resize_inode, dir_index, filetype, sparse_super, large_file; has_journal is
// added when Options.Journal is set.
var FeaturesDefault = Features{
	Compat:   EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_RESIZE_INODE | EXT2_FEATURE_COMPAT_DIR_INDEX,
	Incompat: EXT2_FEATURE_INCOMPAT_FILETYPE,
	RoCompat: EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE,
}

// FeaturesLegacy is a conservative set for old kernels and e2fsprogs
// (Linux 2.4, sarge's 2.6.8): filetype and sparse_super only. large_file is
// added by the writer when a file of 2 GiB or more is written, as the kernel
// does.
var FeaturesLegacy = Features{
	Incompat: EXT2_FEATURE_INCOMPAT_FILETYPE,
	RoCompat: EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER,
}

// Options describe the filesystem to write. Only Size is required.
type Options struct {
	Size            int64     // image size in bytes; blocks beyond Size/BlockSize are unused
	BlockSize       int       // 1024 or 4096 (default 4096)
	InodeSize       int       // 128 or 256 (default 256)
	Inodes          uint32    // inode count (rounded up to fill inode tables); 0: from InodeRatio
	InodeRatio      int       // bytes of image per inode when Inodes is 0 (default 16384)
	Journal         bool      // ext3: an internal journal in inode 8 (has_journal)
	JournalBlocks   uint32    // journal size in blocks; 0: mke2fs's default for the size
	ReservedPercent int       // blocks reserved for root, percent (default 5); -1 for none
	Label           string    // volume name, at most 16 bytes
	UUID            [16]byte  // filesystem UUID; zero: derived from the other options
	HashSeed        [16]byte  // dir_index hash seed; zero: derived from UUID
	Epoch           time.Time // time of fs-level stamps, lost+found, implicit dirs and entries without times
	Features        *Features // nil: FeaturesDefault; has_journal follows Journal
	LinearDirs      bool      // never hash-index directories (with dir_index, multi-block directories get an htree)
}

// layout is the fixed geometry of a filesystem: where each group's metadata
// lives.
type layout struct {
	bs, blocks, firstData uint32
	bpg, ipg, groups      uint32
	inodeSize             uint32
	itb                   uint32 // inode table blocks per group
	descBlocks, rsvGDT    uint32
	journalBlocks         uint32
	compat, incompat, ro  uint32
	apb                   uint32 // block pointers per block
}

func (l *layout) groupStart(g uint32) uint32 { return l.firstData + g*l.bpg }

func (l *layout) groupBlocks(g uint32) uint32 {
	if g == l.groups-1 {
		return l.blocks - l.groupStart(g)
	}
	return l.bpg
}

func isPow(n, b uint32) bool {
	for n > 1 {
		if n%b != 0 {
			return false
		}
		n /= b
	}
	return n == 1
}

// hasSuper reports whether group g holds a superblock backup.
func (l *layout) hasSuper(g uint32) bool {
	if g <= 1 || l.ro&EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER == 0 {
		return true
	}
	if g%2 == 0 {
		return false
	}
	return isPow(g, 3) || isPow(g, 5) || isPow(g, 7)
}

// superBlocks is the number of blocks of superblock + descriptors + reserved
// descriptors at the start of group g.
func (l *layout) superBlocks(g uint32) uint32 {
	if !l.hasSuper(g) {
		return 0
	}
	return 1 + l.descBlocks + l.rsvGDT
}

func (l *layout) blockBitmap(g uint32) uint32 { return l.groupStart(g) + l.superBlocks(g) }
func (l *layout) inodeBitmap(g uint32) uint32 { return l.blockBitmap(g) + 1 }
func (l *layout) inodeTable(g uint32) uint32  { return l.blockBitmap(g) + 2 }
func (l *layout) dataStart(g uint32) uint32   { return l.inodeTable(g) + l.itb }
func (l *layout) inodes() uint32              { return l.ipg * l.groups }

// overhead is the number of metadata blocks of group g.
func (l *layout) overhead(g uint32) uint32 { return l.superBlocks(g) + 2 + l.itb }

func (o *Options) withDefaults() (Options, error) {
	c := *o
	if c.BlockSize == 0 {
		c.BlockSize = 4096
	}
	if c.BlockSize != 1024 && c.BlockSize != 4096 {
		return c, fmt.Errorf("ext3: block size %d: only 1024 and 4096 are supported", c.BlockSize)
	}
	if c.InodeSize == 0 {
		c.InodeSize = 256
	}
	if c.InodeSize != 128 && c.InodeSize != 256 {
		return c, fmt.Errorf("ext3: inode size %d: only 128 and 256 are supported", c.InodeSize)
	}
	if c.InodeRatio == 0 {
		c.InodeRatio = 16384
	}
	if c.InodeRatio < 1024 || c.InodeRatio > 64<<20 {
		return c, fmt.Errorf("ext3: inode ratio %d out of range 1024..64MiB", c.InodeRatio)
	}
	if c.ReservedPercent == 0 {
		c.ReservedPercent = 5
	}
	if c.ReservedPercent < -1 || c.ReservedPercent > 50 {
		return c, fmt.Errorf("ext3: reserved percent %d out of range 0..50", c.ReservedPercent)
	}
	if c.ReservedPercent == -1 {
		c.ReservedPercent = 0
	}
	if len(c.Label) > 16 {
		return c, fmt.Errorf("ext3: label %q longer than 16 bytes", c.Label)
	}
	if c.Features == nil {
		f := FeaturesDefault
		c.Features = &f
	}
	f := *c.Features
	f.Compat &^= EXT3_FEATURE_COMPAT_HAS_JOURNAL
	if c.Journal {
		f.Compat |= EXT3_FEATURE_COMPAT_HAS_JOURNAL
	}
	if f.Compat&^SupportedCompat != 0 || f.Incompat&^(SupportedIncompat&^EXT3_FEATURE_INCOMPAT_RECOVER) != 0 || f.RoCompat&^SupportedRoCompat != 0 {
		return c, fmt.Errorf("ext3: unsupported features compat %#x incompat %#x ro_compat %#x",
			f.Compat&^SupportedCompat, f.Incompat&^(SupportedIncompat&^EXT3_FEATURE_INCOMPAT_RECOVER), f.RoCompat&^SupportedRoCompat)
	}
	c.Features = &f
	if c.Epoch.IsZero() {
		c.Epoch = time.Unix(0, 0)
	}
	if c.UUID == ([16]byte{}) {
		h := sha256.New()
		fmt.Fprintf(h, "xenimg ext3 uuid\x00%d\x00%d\x00%d\x00%s\x00%d", c.Size, c.BlockSize, c.InodeSize, c.Label, c.Epoch.Unix())
		copy(c.UUID[:], h.Sum(nil))
		c.UUID[6] = c.UUID[6]&0x0f | 0x40 // version 4 layout
		c.UUID[8] = c.UUID[8]&0x3f | 0x80
	}
	if c.HashSeed == ([16]byte{}) {
		s := sha256.Sum256(append([]byte("xenimg ext3 hash seed\x00"), c.UUID[:]...))
		copy(c.HashSeed[:], s[:])
	}
	return c, nil
}

// defaultJournalBlocks is e2fsprogs' ext2fs_default_journal_size.
func defaultJournalBlocks(blocks uint32) uint32 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

func divCeil(a, b uint64) uint64 { return (a + b - 1) / b }

// newLayout computes the geometry for options already passed through
// withDefaults. extraInodes > 0 asks for at least that many usable inodes
// when Inodes is not set explicitly (used by Needed).
func newLayout(o *Options) (*layout, error) {
	l := &layout{bs: uint32(o.BlockSize), inodeSize: uint32(o.InodeSize)}
	l.compat, l.incompat, l.ro = o.Features.Compat, o.Features.Incompat, o.Features.RoCompat
	l.apb = l.bs / 4
	nb := uint64(o.Size) / uint64(l.bs)
	if nb > 0xFFFFFFFF {
		nb = 0xFFFFFFFF
	}
	if o.Size < 0 || nb < 64 {
		return nil, fmt.Errorf("ext3: size %d bytes is below the minimum of %d: %w", o.Size, 64*l.bs, ErrTooSmall)
	}
	if l.bs == 1024 {
		l.firstData = 1
	}
	l.bpg = 8 * l.bs
	l.blocks = uint32(nb)
	for {
		l.groups = uint32(divCeil(uint64(l.blocks-l.firstData), uint64(l.bpg)))
		l.descBlocks = uint32(divCeil(uint64(l.groups)*GroupDescSize, uint64(l.bs)))
		l.rsvGDT = 0
		if l.compat&EXT2_FEATURE_COMPAT_RESIZE_INODE != 0 {
			// calc_reserved_gdt_blocks: room to grow 1024 times, within
			// 32-bit block numbers, at most one block of pointers.
			maxBlocks := uint64(0xFFFFFFFF)
			if uint64(l.blocks) < maxBlocks/1024 {
				maxBlocks = uint64(l.blocks) * 1024
			}
			rsvGroups := divCeil(maxBlocks-uint64(l.firstData), uint64(l.bpg))
			rsv := divCeil(rsvGroups, uint64(l.bs/GroupDescSize)) - uint64(l.descBlocks)
			if rsv > uint64(l.apb) {
				rsv = uint64(l.apb)
			}
			l.rsvGDT = uint32(rsv)
		}
		var inodes uint64
		if o.Inodes > 0 {
			inodes = uint64(o.Inodes)
		} else {
			inodes = uint64(l.blocks) * uint64(l.bs) / uint64(o.InodeRatio)
		}
		if inodes < GoodOldFirstIno+1 {
			inodes = GoodOldFirstIno + 1
		}
		ipg := divCeil(inodes, uint64(l.groups))
		if ipg > uint64(8*l.bs) {
			ipg = uint64(8 * l.bs)
		}
		itb := divCeil(ipg*uint64(l.inodeSize), uint64(l.bs))
		ipg = itb * uint64(l.bs) / uint64(l.inodeSize)
		if ipg < 8 {
			ipg = 8
		}
		ipg &^= 7
		if ipg > uint64(8*l.bs) {
			ipg = uint64(8 * l.bs)
		}
		if ipg*uint64(l.groups) > 0xFFFFFFFF {
			ipg = (0xFFFFFFFF / uint64(l.groups)) &^ 7
		}
		l.ipg = uint32(ipg)
		l.itb = uint32(divCeil(ipg*uint64(l.inodeSize), uint64(l.bs)))
		if 3+l.itb+l.rsvGDT+l.descBlocks > l.bpg {
			return nil, fmt.Errorf("ext3: too many inodes (%d per group) for %d blocks per group", l.ipg, l.bpg)
		}
		last := l.groups - 1
		rem := (l.blocks - l.firstData) % l.bpg
		over := l.overhead(last)
		if rem != 0 && rem < over+50 {
			if l.groups == 1 {
				return nil, fmt.Errorf("ext3: %d blocks cannot hold one block group's metadata: %w", l.blocks, ErrTooSmall)
			}
			l.blocks -= rem
			continue
		}
		break
	}
	if l.compat&EXT3_FEATURE_COMPAT_HAS_JOURNAL != 0 {
		l.journalBlocks = o.JournalBlocks
		if l.journalBlocks == 0 {
			l.journalBlocks = defaultJournalBlocks(l.blocks)
		}
		if l.journalBlocks < 1024 {
			return nil, fmt.Errorf("ext3: a journal needs at least 1024 blocks (%d blocks in the filesystem): %w", l.blocks, ErrTooSmall)
		}
	}
	return l, nil
}

// dataBlocks returns how many blocks are free for files, directories,
// the journal and the resize inode.
func (l *layout) dataBlocks() uint64 {
	var n uint64
	for g := uint32(0); g < l.groups; g++ {
		n += uint64(l.groupBlocks(g) - l.overhead(g))
	}
	return n
}

// mapBlocks returns the number of indirect blocks needed to map n data
// blocks densely.
func mapBlocks(n, apb uint64) uint64 {
	if n <= NDirBlocks {
		return 0
	}
	n -= NDirBlocks
	if n <= apb {
		return 1
	}
	m := uint64(1)
	n -= apb
	if n <= apb*apb {
		return m + 1 + divCeil(n, apb)
	}
	m += 1 + apb
	n -= apb * apb
	return m + 1 + divCeil(n, apb*apb) + divCeil(n, apb)
}

// Usage totals what a tree will need: feed every entry to Add, then ask
// Needed for the image size. It assumes no holes, so it is an upper bound
// for sparse files.
type Usage struct {
	Inodes     uint64 // entries that need an inode (hard links excluded)
	Dirs       uint64 // directories, the root included when added
	EntryBytes uint64 // directory entry bytes (8 + name rounded to 4)
	Blocks1K   uint64 // data + indirect blocks with 1 KiB blocks
	Blocks4K   uint64 // data + indirect blocks with 4 KiB blocks
}

// Add accounts for one entry.
func (u *Usage) Add(h *Header) {
	name := h.Name
	for len(name) > 0 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	base := name
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			base = name[i+1:]
			break
		}
	}
	if base != "" && base != "." {
		u.EntryBytes += uint64(DirRecLen(len(base)))
	}
	if h.Hardlink != "" {
		return
	}
	u.Inodes++
	var size uint64
	switch {
	case h.Mode.IsDir():
		u.Dirs++
		return
	case h.Mode.IsRegular():
		if h.Size > 0 {
			size = uint64(h.Size)
		}
	case h.Mode&fs.ModeSymlink != 0 && len(h.Linkname) > FastSymlinkMaxLen:
		size = uint64(len(h.Linkname))
	}
	for _, bs := range []uint64{1024, 4096} {
		n := divCeil(size, bs)
		n += mapBlocks(n, bs/4)
		if bs == 1024 {
			u.Blocks1K += n
		} else {
			u.Blocks4K += n
		}
	}
}

// fits reports whether usage u fits a layout.
func (l *layout) fits(u *Usage) bool {
	if uint64(l.inodes()) < u.Inodes+GoodOldFirstIno+1 {
		return false
	}
	data := u.Blocks4K
	if l.bs == 1024 {
		data = u.Blocks1K
	}
	need := data
	dirs := u.Dirs + 2 // root and lost+found, if not counted
	// Linear or htree: every block may waste up to one maximal entry; an
	// htree adds a root per directory and an index node per 100 leaves.
	dirBlocks := 2*dirs + u.EntryBytes/uint64(l.bs-264) + u.EntryBytes/uint64(l.bs*100) + 1
	need += dirBlocks + mapBlocks(dirBlocks, uint64(l.apb))
	need += divCeil(16384, uint64(l.bs)) // lost+found
	if l.compat&EXT2_FEATURE_COMPAT_RESIZE_INODE != 0 {
		need++
	}
	if l.journalBlocks > 0 {
		need += uint64(l.journalBlocks) + mapBlocks(uint64(l.journalBlocks), uint64(l.apb))
	}
	return need <= l.dataBlocks()
}

// Needed returns the smallest image size in bytes (a whole number of MiB)
// that holds usage u with options o (o.Size is ignored).
func Needed(u Usage, o Options) (int64, error) {
	lo, hi := int64(0), int64(1)
	try := func(mib int64) bool {
		c := o
		c.Size = mib << 20
		d, err := c.withDefaults()
		if err != nil {
			return false
		}
		l, err := newLayout(&d)
		return err == nil && l.fits(&u)
	}
	if _, err := o.withDefaults(); err != nil {
		return 0, err
	}
	for !try(hi) {
		lo = hi
		hi *= 2
		if hi > 16<<20 { // 16 TiB
			return 0, fmt.Errorf("ext3: no image size up to 16 TiB holds %d inodes and %d blocks: %w", u.Inodes, u.Blocks4K, ErrTooSmall)
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if try(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi << 20, nil
}
