package ext3

// This file holds the reader/editor's view of a filesystem: Open, the
// superblock and group descriptor fields it needs, feature checks, and
// Sync/Close. The on-disk structures are kept as raw bytes and only the
// fields the editor needs are decoded, so fields it does not know (in-inode
// extended attributes, nanosecond times, reserved words) survive an edit
// byte for byte.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Sentinel errors of the reader and editor.
var (
	ErrBadMagic              = errors.New("ext3: bad superblock magic (not an ext2/ext3 filesystem)")
	ErrNeedsRecovery         = errors.New("ext3: journal needs recovery (mount it once or run e2fsck)")
	ErrUnsupported           = errors.New("ext3: unsupported filesystem features")
	ErrCorrupt               = errors.New("ext3: corrupt filesystem")
	ErrReadOnly        error = &fsError{"ext3: filesystem opened read-only", fs.ErrPermission}
	ErrNotExist        error = &fsError{"ext3: file does not exist", fs.ErrNotExist}
	ErrExist           error = &fsError{"ext3: file exists", fs.ErrExist}
	ErrNotDir                = errors.New("ext3: not a directory")
	ErrIsDir                 = errors.New("ext3: is a directory")
	ErrNotEmpty              = errors.New("ext3: directory not empty")
	ErrNoSpace               = errors.New("ext3: no space left on device")
	ErrNoInodes              = errors.New("ext3: no free inodes")
	ErrTooManyLinks          = errors.New("ext3: too many links")
	ErrSymlinkLoop           = errors.New("ext3: too many levels of symbolic links")
	ErrInvalidPath           = errors.New("ext3: invalid path")
	ErrFileTooLarge          = errors.New("ext3: file too large")
	ErrUncleanFS             = errors.New("ext3: filesystem not cleanly unmounted or has errors (run e2fsck)")
	ErrNotRegular            = errors.New("ext3: not a regular file")
	ErrNotSymlink            = errors.New("ext3: not a symbolic link")
	ErrInvalidArgument error = &fsError{"ext3: invalid argument", fs.ErrInvalid}
)

// fsError is a sentinel that also matches its io/fs counterpart, so
// errors.Is(err, fs.ErrNotExist) holds for ErrNotExist.
type fsError struct {
	msg string
	std error
}

func (e *fsError) Error() string        { return e.msg }
func (e *fsError) Is(target error) bool { return target == e.std }

// CorruptError says which structure of the image is inconsistent. It
// matches ErrCorrupt with errors.Is.
type CorruptError struct {
	What string // e.g. "inode 12 block map"
	Msg  string
}

func (e *CorruptError) Error() string { return "ext3: corrupt filesystem: " + e.What + ": " + e.Msg }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(what, format string, args ...any) error {
	return &CorruptError{What: what, Msg: fmt.Sprintf(format, args...)}
}

// Device is what Open reads from (and, unless read-only, writes to):
// an *os.File or anything else with ReadAt and WriteAt.
type Device interface {
	io.ReaderAt
}

// OpenOptions configures Open.
type OpenOptions struct {
	// ReadOnly forbids every edit; the device needs only io.ReaderAt.
	ReadOnly bool
	// Epoch is the time stamped on inodes that edits create or change
	// (mtime, ctime, atime). The zero value means the Unix epoch. The
	// editor never reads the clock.
	Epoch time.Time
	// SparseZeros makes WriteFile leave whole blocks of zeros as holes.
	SparseZeros bool
}

// Superblock field offsets (ext2_fs.h, struct ext2_super_block).
const (
	sbOffInodesCount     = 0x00
	sbOffBlocksCount     = 0x04
	sbOffFreeBlocks      = 0x0C
	sbOffFreeInodes      = 0x10
	sbOffFirstDataBlock  = 0x14
	sbOffLogBlockSize    = 0x18
	sbOffBlocksPerGroup  = 0x20
	sbOffInodesPerGroup  = 0x28
	sbOffMagic           = 0x38
	sbOffState           = 0x3A
	sbOffRevLevel        = 0x4C
	sbOffFirstIno        = 0x54
	sbOffInodeSize       = 0x58
	sbOffBlockGroupNr    = 0x5A
	sbOffFeatureCompat   = 0x5C
	sbOffFeatureIncompat = 0x60
	sbOffFeatureRoCompat = 0x64
	sbOffUUID            = 0x68
	sbOffJournalInum     = 0xE0
	sbOffLastOrphan      = 0xE8
	sbOffDescSize        = 0xFE
	sbOffBlocksCountHi   = 0x150
)

