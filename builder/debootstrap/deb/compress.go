package deb

import (
	"compress/bzip2"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

// decompressor returns a reader of the uncompressed content of the member
// name ("data.tar.xz" and the like), chosen by its suffix.
func decompressor(r io.Reader, member string) (io.ReadCloser, error) {
	i := strings.Index(member, ".tar")
	if i < 0 {
		return nil, fmt.Errorf("%w: member %q is not a tar archive", ErrFormat, member)
	}
	switch suffix := member[i+len(".tar"):]; suffix {
	case "":
		return io.NopCloser(r), nil
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", unexpectedEOF(err))
		}
		return z, nil
	case ".xz":
		return newXZ(r)
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdCloser{z}, nil
	case ".bz2":
		return io.NopCloser(errPrefix{bzip2.NewReader(r), "bzip2"}), nil
	case ".lzma":
		z, err := lzma.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("lzma: %w", unexpectedEOF(err))
		}
		return io.NopCloser(errPrefix{z, "lzma"}), nil
	default:
		return nil, fmt.Errorf("%w: member %q: unknown compression %q", ErrFormat, member, suffix)
	}
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) {
	n, err := z.Decoder.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("zstd: %w", err)
	}
	return n, err
}

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// errPrefix names the decoder in its errors.
type errPrefix struct {
	r    io.Reader
	name string
}

func (e errPrefix) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", e.name, err)
	}
	return n, err
}
