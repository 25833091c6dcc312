package ext3

// On-disk structures of ext2/ext3, named after e2fsprogs' lib/ext2fs/ext2_fs.h
// and kernel-jbd.h. Everything is little-endian except the journal, which is
// big-endian. Each structure has an encoder (MarshalBinary / Put) and a
// decoder (Unmarshal*) that returns an error on short input.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var le = binary.LittleEndian
var be = binary.BigEndian

// ErrShort is returned by the decoders when the input is shorter than the
// structure.
var ErrShort = errors.New("ext3: short buffer")

func short(what string, need, got int) error {
	return fmt.Errorf("decoding %s: need %d bytes, got %d: %w", what, need, got, ErrShort)
}

// Magic numbers and fixed sizes.
const (
	SuperMagic        = 0xEF53 // s_magic
	SuperBlockOffset  = 1024   // byte offset of the primary superblock
	SuperBlockSize    = 1024   // bytes
	GroupDescSize     = 32     // bytes, ext2/ext3 descriptor (no 64bit)
	GoodOldInodeSize  = 128    // bytes, revision 0 inode
	GoodOldFirstIno   = 11     // first non-reserved inode
	DynamicRev        = 1      // s_rev_level for variable inode sizes
	NDirBlocks        = 12     // EXT2_NDIR_BLOCKS
	IndBlock          = 12     // EXT2_IND_BLOCK
	DindBlock         = 13     // EXT2_DIND_BLOCK
	TindBlock         = 14     // EXT2_TIND_BLOCK
	NBlocks           = 15     // EXT2_N_BLOCKS
	NameLen           = 255    // EXT2_NAME_LEN
	InodeExtraSize    = 32     // i_extra_isize written for 256-byte inodes
	FastSymlinkMaxLen = 59     // longest target stored inline in i_block
)

// Reserved inode numbers.
const (
	BadInode        = 1 // EXT2_BAD_INO
	RootInode       = 2 // EXT2_ROOT_INO
	UserQuotaInode  = 3
	GroupQuotaInode = 4
	BootLoaderInode = 5 // EXT2_BOOT_LOADER_INO
	UndelDirInode   = 6 // EXT2_UNDEL_DIR_INO
	ResizeInode     = 7 // EXT2_RESIZE_INO
	JournalInode    = 8 // EXT2_JOURNAL_INO
	ExcludeInode    = 9
	ReplicaInode    = 10
	LostFoundInode  = 11 // first non-reserved inode, lost+found as mke2fs makes it
)

// Compatible features (s_feature_compat).
const (
	EXT2_FEATURE_COMPAT_DIR_PREALLOC  = 0x0001
	EXT2_FEATURE_COMPAT_IMAGIC_INODES = 0x0002
	EXT3_FEATURE_COMPAT_HAS_JOURNAL   = 0x0004
	EXT2_FEATURE_COMPAT_EXT_ATTR      = 0x0008
	EXT2_FEATURE_COMPAT_RESIZE_INODE  = 0x0010
	EXT2_FEATURE_COMPAT_DIR_INDEX     = 0x0020
	EXT2_FEATURE_COMPAT_LAZY_BG       = 0x0040
	EXT2_FEATURE_COMPAT_SPARSE_SUPER2 = 0x0200
)

// Read-only compatible features (s_feature_ro_compat).
const (
	EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER  = 0x0001
	EXT2_FEATURE_RO_COMPAT_LARGE_FILE    = 0x0002
	EXT2_FEATURE_RO_COMPAT_BTREE_DIR     = 0x0004
	EXT4_FEATURE_RO_COMPAT_HUGE_FILE     = 0x0008
	EXT4_FEATURE_RO_COMPAT_GDT_CSUM      = 0x0010
	EXT4_FEATURE_RO_COMPAT_DIR_NLINK     = 0x0020
	EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE   = 0x0040
	EXT4_FEATURE_RO_COMPAT_METADATA_CSUM = 0x0400
)

// Incompatible features (s_feature_incompat).
const (
	EXT2_FEATURE_INCOMPAT_COMPRESSION = 0x0001
	EXT2_FEATURE_INCOMPAT_FILETYPE    = 0x0002
	EXT3_FEATURE_INCOMPAT_RECOVER     = 0x0004
	EXT3_FEATURE_INCOMPAT_JOURNAL_DEV = 0x0008
	EXT2_FEATURE_INCOMPAT_META_BG     = 0x0010
	EXT3_FEATURE_INCOMPAT_EXTENTS     = 0x0040
	EXT4_FEATURE_INCOMPAT_64BIT       = 0x0080
	EXT4_FEATURE_INCOMPAT_MMP         = 0x0100
	EXT4_FEATURE_INCOMPAT_FLEX_BG     = 0x0200
	EXT4_FEATURE_INCOMPAT_INLINE_DATA = 0x8000
)

