package publish

import (
	"fmt"
	"io"
	"os"

	"github.com/xenimg/xenimg/builder/ext3"
)

// span is a byte range of an image: [Off, Off+Len).
type span struct{ Off, Len int64 }

// Source is a root image and the byte ranges its filesystem uses.
type Source struct {
	Path      string
	Size      int64 // bytes of the image file
	BlockSize int   // filesystem block size, bytes
	Used      int64 // bytes in used blocks
	spans     []span
	f         *os.File
}

// OpenSource opens an ext2/ext3 image read-only and reads its block bitmaps.
// Bytes past the filesystem's last block, if the file is longer, count as
// unused.
func OpenSource(path string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening image: %w", err)
	}
	fsys, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening filesystem in %s: %w", path, err)
	}
	ext, err := fsys.UsedBlocks()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading block bitmaps of %s: %w", path, err)
	}
	s := &Source{Path: path, Size: st.Size(), BlockSize: fsys.BlockSize(), f: f}
	bs := int64(s.BlockSize)
	for _, e := range ext {
		off, n := int64(e.Start)*bs, int64(e.Count)*bs
		if off >= s.Size {
			break
		}
		n = min(n, s.Size-off)
		s.spans = append(s.spans, span{off, n})
		s.Used += n
	}
	return s, nil
}

// Close closes the image file.
func (s *Source) Close() error { return s.f.Close() }

// ReaderAt is the image file.
func (s *Source) ReaderAt() io.ReaderAt { return s.f }

// readChunk fills buf with the image bytes at off (buf may run past the end
// of the image: that part is zeros), reading only used ranges. It reports
// whether the chunk holds no used byte.
func (s *Source) readChunk(buf []byte, off int64) (empty bool, err error) {
	clear(buf)
	end := off + int64(len(buf))
	empty = true
	for _, sp := range s.spansIn(off, end) {
		a, b := max(sp.Off, off), min(sp.Off+sp.Len, end)
		if _, err := s.f.ReadAt(buf[a-off:b-off], a); err != nil {
			return false, fmt.Errorf("reading %s at byte %d: %w", s.Path, a, err)
		}
		empty = false
	}
	return empty, nil
}

// spansIn returns the used spans overlapping [off, end).
func (s *Source) spansIn(off, end int64) []span {
	lo, hi := 0, len(s.spans)
	for lo < hi { // first span ending after off
		m := (lo + hi) / 2
		if s.spans[m].Off+s.spans[m].Len <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo
	for i < len(s.spans) && s.spans[i].Off < end {
		i++
	}
	return s.spans[lo:i]
}

// WriteTo writes the image with unused blocks as zeros to w.
func (s *Source) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4<<20)
	var n int64
	for off := int64(0); off < s.Size; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), s.Size-off)]
		if _, err := s.readChunk(b, off); err != nil {
			return n, err
		}
		m, err := w.Write(b)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
