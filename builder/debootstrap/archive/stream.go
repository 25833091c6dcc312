package archive

import (
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/md5" //nolint:gosec // sarge-era Release files list only MD5.
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/xenimg/xenimg/builder/debootstrap/release"
)

// Stream is an index being decompressed in the background into one
// buffer, so that a caller can parse the start of it while the rest is
// decompressed (on another core). The decompressed size and checksum,
// when the Release file lists them, are checked by a third goroutine as
// the data arrives; Next reports the index final only once they match.
type Stream struct {
	// Path is the verified file being decompressed, relative to the
	// mirror root ("dists/bookworm/main/binary-amd64/Packages.gz").
	Path string
	// URL is where it came from.
	URL string
	// Index is the index's path without compression suffix, relative to
	// dists/CODENAME ("main/binary-amd64/Packages").
	Index string
	// SizeHint is the expected decompressed size in bytes (exact when the
	// Release file lists the plain index, else a guess).
	SizeHint int

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // the current backing array; buf[:n] is decompressed
	n        int
	eof      bool  // decompression is finished
	verified bool  // the decompressed size and sum were checked (or need no check)
	err      error // first error; final
	stop     bool  // Close was called
	last     int   // n returned by the previous Next
}

// nextChunk is how much more data Next waits for (unless the end comes
// first): parsing in steps of 1 MiB keeps both cores busy without waking
// the parser for every read.
const nextChunk = 1 << 20

// Next waits for more of the index and returns all of it decompressed so
// far, a prefix of the final data (the backing array may change between
// calls; the prefix does not). final is true when data is the whole
// index, checked against the Release file. An error is final.
func (s *Stream) Next() (data []byte, final bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil && !s.done() && s.n-s.last < nextChunk && !(s.eof && s.n > s.last) {
		s.cond.Wait()
	}
	if s.err != nil {
		return nil, true, s.err
	}
	s.last = s.n
	return s.buf[:s.n:s.n], s.done(), nil
}

// Bytes waits for the whole index.
func (s *Stream) Bytes() ([]byte, error) {
	for {
		data, final, err := s.Next()
		if err != nil || final {
			return data, err
		}
	}
}

// Close stops decompressing an index the caller no longer wants.
func (s *Stream) Close() {
	s.mu.Lock()
	s.stop = true
	if s.err == nil && !s.done() {
		s.err = errors.New("archive: stream closed")
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Stream) done() bool { return s.eof && s.verified }

func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = fmt.Errorf("decompressing %s: %w", s.URL, err)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// newStream starts decompressing raw (the verified file, compressed with
// ext) and checking it against plain, the Release file's entry for the
// decompressed index, if hasPlain.
func newStream(ctx context.Context, url, ext string, raw []byte, plain release.FileSum, hasPlain bool) (*Stream, error) {
	s := &Stream{URL: url}
	s.cond.L = &s.mu
	if ext == "" {
		// The file itself was verified against the Release file.
		s.buf, s.n, s.eof, s.verified = raw, len(raw), true, true
		s.SizeHint = len(raw)
		return s, nil
	}
	var r io.Reader
	switch ext {
	case ".gz":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		r = zr
	case ".xz":
		xr, err := xz.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		r = xr
	case ".bz2":
		r = bzip2.NewReader(bytes.NewReader(raw))
	default:
		return nil, fmt.Errorf("unknown compression %q", ext)
	}
	limit := int64(maxIndex)
	hint := int64(len(raw)) * 5
	if ext == ".gz" && len(raw) >= 18 {
		// gzip's trailer holds the size modulo 2^32 (of the last member).
		// A bogus one costs at most some growing.
		if isize := int64(binary.LittleEndian.Uint32(raw[len(raw)-4:])); isize > 0 {
			hint = min(isize, int64(len(raw))*16)
		}
	}
	if hasPlain {
		limit, hint = plain.Size, plain.Size
	}
	hint = min(hint, limit)
	s.SizeHint = int(hint)
	s.verified = !hasPlain
	// The decompressor writes into a few small slots that stay in the
	// cache; the collector copies them into the one big buffer (taking
	// its page faults) and hashes them, on the other core.
	free, full := make(chan []byte, streamSlots), make(chan []byte, streamSlots)
	for range streamSlots {
		free <- make([]byte, streamSlot)
	}
	go s.decompress(ctx, r, free, full)
	go s.collect(int(hint), limit, plain, hasPlain, free, full)
	return s, nil
}

// Slots between the decompressor and the collector.
const (
	streamSlots = 4
	streamSlot  = 256 << 10
)

// decompress reads r into slots taken from free and passes them on full,
// which it closes at the end of r or on an error.
func (s *Stream) decompress(ctx context.Context, r io.Reader, free <-chan []byte, full chan<- []byte) {
	defer close(full)
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	for {
		b := <-free
		k, err := io.ReadFull(r, b)
		if k > 0 {
			full <- b[:k]
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return
		case err != nil:
			s.fail(err)
			return
		}
		s.mu.Lock()
		stop := s.stop || s.err != nil
		s.mu.Unlock()
		if stop {
			return
		}
		if err := ctx.Err(); err != nil {
			s.fail(err)
			return
		}
	}
}

// collect appends the slots to s.buf, hashes them when the Release file
// lists the decompressed index, and publishes the progress.
func (s *Stream) collect(hint int, limit int64, plain release.FileSum, hasPlain bool, free chan<- []byte, full <-chan []byte) {
	var h hash.Hash
	algo, want := plain.Best()
	if hasPlain {
		switch algo {
		case "SHA256":
			h = sha256.New()
		case "SHA1":
			h = sha1.New() //nolint:gosec
		default:
			h = md5.New() //nolint:gosec
		}
	}
	// One byte more than expected: reading it means the index is too long.
	buf := make([]byte, 0, hint+1)
	failed := false
	for b := range full {
		if failed {
			free <- b[:cap(b)]
			continue
		}
		if int64(len(buf)+len(b)) > limit {
			if hasPlain {
				s.fail(fmt.Errorf("decompressed size exceeds %d bytes listed for %s", plain.Size, plain.Path))
			} else {
				s.fail(fmt.Errorf("decompressed size exceeds %d bytes", limit))
			}
			failed = true
			free <- b[:cap(b)]
			continue
		}
		if len(buf)+len(b) > cap(buf) {
			// The size was a guess: grow (readers keep the old array,
			// which is never written again).
			nb := make([]byte, len(buf), min(max(2*int64(cap(buf)), int64(len(buf)+len(b))), limit+1))
			copy(nb, buf)
			buf = nb
		}
		buf = append(buf, b...)
		if h != nil {
			h.Write(b)
		}
		free <- b[:cap(b)]
		s.mu.Lock()
		s.buf, s.n = buf, len(buf)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	s.mu.Lock()
	failed = failed || s.err != nil
	s.mu.Unlock()
	if failed {
		return // the decompressor failed, or the stream was closed
	}
	var err error
	if h != nil {
		if int64(len(buf)) != plain.Size {
			err = fmt.Errorf("decompressed size %d, Release lists %d for %s", len(buf), plain.Size, plain.Path)
		} else if got := hex.EncodeToString(h.Sum(nil)); got != want {
			err = fmt.Errorf("decompressed %s mismatch for %s: want %s, got %s", algo, plain.Path, want, got)
		}
	}
	if err != nil {
		s.fail(err)
		return
	}
	s.mu.Lock()
	s.eof, s.verified = true, true
	s.cond.Broadcast()
	s.mu.Unlock()
}