// Supported feature masks: what this package writes and edits.
const (
	SupportedCompat   = EXT3_FEATURE_COMPAT_HAS_JOURNAL | EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_RESIZE_INODE | EXT2_FEATURE_COMPAT_DIR_INDEX | EXT2_FEATURE_COMPAT_DIR_PREALLOC
	SupportedIncompat = EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_RECOVER
	SupportedRoCompat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE
)

// Filesystem states (s_state), error behaviours (s_errors), OS (s_creator_os).
const (
	EXT2_VALID_FS        = 0x0001
	EXT2_ERROR_FS        = 0x0002
	EXT2_ERRORS_CONTINUE = 1
	EXT2_ERRORS_RO       = 2
	EXT2_ERRORS_PANIC    = 3
	EXT2_OS_LINUX        = 0
)

// Superblock flags (s_flags) and default mount options (s_default_mount_opts).
const (
	EXT2_FLAGS_SIGNED_HASH   = 0x0001
	EXT2_FLAGS_UNSIGNED_HASH = 0x0002
	EXT2_FLAGS_TEST_FILESYS  = 0x0004

	EXT2_DEFM_XATTR_USER = 0x0004
	EXT2_DEFM_ACL        = 0x0008
)

// Directory hash versions (s_def_hash_version, dx_root_info.hash_version).
const (
	EXT2_HASH_LEGACY   = 0
	EXT2_HASH_HALF_MD4 = 1
	EXT2_HASH_TEA      = 2
)

// Journal backup type (s_jnl_backup_type).
const EXT3_JNL_BACKUP_BLOCKS = 1

// Inode mode bits (i_mode), as in the kernel's stat.h.
const (
	S_IFMT   = 0xF000
	S_IFSOCK = 0xC000
	S_IFLNK  = 0xA000
	S_IFREG  = 0x8000
	S_IFBLK  = 0x6000
	S_IFDIR  = 0x4000
	S_IFCHR  = 0x2000
	S_IFIFO  = 0x1000
	S_ISUID  = 0x0800
	S_ISGID  = 0x0400
	S_ISVTX  = 0x0200
)

// Inode flags (i_flags).
const (
	EXT2_SECRM_FL        = 0x00000001
	EXT2_UNRM_FL         = 0x00000002
	EXT2_COMPR_FL        = 0x00000004
	EXT2_SYNC_FL         = 0x00000008
	EXT2_IMMUTABLE_FL    = 0x00000010
	EXT2_APPEND_FL       = 0x00000020
	EXT2_NODUMP_FL       = 0x00000040
	EXT2_NOATIME_FL      = 0x00000080
	EXT2_INDEX_FL        = 0x00001000 // hash-indexed directory
	EXT3_JOURNAL_DATA_FL = 0x00004000
	EXT2_DIRSYNC_FL      = 0x00010000
	EXT2_TOPDIR_FL       = 0x00020000
	EXT4_HUGE_FILE_FL    = 0x00040000
	EXT4_EXTENTS_FL      = 0x00080000
	EXT4_INLINE_DATA_FL  = 0x10000000
)

// Directory entry file types (ext2_dir_entry_2.file_type).
const (
	EXT2_FT_UNKNOWN  = 0
	EXT2_FT_REG_FILE = 1
	EXT2_FT_DIR      = 2
	EXT2_FT_CHRDEV   = 3
	EXT2_FT_BLKDEV   = 4
	EXT2_FT_FIFO     = 5
	EXT2_FT_SOCK     = 6
	EXT2_FT_SYMLINK  = 7
)

// FileTypeOfMode returns the directory entry file type for an i_mode.
func FileTypeOfMode(mode uint16) uint8 {
	switch mode & S_IFMT {
	case S_IFREG:
		return EXT2_FT_REG_FILE
	case S_IFDIR:
		return EXT2_FT_DIR
	case S_IFCHR:
		return EXT2_FT_CHRDEV
	case S_IFBLK:
		return EXT2_FT_BLKDEV
	case S_IFIFO:
		return EXT2_FT_FIFO
	case S_IFSOCK:
		return EXT2_FT_SOCK
	case S_IFLNK:
		return EXT2_FT_SYMLINK
	}
	return EXT2_FT_UNKNOWN
}

