package deb

import (
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
)

// newXZ returns an xz decoder. See xz_test.go for the benchmark that chose it.
func newXZ(r io.Reader) (io.ReadCloser, error) {
	z, err := xz.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", unexpectedEOF(err))
	}
	return io.NopCloser(errPrefix{z, "xz"}), nil
}
