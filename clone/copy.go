package clone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/builder/ext3"
)

// copyBuf is the largest run copied in one read and write.
const copyBuf = 1 << 20

// reflink makes dst share src's blocks (FICLONE). It returns false when
// the filesystem cannot (different filesystems, no reflink support), so
// the caller copies instead.
func reflink(dst, src *os.File) bool {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) == nil
}

// dataRanges returns the byte ranges of f that hold data (SEEK_DATA and
// SEEK_HOLE); a filesystem without them reports one range of the whole
// file.
func dataRanges(f *os.File, size int64) [][2]int64 {
	var out [][2]int64
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) { // no data after off
				return out
			}
			return [][2]int64{{0, size}}
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return [][2]int64{{0, size}}
		}
		out = append(out, [2]int64{d, min(h, size)})
		off = h
	}
	return out
}

// copyUsed copies the used blocks of the template (ext3 block extents of
// blockSize bytes) from src to dst. With zeroed set (a new sparse file)
// holes of src and all-zero blocks are skipped; otherwise (an LV holding
// old data) every used byte is written. Returns the bytes written.
func copyUsed(dst io.WriterAt, src io.ReaderAt, used []ext3.Extent, blockSize int64, data [][2]int64, zeroed bool) (int64, error) {
	buf := make([]byte, copyBuf)
	zero := make([]byte, blockSize)
	var written int64
	di := 0
	// Between two files, the kernel copies without a trip through user
	// space (copy_file_range), or shares blocks where the filesystem can.
	sf, _ := src.(*os.File)
	df, _ := dst.(*os.File)
	kernel := zeroed && sf != nil && df != nil
	write := func(off, end int64) error {
		for kernel && off < end {
			in, out := off, off
			n, err := unix.CopyFileRange(int(sf.Fd()), &in, int(df.Fd()), &out, int(end-off), 0)
			if err != nil || n == 0 {
				kernel = false // not supported here: copy through user space
				break
			}
			off += int64(n)
			written += int64(n)
		}
		for off < end {
			n := min(end-off, int64(len(buf)))
			b := buf[:n]
			if _, err := src.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF)) {
				return fmt.Errorf("reading the template at %d: %w", off, err)
			}
			if zeroed {
				// Write runs of non-zero blocks only.
				for i := int64(0); i < n; {
					for i < n && bytes.Equal(b[i:min(i+blockSize, n)], zero[:min(blockSize, n-i)]) {
						i += blockSize
					}
					j := i
					for j < n && !bytes.Equal(b[j:min(j+blockSize, n)], zero[:min(blockSize, n-j)]) {
						j += blockSize
					}
					if j > i {
						j = min(j, n)
						if _, err := dst.WriteAt(b[i:j], off+i); err != nil {
							return fmt.Errorf("writing at %d: %w", off+i, err)
						}
						written += j - i
					}
					i = j
				}
			} else {
				if _, err := dst.WriteAt(b, off); err != nil {
					return fmt.Errorf("writing at %d: %w", off, err)
				}
				written += n
			}
			off += n
		}
		return nil
	}
	for _, e := range used {
		start, end := int64(e.Start)*blockSize, int64(e.Start+e.Count)*blockSize
		if !zeroed {
			if err := write(start, end); err != nil {
				return written, err
			}
			continue
		}
		// Intersect with the data ranges of the template file.
		for di < len(data) && data[di][1] <= start {
			di++
		}
		for k := di; k < len(data) && data[k][0] < end; k++ {
			if err := write(max(start, data[k][0]), min(end, data[k][1])); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}