// SuperBlock is struct ext2_super_block (1024 bytes at byte 1024 of the
// device, and at the start of each backup group). Fields after
// s_want_extra_isize that this package does not use are kept raw in Rest so
// that decode+encode round-trips every byte.
type SuperBlock struct {
	InodesCount          uint32     // s_inodes_count
	BlocksCount          uint32     // s_blocks_count
	RBlocksCount         uint32     // s_r_blocks_count, reserved for the super user
	FreeBlocksCount      uint32     // s_free_blocks_count
	FreeInodesCount      uint32     // s_free_inodes_count
	FirstDataBlock       uint32     // s_first_data_block: 1 for 1 KiB blocks, else 0
	LogBlockSize         uint32     // s_log_block_size: block size = 1024 << LogBlockSize
	LogClusterSize       uint32     // s_log_cluster_size (equal to LogBlockSize without bigalloc)
	BlocksPerGroup       uint32     // s_blocks_per_group
	ClustersPerGroup     uint32     // s_clusters_per_group
	InodesPerGroup       uint32     // s_inodes_per_group
	Mtime                uint32     // s_mtime, seconds since the epoch
	Wtime                uint32     // s_wtime, seconds since the epoch
	MntCount             uint16     // s_mnt_count
	MaxMntCount          int16      // s_max_mnt_count (-1: no check)
	Magic                uint16     // s_magic, SuperMagic
	State                uint16     // s_state
	Errors               uint16     // s_errors
	MinorRevLevel        uint16     // s_minor_rev_level
	Lastcheck            uint32     // s_lastcheck, seconds since the epoch
	Checkinterval        uint32     // s_checkinterval, seconds
	CreatorOS            uint32     // s_creator_os
	RevLevel             uint32     // s_rev_level
	DefResuid            uint16     // s_def_resuid
	DefResgid            uint16     // s_def_resgid
	FirstIno             uint32     // s_first_ino
	InodeSize            uint16     // s_inode_size, bytes
	BlockGroupNr         uint16     // s_block_group_nr: group holding this copy
	FeatureCompat        uint32     // s_feature_compat
	FeatureIncompat      uint32     // s_feature_incompat
	FeatureRoCompat      uint32     // s_feature_ro_compat
	UUID                 [16]byte   // s_uuid
	VolumeName           [16]byte   // s_volume_name
	LastMounted          [64]byte   // s_last_mounted
	AlgorithmUsageBitmap uint32     // s_algorithm_usage_bitmap
	PreallocBlocks       uint8      // s_prealloc_blocks
	PreallocDirBlocks    uint8      // s_prealloc_dir_blocks
	ReservedGdtBlocks    uint16     // s_reserved_gdt_blocks
	JournalUUID          [16]byte   // s_journal_uuid
	JournalInum          uint32     // s_journal_inum
	JournalDev           uint32     // s_journal_dev
	LastOrphan           uint32     // s_last_orphan: head of the orphan inode list
	HashSeed             [4]uint32  // s_hash_seed
	DefHashVersion       uint8      // s_def_hash_version
	JnlBackupType        uint8      // s_jnl_backup_type
	DescSize             uint16     // s_desc_size (0 without 64bit)
	DefaultMountOpts     uint32     // s_default_mount_opts
	FirstMetaBg          uint32     // s_first_meta_bg
	MkfsTime             uint32     // s_mkfs_time, seconds since the epoch
	JnlBlocks            [17]uint32 // s_jnl_blocks: journal i_block[15], i_size_high, i_size
	BlocksCountHi        uint32     // s_blocks_count_hi (64bit only)
	RBlocksCountHi       uint32     // s_r_blocks_count_hi
	FreeBlocksHi         uint32     // s_free_blocks_hi
	MinExtraIsize        uint16     // s_min_extra_isize, bytes
	WantExtraIsize       uint16     // s_want_extra_isize, bytes
	Flags                uint32     // s_flags
	Rest                 [668]byte  // bytes 0x164..0x3FF, kept verbatim
}

// MarshalBinary encodes the superblock into 1024 bytes.
func (s *SuperBlock) MarshalBinary() ([]byte, error) {
	b := make([]byte, SuperBlockSize)
	s.Put(b)
	return b, nil
}

// Put encodes the superblock into b, which must hold SuperBlockSize bytes.
func (s *SuperBlock) Put(b []byte) {
	_ = b[SuperBlockSize-1]
	if _, err := binary.Encode(b, le, s); err != nil {
		// The struct has a fixed size of SuperBlockSize; this cannot fail
		// for a buffer of that size (checked by the bounds check above).
		panic("ext3: encoding superblock: " + err.Error())
	}
}

// UnmarshalBinary decodes a superblock from b (at least 1024 bytes). It does
// not check the magic; see Validate.
func (s *SuperBlock) UnmarshalBinary(b []byte) error {
	if len(b) < SuperBlockSize {
		return short("superblock", SuperBlockSize, len(b))
	}
	if _, err := binary.Decode(b[:SuperBlockSize], le, s); err != nil {
		return fmt.Errorf("decoding superblock: %w", err)
	}
	return nil
}

// BlockSize returns the block size in bytes.
func (s *SuperBlock) BlockSize() int { return 1024 << (s.LogBlockSize & 31) }

// GroupCount returns the number of block groups.
func (s *SuperBlock) GroupCount() uint32 {
	if s.BlocksPerGroup == 0 || s.BlocksCount <= s.FirstDataBlock {
		return 0
	}
	return (s.BlocksCount - s.FirstDataBlock + s.BlocksPerGroup - 1) / s.BlocksPerGroup
}

