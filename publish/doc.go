// Package publish turns a template directory written by xenimg build
// (root.img, swap.img, NAME.cfg, manifest.json, recipe.toml) into release
// artifacts, and verifies them.
//
// Publish writes, into a new directory that appears atomically (a temporary
// sibling renamed at the end):
//
//   - NAME.img.zst: the root image, zstd (klauspost/compress, fixed settings).
//   - NAME.img.xz: the root image as independent xz streams, one per 16 MiB
//     chunk, compressed in parallel (ulikunitz/xz) and concatenated; xz -d
//     and xz -t read concatenated streams.
//   - NAME.tar.gz: the root tree (owners, modes, mtimes, symlinks, hard
//     links, device nodes, fifos), sorted, names "./...".
//   - NAME.cpio.gz: the same tree as a newc cpio archive, with device
//     numbers (written here: cavaliergopher/cpio stores 0,0 for rdev).
//   - NAME.disk.img: a sparse whole-disk image with an MBR (or GPT) table:
//     partition 1 holds root.img, partition 2 swap.img.
//   - manifest.json (a verbatim copy), index.json (what was published),
//     SHA256SUMS (sha256sum -c format) and, with a signing key,
//     SHA256SUMS.gpg (an armored detached OpenPGP signature).
//
// Unused blocks. The compressed images and the disk image carry only the
// blocks the filesystem's bitmaps mark in use; every other block is
// published as zeros. For images written by xenimg build (unused blocks are
// never written) the decompressed image is byte-identical to root.img. An
// image edited after the build may hold stale bytes in freed blocks: those
// are published as zeros on purpose (smaller, no leaked deleted data), so
// the published image then differs from root.img exactly there; index.json
// records the SHA256 of the published image and whether it matches the
// manifest's.
//
// Everything is deterministic: the same template gives the same bytes. The
// only time used is the manifest's epoch (tar and cpio mtimes come from the
// filesystem; the signature time is the epoch). Signatures are
// byte-identical for RSA and EdDSA keys; DSA and ECDSA signatures draw
// randomness and differ between runs, while still verifying.
//
// Verify checks a published directory: SHA256SUMS against the files, the
// signature against a keyring, and that NAME.img.zst decompresses to an
// image whose SHA256 is the one recorded, that opens as ext2/ext3 and passes
// a consistency check (Check).
//
// Not supported: the lost+found directory is left out of the tar and cpio
// archives (mke2fs makes its own); extended attributes are not carried
// (the ext3 reader does not read them); rootfs archives of images other
// than ext2/ext3.
package publish
