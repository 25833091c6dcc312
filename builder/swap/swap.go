// Package swap writes a Linux swap area (mkswap's format, version 1).
//
// The layout is the kernel's union swap_header (include/linux/swap.h): the
// first page holds 1024 boot bytes left zero, then version, last_page,
// nr_badpages, a 16-byte UUID and a volume label (at most 15 bytes and a
// NUL), and the page ends with the magic "SWAPSPACE2". Only that page is written; the rest of the
// area is left as a hole, so the output is sparse. That suits an image file
// handed to Xen as a block device (file: or phy:), but Linux refuses to
// swapon a swap *file* that has holes: write zeros over it first if it is
// used as a swap file on a host.
//
// Not supported: the old version 0 format ("SWAP-SPACE"), bad-block lists,
// big-endian headers (the fields are written little-endian, as on x86 and
// arm64 guests) and page sizes other than a power of two from 4 KiB to
// 64 KiB.
package swap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Layout of the first page (union swap_header, info member).
const (
	bootBits    = 1024          // char bootbits[1024]
	offVersion  = bootBits      // __u32 version
	offLastPage = bootBits + 4  // __u32 last_page
	offBadPages = bootBits + 8  // __u32 nr_badpages
	offUUID     = bootBits + 12 // unsigned char sws_uuid[16]
	offVolume   = bootBits + 28 // unsigned char sws_volume[16]
	LabelMax    = 15            // label bytes: sws_volume[16] keeps a NUL, as mkswap does
	magic       = "SWAPSPACE2"  // end of the first page
	version     = 1             // the only version Linux 2.6+ reads
	MinPages    = 10            // mkswap's MIN_SWAP_PAGES
	DefaultPage = 4096          // PAGE_SIZE on x86 and most arm64 kernels
	maxLastPage = 1<<32 - 1     // last_page is a __u32
)

// ErrTooSmall reports an area below MinPages pages.
var ErrTooSmall = errors.New("swap: area too small")

// Options are the header fields chosen by the caller.
type Options struct {
	UUID     [16]byte // sws_uuid, in RFC 4122 byte order as blkid prints it
	Label    string   // sws_volume, at most LabelMax (15) bytes
	PageSize int      // bytes per page; 0 means 4096
}

// File is what Write writes to: an *os.File fits.
type File interface {
	io.WriterAt
	Truncate(size int64) error
}

// Header returns the first page of a swap area of size bytes. Bytes after
// the last whole page are not part of the area (mkswap ignores them too).
func Header(size int64, o Options) ([]byte, error) {
	ps := o.PageSize
	if ps == 0 {
		ps = DefaultPage
	}
	if ps < 4096 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("swap: page size %d is not a power of two from 4096 to 65536", ps)
	}
	if len(o.Label) > LabelMax {
		return nil, fmt.Errorf("swap: label %q is %d bytes, more than %d", o.Label, len(o.Label), LabelMax)
	}
	if strings.IndexByte(o.Label, 0) >= 0 {
		return nil, fmt.Errorf("swap: label %q contains a NUL byte", o.Label)
	}
	if size < 0 {
		return nil, fmt.Errorf("swap: negative size %d", size)
	}
	pages := size / int64(ps)
	if pages < MinPages {
		return nil, fmt.Errorf("%w: %d bytes is %d pages of %d bytes, need at least %d pages (%d bytes)",
			ErrTooSmall, size, pages, ps, MinPages, MinPages*ps)
	}
	if pages-1 > maxLastPage {
		return nil, fmt.Errorf("swap: %d bytes is %d pages, more than a 32-bit last_page holds", size, pages)
	}
	h := make([]byte, ps)
	le := binary.LittleEndian
	le.PutUint32(h[offVersion:], version)
	le.PutUint32(h[offLastPage:], uint32(pages-1))
	le.PutUint32(h[offBadPages:], 0)
	copy(h[offUUID:offUUID+16], o.UUID[:])
	copy(h[offVolume:offVolume+16], o.Label)
	copy(h[ps-len(magic):], magic)
	return h, nil
}

// Write makes dst a swap area of exactly size bytes: it truncates dst to
// size and writes the header page. Everything after the header is left as
// it was (zero for a new or truncated file). For a region of a larger
// device (an LV written through its PV), write Header's page at the
// region's start instead.
func Write(dst File, size int64, o Options) error {
	h, err := Header(size, o)
	if err != nil {
		return err
	}
	if err := dst.Truncate(size); err != nil {
		return fmt.Errorf("swap: setting size to %d: %w", size, err)
	}
	if _, err := dst.WriteAt(h, 0); err != nil {
		return fmt.Errorf("swap: writing header: %w", err)
	}
	return nil
}