// InodeSizeBytes returns the inode size, 128 for revision 0.
func (s *SuperBlock) InodeSizeBytes() int {
	if s.RevLevel == 0 {
		return GoodOldInodeSize
	}
	return int(s.InodeSize)
}

// Validate checks the magic and the basic geometry of a decoded superblock.
func (s *SuperBlock) Validate() error {
	if s.Magic != SuperMagic {
		return fmt.Errorf("ext3: bad superblock magic %#04x", s.Magic)
	}
	if s.LogBlockSize > 6 {
		return fmt.Errorf("ext3: bad block size log %d", s.LogBlockSize)
	}
	bs := uint32(s.BlockSize())
	if s.BlocksPerGroup == 0 || s.BlocksPerGroup > 8*bs {
		return fmt.Errorf("ext3: bad blocks per group %d", s.BlocksPerGroup)
	}
	if s.InodesPerGroup == 0 || s.InodesPerGroup > 8*bs {
		return fmt.Errorf("ext3: bad inodes per group %d", s.InodesPerGroup)
	}
	is := s.InodeSizeBytes()
	if is < GoodOldInodeSize || is > int(bs) || is&(is-1) != 0 {
		return fmt.Errorf("ext3: bad inode size %d", is)
	}
	if s.GroupCount() == 0 {
		return fmt.Errorf("ext3: no block groups (blocks %d, first data block %d)", s.BlocksCount, s.FirstDataBlock)
	}
	if uint64(s.GroupCount())*uint64(s.InodesPerGroup) != uint64(s.InodesCount) {
		return fmt.Errorf("ext3: inode count %d is not groups %d x inodes per group %d", s.InodesCount, s.GroupCount(), s.InodesPerGroup)
	}
	return nil
}

// GroupDesc is struct ext2_group_desc, the 32-byte ext2/ext3 descriptor.
type GroupDesc struct {
	BlockBitmap     uint32 // bg_block_bitmap, block number
	InodeBitmap     uint32 // bg_inode_bitmap, block number
	InodeTable      uint32 // bg_inode_table, first block
	FreeBlocksCount uint16 // bg_free_blocks_count
	FreeInodesCount uint16 // bg_free_inodes_count
	UsedDirsCount   uint16 // bg_used_dirs_count
	Flags           uint16 // bg_flags
	ExcludeBitmap   uint32 // bg_exclude_bitmap_lo
	BlockBitmapCsum uint16 // bg_block_bitmap_csum_lo
	InodeBitmapCsum uint16 // bg_inode_bitmap_csum_lo
	ItableUnused    uint16 // bg_itable_unused
	Checksum        uint16 // bg_checksum
}

// Put encodes the descriptor into b[:32].
func (g *GroupDesc) Put(b []byte) {
	_ = b[GroupDescSize-1]
	le.PutUint32(b[0:], g.BlockBitmap)
	le.PutUint32(b[4:], g.InodeBitmap)
	le.PutUint32(b[8:], g.InodeTable)
	le.PutUint16(b[12:], g.FreeBlocksCount)
	le.PutUint16(b[14:], g.FreeInodesCount)
	le.PutUint16(b[16:], g.UsedDirsCount)
	le.PutUint16(b[18:], g.Flags)
	le.PutUint32(b[20:], g.ExcludeBitmap)
	le.PutUint16(b[24:], g.BlockBitmapCsum)
	le.PutUint16(b[26:], g.InodeBitmapCsum)
	le.PutUint16(b[28:], g.ItableUnused)
	le.PutUint16(b[30:], g.Checksum)
}

// MarshalBinary encodes the descriptor into 32 bytes.
func (g *GroupDesc) MarshalBinary() ([]byte, error) {
	b := make([]byte, GroupDescSize)
	g.Put(b)
	return b, nil
}

// UnmarshalBinary decodes a descriptor from b (at least 32 bytes).
func (g *GroupDesc) UnmarshalBinary(b []byte) error {
	if len(b) < GroupDescSize {
		return short("group descriptor", GroupDescSize, len(b))
	}
	g.BlockBitmap = le.Uint32(b[0:])
	g.InodeBitmap = le.Uint32(b[4:])
	g.InodeTable = le.Uint32(b[8:])
	g.FreeBlocksCount = le.Uint16(b[12:])
	g.FreeInodesCount = le.Uint16(b[14:])
	g.UsedDirsCount = le.Uint16(b[16:])
	g.Flags = le.Uint16(b[18:])
	g.ExcludeBitmap = le.Uint32(b[20:])
	g.BlockBitmapCsum = le.Uint16(b[24:])
	g.InodeBitmapCsum = le.Uint16(b[26:])
	g.ItableUnused = le.Uint16(b[28:])
	g.Checksum = le.Uint16(b[30:])
	return nil
}

