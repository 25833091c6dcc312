// Package tree is the in-memory root file system that stages hand to each
// other: the unpacker fills it from .debs, the builder renders templates into
// it, and the ext3 writer turns it into an image.
//
// A Tree keeps what tar headers say about each entry: its type (directory,
// regular file, symbolic link, character or block device, FIFO, socket),
// permission bits (including setuid, setgid and sticky), numeric owner,
// modification time in seconds, size, link target and device numbers. Hard
// links are names that share one *Node.
//
// File contents are not held in memory, apart from small ones (at most
// Options.InlineMax bytes): they are appended to one spool file, unlinked as
// soon as it is created, and nodes keep an offset and a length into it. A
// content may also reference a region of a host file (a cached .deb, say),
// which is then read when the content is opened.
//
// Path names are slash-separated and taken relative to the tree's root:
// "/etc/hosts", "etc/hosts" and "./etc/hosts" are the same name. Lookups
// resolve symbolic links as a chroot would: an absolute target starts again
// at the tree's root, ".." never climbs above it, and more than 40 links in
// one lookup is an error (ErrLoop).
//
// A Tree is not safe for concurrent modification. Store and StoreBytes are
// the exception: they only append to the spool, and may be called from many
// goroutines while one goroutine edits the tree.
//
// Not supported: extended attributes, ACLs, sub-second times, access and
// change times (only the modification time is kept), sparse file holes
// (a sparse file is stored with its zeros).
package tree
