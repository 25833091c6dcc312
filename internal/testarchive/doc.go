// Package testarchive generates Debian archives for tests: .debs, Packages
// indexes, Release files and their OpenPGP signatures, in two formats.
//
// Sarge is Debian 3.1's format, the one debootstrap's scripts/sarge meets
// on archive.debian.org: Release + Release.gpg (no InRelease) with MD5Sum
// only, signed with SHA-1 by a 1024-bit DSA key that expired in 2006;
// Packages.gz; .debs made of debian-binary, control.tar.gz, data.tar.gz.
// Modern is today's: InRelease + Release + Release.gpg with MD5Sum and
// SHA256, Packages.xz and .gz, control.tar.xz + data.tar.xz (zstd on
// request), Multi-Arch and versioned Provides where packages set them.
//
// Output is deterministic: the same Archive gives the same bytes, including
// signatures (DSA nonces are derived from the key and the digest).
// SargeUniverse is a ready sarge i386 package set named after debootstrap's
// sarge script.
//
// The keys are test keys committed in testdata/ (see testdata/README); they
// protect nothing. Not supported: source packages, Contents, Translation,
// by-hash, udebs, bzip2.
package testarchive