// Inode is struct ext2_inode_large: the 128-byte ext2 inode plus the extra
// fields of 256-byte inodes (used when ExtraIsize > 0 and the on-disk inode
// is large enough). Times are seconds since the epoch; the *Extra fields hold
// (nanoseconds << 2) | epoch bits.
type Inode struct {
	Mode        uint16          // i_mode: type and permission bits
	Uid         uint16          // i_uid, low 16 bits
	Size        uint32          // i_size (i_size_lo)
	Atime       uint32          // i_atime
	Ctime       uint32          // i_ctime
	Mtime       uint32          // i_mtime
	Dtime       uint32          // i_dtime
	Gid         uint16          // i_gid, low 16 bits
	LinksCount  uint16          // i_links_count
	Blocks      uint32          // i_blocks, in 512-byte units
	Flags       uint32          // i_flags
	Version     uint32          // osd1.linux1.l_i_version
	Block       [NBlocks]uint32 // i_block: 12 direct, IND, DIND, TIND; or a fast symlink / device number
	Generation  uint32          // i_generation
	FileACL     uint32          // i_file_acl: extended attribute block
	SizeHigh    uint32          // i_size_high (i_dir_acl in old ext2)
	Faddr       uint32          // i_faddr
	BlocksHi    uint16          // osd2.linux2.l_i_blocks_hi
	FileACLHigh uint16          // osd2.linux2.l_i_file_acl_high
	UidHigh     uint16          // osd2.linux2.l_i_uid_high
	GidHigh     uint16          // osd2.linux2.l_i_gid_high
	ChecksumLo  uint16          // osd2.linux2.l_i_checksum_lo
	Reserved    uint16          // osd2.linux2.l_i_reserved

	// Large inode fields, present when the inode size is > 128.
	ExtraIsize  uint16 // i_extra_isize: bytes used beyond 128
	ChecksumHi  uint16 // i_checksum_hi
	CtimeExtra  uint32 // i_ctime_extra
	MtimeExtra  uint32 // i_mtime_extra
	AtimeExtra  uint32 // i_atime_extra
	Crtime      uint32 // i_crtime: creation time
	CrtimeExtra uint32 // i_crtime_extra
	VersionHi   uint32 // i_version_hi
	Projid      uint32 // i_projid
}

// Put encodes the inode into b. len(b) is the on-disk inode size (128 or
// more); the extra fields are written up to 128+ExtraIsize, bounded by
// len(b). Bytes of b beyond are left untouched (extended attributes live
// there).
func (n *Inode) Put(b []byte) {
	_ = b[GoodOldInodeSize-1]
	le.PutUint16(b[0x00:], n.Mode)
	le.PutUint16(b[0x02:], n.Uid)
	le.PutUint32(b[0x04:], n.Size)
	le.PutUint32(b[0x08:], n.Atime)
	le.PutUint32(b[0x0C:], n.Ctime)
	le.PutUint32(b[0x10:], n.Mtime)
	le.PutUint32(b[0x14:], n.Dtime)
	le.PutUint16(b[0x18:], n.Gid)
	le.PutUint16(b[0x1A:], n.LinksCount)
	le.PutUint32(b[0x1C:], n.Blocks)
	le.PutUint32(b[0x20:], n.Flags)
	le.PutUint32(b[0x24:], n.Version)
	for i, v := range n.Block {
		le.PutUint32(b[0x28+4*i:], v)
	}
	le.PutUint32(b[0x64:], n.Generation)
	le.PutUint32(b[0x68:], n.FileACL)
	le.PutUint32(b[0x6C:], n.SizeHigh)
	le.PutUint32(b[0x70:], n.Faddr)
	le.PutUint16(b[0x74:], n.BlocksHi)
	le.PutUint16(b[0x76:], n.FileACLHigh)
	le.PutUint16(b[0x78:], n.UidHigh)
	le.PutUint16(b[0x7A:], n.GidHigh)
	le.PutUint16(b[0x7C:], n.ChecksumLo)
	le.PutUint16(b[0x7E:], n.Reserved)
	if len(b) < GoodOldInodeSize+2 {
		return
	}
	le.PutUint16(b[0x80:], n.ExtraIsize)
	end := GoodOldInodeSize + int(n.ExtraIsize)
	if end > len(b) {
		end = len(b)
	}
	put16 := func(off int, v uint16) {
		if off+2 <= end {
			le.PutUint16(b[off:], v)
		}
	}
	put32 := func(off int, v uint32) {
		if off+4 <= end {
			le.PutUint32(b[off:], v)
		}
	}
	put16(0x82, n.ChecksumHi)
	put32(0x84, n.CtimeExtra)
	put32(0x88, n.MtimeExtra)
	put32(0x8C, n.AtimeExtra)
	put32(0x90, n.Crtime)
	put32(0x94, n.CrtimeExtra)
	put32(0x98, n.VersionHi)
	put32(0x9C, n.Projid)
}

// MarshalBinary encodes the inode into 128 bytes, or 128+ExtraIsize bytes
// when ExtraIsize is set.
func (n *Inode) MarshalBinary() ([]byte, error) {
	size := GoodOldInodeSize
	if n.ExtraIsize > 0 {
		size += int(n.ExtraIsize)
	}
	b := make([]byte, size)
	n.Put(b)
	return b, nil
}

