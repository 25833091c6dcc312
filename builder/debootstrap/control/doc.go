// Package control reads and writes Debian control data: deb822 paragraphs
// as found in Packages, Sources, Release, DEBIAN/control and dpkg's status
// file, and the binary-package fields (relations, versions, checksums) the
// rest of a debootstrap needs.
//
// Parsing is zero-copy over the input: field values are substrings of one
// string holding the whole file, so a 45 MB Packages file parses with a few
// allocations per paragraph and no reflection.
//
// Syntax accepted (deb822(5), deb-control(5)):
//   - a field is "Name: value"; continuation lines start with a space or a
//     tab and are kept verbatim (leading whitespace included), joined with
//     "\n"; trailing whitespace of the value is dropped; a value whose first
//     line is empty starts with "\n" (as in Release's checksum lists);
//   - paragraphs are separated by one or more blank (or whitespace-only)
//     lines;
//   - lines starting with '#' in column 0 are comments and are skipped, as
//     deb822(5) allows. dpkg itself rejects them in Packages and status
//     files; accepting them costs nothing and lets DEBIAN/control and
//     hand-written test fixtures parse with the same code;
//   - "\r\n" line ends are accepted and normalised to "\n".
//
// Not supported: OpenPGP clear-signed input (strip the armour after
// verifying it, see package release), field-specific folding rules beyond
// keeping the lines, and source-package-only fields (Build-Depends are
// parsed as relations but not interpreted).
package control