// Feature bits the editor knows, spelled as in ext2_fs.h.
type featureBit struct {
	mask uint32
	name string
}

var (
	fsCompatFeatures = []featureBit{
		{0x0001, "dir_prealloc"}, {0x0002, "imagic_inodes"}, {0x0004, "has_journal"},
		{0x0008, "ext_attr"}, {0x0010, "resize_inode"}, {0x0020, "dir_index"},
		{0x0040, "lazy_bg"}, {0x0100, "exclude_bitmap"}, {0x0200, "sparse_super2"},
		{0x0400, "fast_commit"}, {0x0800, "stable_inodes"}, {0x1000, "orphan_file"},
	}
	fsIncompatFeatures = []featureBit{
		{0x0001, "compression"}, {0x0002, "filetype"}, {0x0004, "needs_recovery"},
		{0x0008, "journal_dev"}, {0x0010, "meta_bg"}, {0x0040, "extent"},
		{0x0080, "64bit"}, {0x0100, "mmp"}, {0x0200, "flex_bg"}, {0x0400, "ea_inode"},
		{0x1000, "dirdata"}, {0x2000, "metadata_csum_seed"}, {0x4000, "large_dir"},
		{0x8000, "inline_data"}, {0x10000, "encrypt"}, {0x20000, "casefold"},
	}
	fsRoCompatFeatures = []featureBit{
		{0x0001, "sparse_super"}, {0x0002, "large_file"}, {0x0004, "btree_dir"},
		{0x0008, "huge_file"}, {0x0010, "uninit_bg"}, {0x0020, "dir_nlink"},
		{0x0040, "extra_isize"}, {0x0080, "snapshot"}, {0x0100, "quota"},
		{0x0200, "bigalloc"}, {0x0400, "metadata_csum"}, {0x0800, "replica"},
		{0x1000, "read-only"}, {0x2000, "project"}, {0x4000, "shared_blocks"},
		{0x8000, "verity"}, {0x10000, "orphan_present"},
	}
)

const (

	// What the reader and editor understand. Unknown compat features are
	// harmless by definition; sparse_super2 moves backup superblocks, which
	// only SetUUID touches, so it is refused for writing.
	fsIncompatKnown = EXT2_FEATURE_INCOMPAT_FILETYPE
	fsRoCompatKnown = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE | EXT4_FEATURE_RO_COMPAT_DIR_NLINK | 0x0040 /* extra_isize */
)

func featureNames(bits uint32, table []featureBit) string {
	var names []string
	for _, f := range table {
		if bits&f.mask != 0 {
			names = append(names, f.name)
			bits &^= f.mask
		}
	}
	for i := 0; i < 32; i++ {
		if bits&(1<<i) != 0 {
			names = append(names, fmt.Sprintf("FEATURE_%#x", uint32(1)<<i))
		}
	}
	return strings.Join(names, ",")
}

// groupDesc is the decoded part of a 32-byte ext2_group_desc.
type groupDesc struct {
	blockBitmap uint32
	inodeBitmap uint32
	inodeTable  uint32
	freeBlocks  uint16
	freeInodes  uint16
	usedDirs    uint16
}

// FS is an open ext2/ext3 filesystem. It implements io/fs.FS for reading.
// Edits write through to the device immediately, except the allocation
// bitmaps, group descriptors and superblock counters, which Sync and Close
// write. An FS is not safe for concurrent use.
type FS struct {
	dev  io.ReaderAt
	wdev io.WriterAt // nil when read-only
	opt  OpenOptions

	sb        []byte // 1024 bytes of the primary superblock
	bs        uint32 // block size in bytes
	blocks    uint32 // s_blocks_count
	inodes    uint32 // s_inodes_count
	firstData uint32
	bpg       uint32 // blocks per group
	ipg       uint32 // inodes per group
	isize     uint32 // inode size in bytes
	firstIno  uint32
	ngroups   uint32
	gdtBlock  uint32 // first block of the group descriptor table
	gds       []groupDesc
	filetype  bool // directory entries carry a file type byte
	epoch     uint32

	blockBitmaps map[uint32][]byte // loaded group bitmaps
	inodeBitmaps map[uint32][]byte
	dirtyBB      map[uint32]bool
	dirtyIB      map[uint32]bool
	dirtyMeta    bool  // group descriptors / superblock changed
	err          error // sticky error of a failed edit
	closed       bool
}

