package deb

import (
	"io"

	"github.com/xenimg/xenimg/internal/xz"
)

// newXZ returns an xz decoder: internal/xz. BenchmarkXZ (xz_test.go) chose
// it: on bookworm's libc6, perl-base and coreutils data.tar.xz members
// (39.5 MB out) it used 0.32 s of CPU against 0.49 s for
// github.com/therootcompany/xz and 0.68 s for github.com/ulikunitz/xz,
// with identical output (xz(1) itself: about 0.35 s). It verifies the
// stream's CRC32/CRC64/SHA-256 check, the block and index sizes, and
// bounds the dictionary to 64 MiB. Its errors start with "xz: ";
// truncated input gives one wrapping io.ErrUnexpectedEOF.
func newXZ(r io.Reader) (io.ReadCloser, error) {
	z, err := xz.NewReader(r)
	if err != nil {
		return nil, err
	}
	return z, nil
}