// UnmarshalBinary decodes an on-disk inode; len(b) is the inode size (at
// least 128). Extra fields are read only when i_extra_isize covers them.
func (n *Inode) UnmarshalBinary(b []byte) error {
	if len(b) < GoodOldInodeSize {
		return short("inode", GoodOldInodeSize, len(b))
	}
	*n = Inode{}
	n.Mode = le.Uint16(b[0x00:])
	n.Uid = le.Uint16(b[0x02:])
	n.Size = le.Uint32(b[0x04:])
	n.Atime = le.Uint32(b[0x08:])
	n.Ctime = le.Uint32(b[0x0C:])
	n.Mtime = le.Uint32(b[0x10:])
	n.Dtime = le.Uint32(b[0x14:])
	n.Gid = le.Uint16(b[0x18:])
	n.LinksCount = le.Uint16(b[0x1A:])
	n.Blocks = le.Uint32(b[0x1C:])
	n.Flags = le.Uint32(b[0x20:])
	n.Version = le.Uint32(b[0x24:])
	for i := range n.Block {
		n.Block[i] = le.Uint32(b[0x28+4*i:])
	}
	n.Generation = le.Uint32(b[0x64:])
	n.FileACL = le.Uint32(b[0x68:])
	n.SizeHigh = le.Uint32(b[0x6C:])
	n.Faddr = le.Uint32(b[0x70:])
	n.BlocksHi = le.Uint16(b[0x74:])
	n.FileACLHigh = le.Uint16(b[0x76:])
	n.UidHigh = le.Uint16(b[0x78:])
	n.GidHigh = le.Uint16(b[0x7A:])
	n.ChecksumLo = le.Uint16(b[0x7C:])
	n.Reserved = le.Uint16(b[0x7E:])
	if len(b) < GoodOldInodeSize+2 {
		return nil
	}
	n.ExtraIsize = le.Uint16(b[0x80:])
	end := GoodOldInodeSize + int(n.ExtraIsize)
	if end > len(b) {
		end = len(b)
	}
	get16 := func(off int) uint16 {
		if off+2 <= end {
			return le.Uint16(b[off:])
		}
		return 0
	}
	get32 := func(off int) uint32 {
		if off+4 <= end {
			return le.Uint32(b[off:])
		}
		return 0
	}
	n.ChecksumHi = get16(0x82)
	n.CtimeExtra = get32(0x84)
	n.MtimeExtra = get32(0x88)
	n.AtimeExtra = get32(0x8C)
	n.Crtime = get32(0x90)
	n.CrtimeExtra = get32(0x94)
	n.VersionHi = get32(0x98)
	n.Projid = get32(0x9C)
	return nil
}

// FileSize returns the 64-bit size (i_size | i_size_high<<32).
func (n *Inode) FileSize() uint64 { return uint64(n.Size) | uint64(n.SizeHigh)<<32 }

// SetFileSize sets i_size and i_size_high.
func (n *Inode) SetFileSize(sz uint64) {
	n.Size = uint32(sz)
	n.SizeHigh = uint32(sz >> 32)
}

// UID returns the 32-bit owner (i_uid | l_i_uid_high<<16).
func (n *Inode) UID() uint32 { return uint32(n.Uid) | uint32(n.UidHigh)<<16 }

// GID returns the 32-bit group (i_gid | l_i_gid_high<<16).
func (n *Inode) GID() uint32 { return uint32(n.Gid) | uint32(n.GidHigh)<<16 }

// SetUID sets the low and high halves of the owner.
func (n *Inode) SetUID(uid uint32) { n.Uid, n.UidHigh = uint16(uid), uint16(uid>>16) }

// SetGID sets the low and high halves of the group.
func (n *Inode) SetGID(gid uint32) { n.Gid, n.GidHigh = uint16(gid), uint16(gid>>16) }

// OldEncodeDev is the kernel's old_encode_dev: 8-bit major and minor.
func OldEncodeDev(major, minor uint32) uint32 { return major<<8 | minor }

// NewEncodeDev is the kernel's new_encode_dev: 12-bit major, 20-bit minor.
func NewEncodeDev(major, minor uint32) uint32 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// NewDecodeDev is the kernel's new_decode_dev.
func NewDecodeDev(dev uint32) (major, minor uint32) {
	return (dev & 0xfff00) >> 8, dev&0xff | (dev>>12)&0xfff00
}

// OldDecodeDev is the kernel's old_decode_dev.
func OldDecodeDev(dev uint32) (major, minor uint32) { return dev >> 8 & 0xff, dev & 0xff }

