// Package ext3 writes and edits ext2 and ext3 filesystem images in pure Go.
//
// The Writer (writer.go) is shaped like archive/tar.Writer: WriteHeader
// creates an entry (directory, regular file, symlink, hard link, device,
// fifo, socket), Write streams a regular file's bytes straight to the image,
// Close lays down the metadata (directories, inode tables, bitmaps, group
// descriptors, superblock and its backups, the resize inode, the journal and
// lost+found). The output is deterministic: the same entries and Options give
// the same bytes. Unused blocks are never written, so an image file stays
// sparse; all-zero file blocks become holes, as mke2fs -d makes them. File
// data streams to the image as it arrives (memory grows with the number of
// entries, not with their size). Missing parent directories are created
// implicitly (0755, root, Options.Epoch). AddTar copies an archive/tar
// stream, AddDir a host directory. Before writing, Usage and Needed say how
// big an image a tree needs; a Writer that runs out of blocks or inodes
// returns an error wrapping ErrTooSmall that names the MiB needed so far.
//
// The layout matches mke2fs for the same options (dumpe2fs -h agrees on
// counts, journal size and free blocks): block groups with bitmaps and inode
// table at their start, sparse superblock backups, reserved descriptor
// blocks behind the resize inode, the journal (inode 8) and lost+found
// (inode 11) as mke2fs makes them. File data follows, each file contiguous
// with its indirect blocks before the data they map, then directories.
//
// The reader and editor (reader*.go, edit*.go) open an existing image to
// list, read and change files in place.
//
// On-disk structures live in format.go, named as in e2fsprogs' ext2_fs.h and
// kernel-jbd.h.
//
// Supported: revision 1 filesystems with 1 KiB or 4 KiB blocks, 128- or
// 256-byte inodes, block maps (direct, single, double and triple indirect
// blocks), the features has_journal (an internal journal in inode 8, created
// empty), ext_attr (flag only), resize_inode, dir_index (the writer
// hash-indexes every directory that needs more than one block, with
// half_md4 and up to two index levels, unless Options.LinearDirs),
// filetype, sparse_super and large_file. Times before 1901 or after 2038
// need 256-byte inodes (extra epoch bits); 128-byte inodes clamp them.
//
// Not supported: extents, 64bit, flex_bg, huge_file, uninit_bg/gdt_csum,
// metadata_csum, inline data, bigalloc, meta_bg, quota, encryption, external
// journals, extended attribute content (ACLs, SELinux labels, capabilities),
// journal replay (an image whose journal needs recovery is refused by the
// editor).
package ext3