// Open reads the superblock and group descriptors of the filesystem on dev
// and checks that every feature it uses is understood. Nothing is written
// by Open. For edits dev must also implement io.WriterAt.
func Open(dev io.ReaderAt, opt OpenOptions) (*FS, error) {
	f := &FS{dev: dev, opt: opt}
	if !opt.ReadOnly {
		w, ok := dev.(io.WriterAt)
		if !ok {
			return nil, fmt.Errorf("opening filesystem: %w: device is not writable (set ReadOnly)", ErrInvalidArgument)
		}
		f.wdev = w
	}
	if !opt.Epoch.IsZero() {
		s := opt.Epoch.Unix()
		if s < 0 || s > 0xFFFFFFFF {
			return nil, fmt.Errorf("opening filesystem: %w: epoch %v out of range", ErrInvalidArgument, opt.Epoch)
		}
		f.epoch = uint32(s)
	}
	f.sb = make([]byte, 1024)
	if err := readFull(dev, f.sb, 1024); err != nil {
		return nil, fmt.Errorf("reading superblock: %w", err)
	}
	if err := f.parseSuper(); err != nil {
		return nil, err
	}
	if err := f.readGroupDescs(); err != nil {
		return nil, err
	}
	f.blockBitmaps = map[uint32][]byte{}
	f.inodeBitmaps = map[uint32][]byte{}
	f.dirtyBB = map[uint32]bool{}
	f.dirtyIB = map[uint32]bool{}
	if !opt.ReadOnly {
		if err := f.checkJournalClean(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(p), off, err)
}

func (f *FS) sb16(off int) uint16 { return binary.LittleEndian.Uint16(f.sb[off:]) }
func (f *FS) sb32(off int) uint32 { return binary.LittleEndian.Uint32(f.sb[off:]) }

func (f *FS) parseSuper() error {
	if f.sb16(sbOffMagic) != SuperMagic {
		return ErrBadMagic
	}
	rev := f.sb32(sbOffRevLevel)
	compat := f.sb32(sbOffFeatureCompat)
	incompat := f.sb32(sbOffFeatureIncompat)
	ro := f.sb32(sbOffFeatureRoCompat)
	if rev == 0 {
		compat, incompat, ro = 0, 0, 0
	}
	if incompat&EXT3_FEATURE_INCOMPAT_RECOVER != 0 {
		return ErrNeedsRecovery
	}
	if u := incompat &^ fsIncompatKnown; u != 0 {
		return fmt.Errorf("%w: incompat %s", ErrUnsupported, featureNames(u, fsIncompatFeatures))
	}
	if u := ro &^ fsRoCompatKnown; u != 0 {
		return fmt.Errorf("%w: ro_compat %s", ErrUnsupported, featureNames(u, fsRoCompatFeatures))
	}
	if !f.opt.ReadOnly && compat&EXT2_FEATURE_COMPAT_SPARSE_SUPER2 != 0 {
		return fmt.Errorf("%w: compat sparse_super2 (open read-only)", ErrUnsupported)
	}
	if !f.opt.ReadOnly {
		st := f.sb16(sbOffState)
		if st&EXT2_VALID_FS == 0 || st&EXT2_ERROR_FS != 0 {
			return ErrUncleanFS
		}
	}
	f.filetype = incompat&EXT2_FEATURE_INCOMPAT_FILETYPE != 0
	lbs := f.sb32(sbOffLogBlockSize)
	if lbs > 6 {
		return corruptf("superblock", "log block size %d", lbs)
	}
	f.bs = 1024 << lbs
	f.blocks = f.sb32(sbOffBlocksCount)
	f.inodes = f.sb32(sbOffInodesCount)
	f.firstData = f.sb32(sbOffFirstDataBlock)
	f.bpg = f.sb32(sbOffBlocksPerGroup)
	f.ipg = f.sb32(sbOffInodesPerGroup)
	if rev == 0 {
		f.isize, f.firstIno = 128, 11
	} else {
		f.isize, f.firstIno = uint32(f.sb16(sbOffInodeSize)), f.sb32(sbOffFirstIno)
	}
	switch {
	case f.bs == 1024 && f.firstData != 1, f.bs > 1024 && f.firstData != 0:
		return corruptf("superblock", "first data block %d with block size %d", f.firstData, f.bs)
	case f.bpg == 0 || f.bpg > 8*f.bs || f.bpg%8 != 0:
		return corruptf("superblock", "blocks per group %d", f.bpg)
	case f.ipg == 0 || f.ipg > 8*f.bs || f.ipg%8 != 0:
		return corruptf("superblock", "inodes per group %d", f.ipg)
	case f.isize < 128 || f.isize > f.bs || f.isize&(f.isize-1) != 0:
		return corruptf("superblock", "inode size %d", f.isize)
	case f.blocks <= f.firstData+1:
		return corruptf("superblock", "block count %d", f.blocks)
	case f.firstIno < 11 || f.firstIno >= f.inodes:
		return corruptf("superblock", "first inode %d", f.firstIno)
	}
	f.ngroups = (f.blocks - f.firstData + f.bpg - 1) / f.bpg
	if uint64(f.ngroups)*uint64(f.ipg) != uint64(f.inodes) {
		return corruptf("superblock", "inode count %d is not %d groups of %d", f.inodes, f.ngroups, f.ipg)
	}
	if ds := f.sb16(sbOffDescSize); ds != 0 && ds != 32 && incompat&0x80 != 0 {
		return corruptf("superblock", "descriptor size %d", ds)
	}
	return nil
}

func (f *FS) readGroupDescs() error {
	f.gdtBlock = f.firstData + 1
	n := uint64(f.ngroups) * 32
	gdtBlocks := (n + uint64(f.bs) - 1) / uint64(f.bs)
	if uint64(f.gdtBlock)+gdtBlocks > uint64(f.firstData)+uint64(f.bpg) {
		return corruptf("superblock", "group descriptor table (%d blocks) does not fit in the first group", gdtBlocks)
	}
	// The device must hold the whole filesystem: probe its last byte
	// before trusting sizes taken from the superblock.
	var last [1]byte
	if err := readFull(f.dev, last[:], int64(f.blocks)*int64(f.bs)-1); err != nil {
		return fmt.Errorf("%w: image shorter than the filesystem's %d blocks of %d bytes: %w", ErrCorrupt, f.blocks, f.bs, err)
	}
	buf := make([]byte, n)
	if err := readFull(f.dev, buf, int64(f.gdtBlock)*int64(f.bs)); err != nil {
		return fmt.Errorf("reading group descriptors: %w", err)
	}
	itBlocks := (f.ipg*f.isize + f.bs - 1) / f.bs
	f.gds = make([]groupDesc, f.ngroups)
	for g := range f.gds {
		b := buf[g*32:]
		d := groupDesc{
			blockBitmap: binary.LittleEndian.Uint32(b[0:]),
			inodeBitmap: binary.LittleEndian.Uint32(b[4:]),
			inodeTable:  binary.LittleEndian.Uint32(b[8:]),
			freeBlocks:  binary.LittleEndian.Uint16(b[12:]),
			freeInodes:  binary.LittleEndian.Uint16(b[14:]),
			usedDirs:    binary.LittleEndian.Uint16(b[16:]),
		}
		what := fmt.Sprintf("group %d descriptor", g)
		if d.blockBitmap < f.firstData || d.blockBitmap >= f.blocks {
			return corruptf(what, "block bitmap at block %d", d.blockBitmap)
		}
		if d.inodeBitmap < f.firstData || d.inodeBitmap >= f.blocks {
			return corruptf(what, "inode bitmap at block %d", d.inodeBitmap)
		}
		if d.inodeTable < f.firstData || uint64(d.inodeTable)+uint64(itBlocks) > uint64(f.blocks) {
			return corruptf(what, "inode table at block %d", d.inodeTable)
		}
		f.gds[g] = d
	}
	return nil
}

// checkJournalClean refuses to edit a filesystem whose journal holds
// transactions that were never replayed (s_start != 0), even when the
// needs_recovery flag is missing.
func (f *FS) checkJournalClean() error {
	if f.sb32(sbOffFeatureCompat)&0x0004 == 0 {
		return nil
	}
	jino := f.sb32(sbOffJournalInum)
	if jino == 0 {
		return nil // external journal: refused through journal_dev or harmless
	}
	in, err := f.readInode(jino)
	if err != nil {
		return fmt.Errorf("reading journal inode: %w", err)
	}
	blk, err := f.bmap(jino, in, 0)
	if err != nil {
		return fmt.Errorf("reading journal inode: %w", err)
	}
	if blk == 0 {
		return corruptf("journal", "inode %d has no first block", jino)
	}
	var jsb [32]byte
	if err := readFull(f.dev, jsb[:], int64(blk)*int64(f.bs)); err != nil {
		return fmt.Errorf("reading journal superblock: %w", err)
	}
	if binary.BigEndian.Uint32(jsb[0:]) != 0xC03B3998 {
		return corruptf("journal", "bad journal superblock magic")
	}
	if binary.BigEndian.Uint32(jsb[0x1C:]) != 0 {
		return ErrNeedsRecovery
	}
	return nil
}

// BlockSize returns the filesystem block size in bytes.
func (f *FS) BlockSize() int { return int(f.bs) }

// BlockCount returns the number of blocks of the filesystem.
func (f *FS) BlockCount() uint64 { return uint64(f.blocks) }

// UUID returns the filesystem UUID.
func (f *FS) UUID() [16]byte {
	var u [16]byte
	copy(u[:], f.sb[sbOffUUID:])
	return u
}

// FreeBlocks returns the superblock's count of free blocks.
func (f *FS) FreeBlocks() uint64 { return uint64(f.sb32(sbOffFreeBlocks)) }

// FreeInodes returns the superblock's count of free inodes.
func (f *FS) FreeInodes() uint64 { return uint64(f.sb32(sbOffFreeInodes)) }

// Extent is a run of blocks: Start is the first block number, Count the
// number of blocks.
type Extent struct {
	Start, Count uint64
}

// UsedBlocks returns, in ascending order, the runs of blocks the block
// bitmaps mark in use, plus the blocks before the first data block (the
// boot block of a 1 KiB-block filesystem). Copying only these blocks into
// a zeroed target of the same size yields an equivalent filesystem.
func (f *FS) UsedBlocks() ([]Extent, error) {
	var out []Extent
	add := func(b uint64) {
		if n := len(out); n > 0 && out[n-1].Start+out[n-1].Count == b {
			out[n-1].Count++
			return
		}
		out = append(out, Extent{Start: b, Count: 1})
	}
	for b := uint32(0); b < f.firstData; b++ {
		add(uint64(b))
	}
	for g := uint32(0); g < f.ngroups; g++ {
		bm, err := f.blockBitmap(g)
		if err != nil {
			return nil, err
		}
		base := f.firstData + g*f.bpg
		n := f.bpg
		if base+n > f.blocks {
			n = f.blocks - base
		}
		for i := uint32(0); i < n; i++ {
			if bm[i>>3] == 0 && i&7 == 0 && i+8 <= n {
				i += 7
				continue
			}
			if bm[i>>3]&(1<<(i&7)) != 0 {
				add(uint64(base + i))
			}
		}
	}
	return out, nil
}

// Sync writes the allocation bitmaps, group descriptors and superblock
// counters that edits changed.
func (f *FS) Sync() error {
	if f.wdev == nil || f.closed {
		return nil
	}
	if f.err != nil {
		return f.err
	}
	groups := make([]uint32, 0, len(f.dirtyBB)+len(f.dirtyIB))
	for g := range f.dirtyBB {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	for _, g := range groups {
		if _, err := f.wdev.WriteAt(f.blockBitmaps[g], int64(f.gds[g].blockBitmap)*int64(f.bs)); err != nil {
			return f.fail(fmt.Errorf("writing block bitmap of group %d: %w", g, err))
		}
		delete(f.dirtyBB, g)
	}
	groups = groups[:0]
	for g := range f.dirtyIB {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	for _, g := range groups {
		if _, err := f.wdev.WriteAt(f.inodeBitmaps[g], int64(f.gds[g].inodeBitmap)*int64(f.bs)); err != nil {
			return f.fail(fmt.Errorf("writing inode bitmap of group %d: %w", g, err))
		}
		delete(f.dirtyIB, g)
	}
	if !f.dirtyMeta {
		return nil
	}
	// Group descriptors: patch the counters into the primary table.
	buf := make([]byte, uint64(f.ngroups)*32)
	off := int64(f.gdtBlock) * int64(f.bs)
	if err := readFull(f.dev, buf, off); err != nil {
		return f.fail(fmt.Errorf("reading group descriptors: %w", err))
	}
	var freeB, freeI uint64
	for g, d := range f.gds {
		b := buf[g*32:]
		binary.LittleEndian.PutUint16(b[12:], d.freeBlocks)
		binary.LittleEndian.PutUint16(b[14:], d.freeInodes)
		binary.LittleEndian.PutUint16(b[16:], d.usedDirs)
		freeB += uint64(d.freeBlocks)
		freeI += uint64(d.freeInodes)
	}
	if _, err := f.wdev.WriteAt(buf, off); err != nil {
		return f.fail(fmt.Errorf("writing group descriptors: %w", err))
	}
	binary.LittleEndian.PutUint32(f.sb[sbOffFreeBlocks:], uint32(freeB))
	binary.LittleEndian.PutUint32(f.sb[sbOffFreeInodes:], uint32(freeI))
	if _, err := f.wdev.WriteAt(f.sb, 1024); err != nil {
		return f.fail(fmt.Errorf("writing superblock: %w", err))
	}
	f.dirtyMeta = false
	return nil
}

// Close syncs pending edits. It does not close the device.
func (f *FS) Close() error {
	if f.closed {
		return nil
	}
	err := f.Sync()
	f.closed = true
	return err
}

// fail records a sticky error: after a failed write the image may be
// inconsistent, so further edits are refused.
func (f *FS) fail(err error) error {
	if f.err == nil {
		f.err = err
	}
	return err
}

// writable reports whether edits are allowed now.
func (f *FS) writable(op string) error {
	switch {
	case f.closed:
		return fmt.Errorf("%s: ext3: filesystem closed", op)
	case f.wdev == nil:
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	case f.err != nil:
		return fmt.Errorf("%s: earlier edit failed: %w", op, f.err)
	}
	return nil
}

// hasSuperBackup reports whether group g holds a backup superblock.
func (f *FS) hasSuperBackup(g uint32) bool {
	if g == 0 {
		return true
	}
	if f.sb32(sbOffFeatureRoCompat)&EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER == 0 || f.sb32(sbOffRevLevel) == 0 {
		return true
	}
	if g == 1 {
		return true
	}
	for _, base := range []uint32{3, 5, 7} {
		p := base
		for p < g {
			p *= base
		}
		if p == g {
			return true
		}
	}
	return false
}

// SetUUID sets the filesystem UUID in the primary superblock and in every
// backup superblock.
func (f *FS) SetUUID(u [16]byte) error {
	if err := f.writable("setting UUID"); err != nil {
		return err
	}
	copy(f.sb[sbOffUUID:], u[:])
	f.dirtyMeta = true
	for g := uint32(1); g < f.ngroups; g++ {
		if !f.hasSuperBackup(g) {
			continue
		}
		off := int64(f.firstData+g*f.bpg) * int64(f.bs)
		var magic [2]byte
		if err := readFull(f.dev, magic[:], off+sbOffMagic); err != nil {
			return f.fail(fmt.Errorf("reading backup superblock of group %d: %w", g, err))
		}
		if binary.LittleEndian.Uint16(magic[:]) != SuperMagic {
			continue
		}
		if _, err := f.wdev.WriteAt(u[:], off+sbOffUUID); err != nil {
			return f.fail(fmt.Errorf("writing backup superblock of group %d: %w", g, err))
		}
	}
	return nil
}