// SetDevice stores a device number in i_block as the kernel does: the old
// 16-bit encoding in i_block[0] when major and minor fit in 8 bits, else
// zero there and the new encoding in i_block[1].
func (n *Inode) SetDevice(major, minor uint32) {
	if major < 256 && minor < 256 {
		n.Block[0] = OldEncodeDev(major, minor)
		n.Block[1] = 0
	} else {
		n.Block[0] = 0
		n.Block[1] = NewEncodeDev(major, minor)
	}
}

// Device returns the device number of a character or block device inode.
func (n *Inode) Device() (major, minor uint32) {
	if n.Block[0] != 0 {
		return OldDecodeDev(n.Block[0])
	}
	return NewDecodeDev(n.Block[1])
}

// EncodeExtraTime returns the *_extra value for a time: nanoseconds << 2
// plus the two epoch bits that extend the signed 32-bit seconds.
func EncodeExtraTime(sec int64, nsec int32) uint32 {
	epoch := uint32((sec-int64(int32(sec)))>>32) & 3
	return uint32(nsec)<<2 | epoch
}

// DecodeTime returns seconds and nanoseconds from a 32-bit time and its
// *_extra field (extra is zero for 128-byte inodes).
func DecodeTime(t uint32, extra uint32) (sec int64, nsec int32) {
	sec = int64(int32(t)) + int64(extra&3)<<32
	return sec, int32(extra >> 2)
}

// DirEntry is struct ext2_dir_entry_2. On disk: inode (4), rec_len (2),
// name_len (1), file_type (1), name (padded to 4 bytes).
type DirEntry struct {
	Inode    uint32 // inode number, 0 for an unused entry
	RecLen   uint16 // bytes from this entry to the next
	NameLen  uint8  // bytes of Name used
	FileType uint8  // EXT2_FT_*, 0 without the filetype feature
	Name     string
}

// DirEntryHeaderSize is the fixed part of a directory entry.
const DirEntryHeaderSize = 8

// DirRecLen returns the minimal record length for a name of n bytes.
func DirRecLen(n int) int { return (DirEntryHeaderSize + n + 3) &^ 3 }

// Put encodes the entry at the start of b (RecLen bytes are reserved; only
// the header and name are written).
func (d *DirEntry) Put(b []byte) {
	le.PutUint32(b[0:], d.Inode)
	le.PutUint16(b[4:], d.RecLen)
	b[6] = d.NameLen
	b[7] = d.FileType
	copy(b[8:], d.Name[:d.NameLen])
}

// MarshalBinary encodes the entry into RecLen bytes (at least the minimal
// length).
func (d *DirEntry) MarshalBinary() ([]byte, error) {
	n := int(d.RecLen)
	if min := DirRecLen(int(d.NameLen)); n < min {
		n = min
	}
	if int(d.NameLen) > len(d.Name) {
		return nil, fmt.Errorf("ext3: dir entry name_len %d > name %q", d.NameLen, d.Name)
	}
	b := make([]byte, n)
	d.Put(b)
	return b, nil
}

// UnmarshalDirEntry decodes the entry at the start of b and checks that its
// rec_len and name_len fit inside b.
func UnmarshalDirEntry(b []byte) (DirEntry, error) {
	var d DirEntry
	if len(b) < DirEntryHeaderSize {
		return d, short("directory entry", DirEntryHeaderSize, len(b))
	}
	d.Inode = le.Uint32(b[0:])
	d.RecLen = le.Uint16(b[4:])
	d.NameLen = b[6]
	d.FileType = b[7]
	if int(d.RecLen) < DirEntryHeaderSize || int(d.RecLen) > len(b) || d.RecLen%4 != 0 {
		return d, fmt.Errorf("ext3: bad directory entry rec_len %d (room %d)", d.RecLen, len(b))
	}
	if DirEntryHeaderSize+int(d.NameLen) > int(d.RecLen) {
		return d, fmt.Errorf("ext3: directory entry name_len %d exceeds rec_len %d", d.NameLen, d.RecLen)
	}
	d.Name = string(b[8 : 8+int(d.NameLen)])
	return d, nil
}

// DxRootInfo is struct dx_root_info, following the fake "." and ".." entries
// in block 0 of a hash-indexed directory.
type DxRootInfo struct {
	ReservedZero   uint32
	HashVersion    uint8
	InfoLength     uint8 // 8
	IndirectLevels uint8
	UnusedFlags    uint8
}

// DxCountLimit is struct dx_countlimit, which overlays the first dx_entry.
type DxCountLimit struct {
	Limit uint16
	Count uint16
}

// DxEntry is struct dx_entry: a hash and the logical block it leads to.
type DxEntry struct {
	Hash  uint32
	Block uint32
}

// Put encodes the root info into b[:8].
func (r *DxRootInfo) Put(b []byte) {
	le.PutUint32(b[0:], r.ReservedZero)
	b[4], b[5], b[6], b[7] = r.HashVersion, r.InfoLength, r.IndirectLevels, r.UnusedFlags
}

