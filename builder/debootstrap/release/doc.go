// Package release reads and verifies a Debian archive's Release file.
//
// It parses the single deb822 paragraph of a Release file (Origin, Label,
// Suite, Codename, Version, Date, Valid-Until, Architectures, Components,
// Acquire-By-Hash and the MD5Sum, SHA1 and SHA256 file lists), and checks
// its OpenPGP signature in either of the two forms an archive publishes:
// InRelease (clearsigned) or Release plus a detached Release.gpg. Old
// archives (sarge and before squeeze) only have the second form, sign with
// DSA-1024 keys and SHA-1, and list only MD5 sums; this package accepts
// them. Keys that have expired since are refused unless the caller allows
// them, and then only for signatures made while the key was valid.
//
// The package never reads the clock: the caller passes the time to check
// against in VerifyOptions.Now.
//
// Not supported: SHA512 lists are parsed as unknown fields and not used for
// verification; v3 (PGP 2.x) signatures; third-party revocations;
// by-hash and Packages-diff (pdiff) indexes.
//
// The Debian archive keyrings are embedded (see keyrings/README) and chosen
// per codename by DefaultKeyring.
package release
