// Package archive opens one suite of a Debian archive (a mirror URL plus a
// codename) and loads its verified Packages indexes.
//
// Open fetches dists/CODENAME/InRelease, or Release and Release.gpg when
// the archive has no InRelease (sarge and other old suites), verifies the
// signature with package release, and checks that the requested
// architecture and components exist. Packages then fetches an index in
// the best compression the Release file lists (gzip, then xz, then bzip2,
// then plain: gzip decodes ten times faster than xz in pure Go), checks its size and checksum against the Release file,
// decompresses it and checks the decompressed size and sum too when the
// Release file lists the plain Packages.
//
// PackagesStreams gives the same indexes as Streams: each is decompressed
// in the background into one buffer (the decompressor on one core; copying
// into the buffer and the checksum on another) and handed out as a growing
// prefix, so that a caller can scan it while the rest is decompressed.
//
// Architecture: all packages: modern Debian lists them in every
// binary-ARCH index and says so with "No-Support-for-Architecture-all:
// Packages"; an archive that lists a binary-all index without that field
// gets the binary-all index appended to the binary-ARCH one.
//
// Not supported: by-hash downloads, pdiff (Packages.diff), Translation,
// Contents and source indexes, flat repositories (no dists/).
package archive