// UnmarshalBinary decodes the root info from b (at least 8 bytes).
func (r *DxRootInfo) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return short("dx_root_info", 8, len(b))
	}
	r.ReservedZero = le.Uint32(b[0:])
	r.HashVersion, r.InfoLength, r.IndirectLevels, r.UnusedFlags = b[4], b[5], b[6], b[7]
	return nil
}

// Put encodes the count/limit into b[:4].
func (c *DxCountLimit) Put(b []byte) {
	le.PutUint16(b[0:], c.Limit)
	le.PutUint16(b[2:], c.Count)
}

// UnmarshalBinary decodes the count/limit from b (at least 4 bytes).
func (c *DxCountLimit) UnmarshalBinary(b []byte) error {
	if len(b) < 4 {
		return short("dx_countlimit", 4, len(b))
	}
	c.Limit, c.Count = le.Uint16(b[0:]), le.Uint16(b[2:])
	return nil
}

// Put encodes the entry into b[:8].
func (e *DxEntry) Put(b []byte) {
	le.PutUint32(b[0:], e.Hash)
	le.PutUint32(b[4:], e.Block)
}

// UnmarshalBinary decodes the entry from b (at least 8 bytes).
func (e *DxEntry) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return short("dx_entry", 8, len(b))
	}
	e.Hash, e.Block = le.Uint32(b[0:]), le.Uint32(b[4:])
	return nil
}

// Journal (JBD) constants, kernel-jbd.h.
const (
	JBD2_MAGIC_NUMBER            = 0xC03B3998
	JBD2_DESCRIPTOR_BLOCK        = 1
	JBD2_COMMIT_BLOCK            = 2
	JBD2_SUPERBLOCK_V1           = 3
	JBD2_SUPERBLOCK_V2           = 4
	JBD2_REVOKE_BLOCK            = 5
	JournalSuperBlockSize        = 1024
	JBD2_FEATURE_INCOMPAT_REVOKE = 0x1
)

// JournalHeader is journal_header_t (big-endian).
type JournalHeader struct {
	Magic     uint32 // h_magic, JBD2_MAGIC_NUMBER
	BlockType uint32 // h_blocktype
	Sequence  uint32 // h_sequence
}

// JournalSuperBlock is journal_superblock_t, version 2 (big-endian), at the
// start of the journal's first block.
type JournalSuperBlock struct {
	Header          JournalHeader
	BlockSize       uint32   // s_blocksize, bytes
	MaxLen          uint32   // s_maxlen, blocks in the journal
	First           uint32   // s_first, first log block
	Sequence        uint32   // s_sequence, first expected commit ID
	Start           uint32   // s_start, first log block in use (0: clean)
	Errno           int32    // s_errno
	FeatureCompat   uint32   // s_feature_compat
	FeatureIncompat uint32   // s_feature_incompat
	FeatureRoCompat uint32   // s_feature_ro_compat
	UUID            [16]byte // s_uuid
	NrUsers         uint32   // s_nr_users
	Dynsuper        uint32   // s_dynsuper
	MaxTransaction  uint32   // s_max_transaction
	MaxTransData    uint32   // s_max_trans_data
	ChecksumType    uint8    // s_checksum_type
	Padding1        [3]byte
	NumFcBlocks     uint32        // s_num_fc_blks
	Head            uint32        // s_head
	Padding2        [40]uint32    // s_padding
	Checksum        uint32        // s_checksum
	Users           [16 * 48]byte // s_users: UUIDs of filesystems sharing the journal
}

// MarshalBinary encodes the journal superblock into 1024 bytes.
func (j *JournalSuperBlock) MarshalBinary() ([]byte, error) {
	b := make([]byte, JournalSuperBlockSize)
	j.Put(b)
	return b, nil
}

// Put encodes the journal superblock into b[:1024].
func (j *JournalSuperBlock) Put(b []byte) {
	_ = b[JournalSuperBlockSize-1]
	if _, err := binary.Encode(b, be, j); err != nil {
		panic("ext3: encoding journal superblock: " + err.Error())
	}
}

// UnmarshalBinary decodes a journal superblock from b (at least 1024 bytes)
// and checks its magic and block type.
func (j *JournalSuperBlock) UnmarshalBinary(b []byte) error {
	if len(b) < JournalSuperBlockSize {
		return short("journal superblock", JournalSuperBlockSize, len(b))
	}
	if _, err := binary.Decode(b[:JournalSuperBlockSize], be, j); err != nil {
		return fmt.Errorf("decoding journal superblock: %w", err)
	}
	if j.Header.Magic != JBD2_MAGIC_NUMBER {
		return fmt.Errorf("ext3: bad journal magic %#08x", j.Header.Magic)
	}
	if j.Header.BlockType != JBD2_SUPERBLOCK_V1 && j.Header.BlockType != JBD2_SUPERBLOCK_V2 {
		return fmt.Errorf("ext3: journal block type %d is not a superblock", j.Header.BlockType)
	}
	return nil
}
