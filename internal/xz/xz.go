// Package xz decodes the .xz file format (xz file format 1.x) with its
// LZMA2 filter, as Debian packages use it for their data.tar.xz and
// control.tar.xz members.
//
// Supported: one or more streams with stream padding between them, any
// number of blocks, the checks none, CRC32, CRC64 and SHA-256 (all
// verified), block and index sizes verified, every LZMA2 chunk type.
// Not supported, and reported as ErrUnsupported: filters other than LZMA2
// (BCJ, delta; Debian does not use them), check types other than the four
// above, dictionaries over MaxDict. The .lzma (LZMA alone) format is not
// read here.
//
// Reader decodes one block at a time into a ring buffer no bigger than the
// stream's dictionary size; ring buffers are pooled between readers.
package xz

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"sync"
)

// MaxDict is the largest dictionary size Reader accepts (64 MiB, xz -9
// uses 64 MiB).
const MaxDict = 64 << 20

var (
	// ErrFormat: the input is not an xz stream.
	ErrFormat = errors.New("xz: not an xz stream")
	// ErrCorrupt: the input is damaged.
	ErrCorrupt = errors.New("xz: corrupt data")
	// ErrCheck: the decoded data does not match the stored check.
	ErrCheck = errors.New("xz: check mismatch")
	// ErrUnsupported: a valid feature this package does not implement.
	ErrUnsupported = errors.New("xz: unsupported")
)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// truncated is the error for input that ends early.
func truncated(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("xz: reading %s: %w", what, err)
}

var (
	headerMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0}
	footerMagic = []byte{'Y', 'Z'}
	crc64Table  = crc64.MakeTable(crc64.ECMA)
)

const (
	checkNone   = 0
	checkCRC32  = 1
	checkCRC64  = 4
	checkSHA256 = 10
)

// checkSizes are the sizes of the 16 check types (xz spec 3.1.1.2).
var checkSizes = [16]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}

type phase int

const (
	phaseStream phase = iota // at a stream header
	phaseBlock               // at a block header or the index
	phaseChunk               // inside a block's LZMA2 data
	phaseEnd                 // all streams read
)

type record struct{ unpadded, uncompressed uint64 }

// Reader decodes an xz file. Its errors start with "xz: "; input that
// ends early gives an error wrapping io.ErrUnexpectedEOF.
type Reader struct {
	r      *bufio.Reader
	nIn    int64 // bytes read from r
	phase  phase
	err    error
	rpos   int // next byte of w.buf to hand out
	w      window
	dec    *lzma // from decPool
	ownR   bool  // r came from readerPool
	scrach [1024]byte

	// Stream state.
	flags   [2]byte
	check   int
	hash    hash.Hash
	records []record
	streams int

	// Block state.
	blockStart int64 // nIn at the block header
	headerSize int64
	compSize   int64 // -1: not stated
	uncompSize int64 // -1: not stated
	blockOut   int64 // bytes decoded in this block
	needDict   bool  // the next chunk must reset the dictionary
	needProps  bool  // the next LZMA chunk must set properties
	chunkLeft  int   // uncompressed bytes left in the current chunk
	chunkLZMA  bool  // the current chunk is LZMA (else uncompressed)
}

// NewReader reads the first stream header from r and returns a Reader of
// the decompressed bytes of all streams in r.
func NewReader(r io.Reader) (*Reader, error) {
	z := &Reader{}
	if br, ok := r.(*bufio.Reader); ok {
		z.r = br
	} else {
		br, _ := readerPool.Get().(*bufio.Reader)
		if br == nil {
			br = bufio.NewReaderSize(r, 64<<10)
		} else {
			br.Reset(r)
		}
		z.r, z.ownR = br, true
	}
	var hdr [12]byte
	n, err := io.ReadFull(z.r, hdr[:])
	z.nIn += int64(n)
	switch {
	case !bytes.HasPrefix(headerMagic, hdr[:min(n, 6)]):
		err = ErrFormat
	case err != nil:
		err = truncated("stream header", err)
	default:
		err = z.startStream(hdr[:])
	}
	if err != nil {
		z.release()
		return nil, err
	}
	z.dec, _ = decPool.Get().(*lzma)
	if z.dec == nil {
		z.dec = &lzma{in: new(inBuf)}
	}
	return z, nil
}

func (z *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(z.r, b)
	z.nIn += int64(n)
	return err
}

func (z *Reader) readByte() (byte, error) {
	c, err := z.r.ReadByte()
	if err == nil {
		z.nIn++
	}
	return c, err
}

// startStream checks a stream header whose magic bytes were checked.
func (z *Reader) startStream(hdr []byte) error {
	if crc32.ChecksumIEEE(hdr[6:8]) != binary.LittleEndian.Uint32(hdr[8:]) {
		return corrupt("stream header CRC32 mismatch")
	}
	if hdr[6] != 0 || hdr[7] > 0x0F {
		return unsupported("stream flags %#x %#x", hdr[6], hdr[7])
	}
	z.flags = [2]byte{hdr[6], hdr[7]}
	z.check = int(hdr[7])
	switch z.check {
	case checkNone:
		z.hash = nil
	case checkCRC32:
		z.hash = crc32.NewIEEE()
	case checkCRC64:
		z.hash = crc64.New(crc64Table)
	case checkSHA256:
		z.hash = sha256.New()
	default:
		return unsupported("check type %d", z.check)
	}
	z.records = z.records[:0]
	z.phase = phaseBlock
	return nil
}

// Read implements io.Reader.
func (z *Reader) Read(p []byte) (int, error) {
	for {
		if z.rpos < z.w.pos {
			n := copy(p, z.w.buf[z.rpos:z.w.pos])
			z.rpos += n
			return n, nil
		}
		if z.err != nil {
			return 0, z.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := z.step(); err != nil {
			z.err = err
			z.release()
		}
	}
}

var (
	decPool    sync.Pool // of *lzma
	readerPool sync.Pool // of *bufio.Reader
)

// release hands the buffers back to their pools: the reader is done.
func (z *Reader) release() {
	z.w.release()
	z.rpos, z.w.pos = 0, 0
	if z.dec != nil {
		decPool.Put(z.dec)
		z.dec = nil
	}
	if z.ownR {
		z.r.Reset(nil)
		readerPool.Put(z.r)
		z.ownR = false
	}
	z.r = nil
}

// Close releases the reader's buffers; it does not close the underlying
// reader.
func (z *Reader) Close() error {
	z.release()
	if z.err == nil {
		z.err = errors.New("xz: read after Close")
	}
	return nil
}

// step advances the decoder: it decodes more output into the window or
// reads the next structure of the file.
func (z *Reader) step() error {
	switch z.phase {
	case phaseStream:
		return z.nextStream()
	case phaseBlock:
		c, err := z.readByte()
		if err != nil {
			return truncated("block header", err)
		}
		if c == 0 {
			return z.readIndex()
		}
		return z.readBlockHeader(c)
	case phaseChunk:
		if z.chunkLeft == 0 {
			return z.nextChunk()
		}
		return z.decodeChunk()
	default:
		return io.EOF
	}
}

// nextStream skips stream padding and reads the next stream header, or
// ends the file.
func (z *Reader) nextStream() error {
	var b [12]byte
	for {
		n, err := io.ReadFull(z.r, b[:4])
		z.nIn += int64(n)
		if err == io.EOF {
			z.phase = phaseEnd
			return io.EOF
		}
		if err != nil {
			return truncated("stream padding", err)
		}
		if b == [12]byte{} {
			continue
		}
		break
	}
	n, err := io.ReadFull(z.r, b[4:])
	z.nIn += int64(n)
	if !bytes.HasPrefix(headerMagic, b[:min(4+n, 6)]) {
		return corrupt("garbage after stream %d", z.streams)
	}
	if err != nil {
		return truncated("stream header", err)
	}
	return z.startStream(b[:])
}

// readVLI reads a variable-length integer (xz spec 1.2) from b.
func readVLI(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		c := b[i]
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, corrupt("non-minimal integer encoding")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, corrupt("integer too long")
}

// readVLIFrom reads a variable-length integer from the input.
func (z *Reader) readVLIFrom(what string) (uint64, error) {
	var b [9]byte
	for i := range b {
		c, err := z.readByte()
		if err != nil {
			return 0, truncated(what, err)
		}
		b[i] = c
		if c&0x80 == 0 {
			v, _, err := readVLI(b[:i+1])
			return v, err
		}
	}
	return 0, corrupt("%s: integer too long", what)
}

// readBlockHeader reads a block header whose first byte is c.
func (z *Reader) readBlockHeader(c byte) error {
	size := (int(c) + 1) * 4
	h := z.scrach[:size]
	h[0] = c
	z.blockStart = z.nIn - 1
	if err := z.readFull(h[1:]); err != nil {
		return truncated("block header", err)
	}
	if crc32.ChecksumIEEE(h[:size-4]) != binary.LittleEndian.Uint32(h[size-4:]) {
		return corrupt("block header CRC32 mismatch")
	}
	flags := h[1]
	if flags&0x3C != 0 {
		return unsupported("block flags %#x", flags)
	}
	rest := h[2 : size-4]
	z.compSize, z.uncompSize = -1, -1
	if flags&0x40 != 0 {
		v, n, err := readVLI(rest)
		if err != nil {
			return err
		}
		if v == 0 || v > 1<<62 {
			return corrupt("block compressed size %d", v)
		}
		z.compSize = int64(v)
		rest = rest[n:]
	}
	if flags&0x80 != 0 {
		v, n, err := readVLI(rest)
		if err != nil {
			return err
		}
		if v > 1<<62 {
			return corrupt("block uncompressed size %d", v)
		}
		z.uncompSize = int64(v)
		rest = rest[n:]
	}
	nf := int(flags&3) + 1
	var dictSize uint32
	for i := range nf {
		id, n, err := readVLI(rest)
		if err != nil {
			return err
		}
		rest = rest[n:]
		psize, n, err := readVLI(rest)
		if err != nil {
			return err
		}
		rest = rest[n:]
		if psize > uint64(len(rest)) {
			return corrupt("filter properties run past the block header")
		}
		props := rest[:psize]
		rest = rest[psize:]
		if id != 0x21 {
			return unsupported("filter %#x (only LZMA2 is supported)", id)
		}
		if i != nf-1 || psize != 1 {
			return corrupt("LZMA2 filter not last or with %d property bytes", psize)
		}
		bits := props[0]
		switch {
		case bits > 40:
			return corrupt("LZMA2 dictionary size byte %d", bits)
		case bits == 40:
			dictSize = 0xFFFFFFFF
		default:
			dictSize = (2 | uint32(bits)&1) << (bits/2 + 11)
		}
	}
	for _, b := range rest {
		if b != 0 {
			return corrupt("block header padding not zero")
		}
	}
	if dictSize > MaxDict {
		return unsupported("dictionary of %d bytes (over %d)", dictSize, MaxDict)
	}
	z.headerSize = int64(size)
	z.blockOut = 0
	z.w.init(dictSize)
	z.rpos = 0
	z.needDict, z.needProps = true, true
	z.chunkLeft = 0
	if z.hash != nil {
		z.hash.Reset()
	}
	z.phase = phaseChunk
	return nil
}

// nextChunk reads an LZMA2 chunk header, or ends the block.
func (z *Reader) nextChunk() error {
	c, err := z.readByte()
	if err != nil {
		return truncated("LZMA2 chunk", err)
	}
	if c == 0 {
		return z.endBlock()
	}
	if c >= 0xE0 || c == 1 {
		z.needProps = true
		z.needDict = false
		z.w.reset()
		z.rpos = 0
	} else if z.needDict {
		return corrupt("LZMA2 chunk %#x without a dictionary reset", c)
	}
	var b [5]byte
	if c < 0x80 {
		if c > 2 {
			return corrupt("LZMA2 control byte %#x", c)
		}
		if err := z.readFull(b[:2]); err != nil {
			return truncated("LZMA2 chunk", err)
		}
		z.chunkLeft = int(binary.BigEndian.Uint16(b[:])) + 1
		z.chunkLZMA = false
		return nil
	}
	if err := z.readFull(b[:4]); err != nil {
		return truncated("LZMA2 chunk", err)
	}
	z.chunkLeft = int(c&0x1F)<<16 + int(binary.BigEndian.Uint16(b[:2])) + 1
	n := int(binary.BigEndian.Uint16(b[2:4])) + 1
	d := z.dec
	if c >= 0xC0 {
		p, err := z.readByte()
		if err != nil {
			return truncated("LZMA2 chunk", err)
		}
		if err := d.setProps(p); err != nil {
			return err
		}
		z.needProps = false
	} else if z.needProps {
		return corrupt("LZMA2 chunk %#x without properties", c)
	}
	if c >= 0xA0 {
		d.reset()
	}
	if err := z.readFull(d.in[:n]); err != nil {
		return truncated("LZMA2 chunk", err)
	}
	clear(d.in[n : n+maxInPad])
	z.chunkLZMA = true
	return d.startChunk(n)
}

// decodeChunk decodes the next part of the current chunk into the window.
func (z *Reader) decodeChunk() error {
	w := &z.w
	w.room()
	start := w.pos
	z.rpos = start
	limit := min(len(w.buf), start+z.chunkLeft)
	if z.chunkLZMA {
		if err := z.dec.run(w, limit); err != nil {
			return err
		}
	} else {
		if err := z.readFull(w.buf[start:limit]); err != nil {
			return truncated("LZMA2 chunk", err)
		}
		w.pos = limit
	}
	n := w.pos - start
	z.chunkLeft -= n
	z.blockOut += int64(n)
	if z.uncompSize >= 0 && z.blockOut > z.uncompSize {
		return corrupt("block larger than its stated %d bytes", z.uncompSize)
	}
	if z.hash != nil {
		z.hash.Write(w.buf[start:w.pos])
	}
	if z.chunkLeft == 0 && z.chunkLZMA {
		return z.dec.finishChunk()
	}
	return nil
}

// endBlock checks the block's sizes, padding and check.
func (z *Reader) endBlock() error {
	comp := z.nIn - z.blockStart - z.headerSize
	if z.compSize >= 0 && comp != z.compSize {
		return corrupt("block of %d compressed bytes, header says %d", comp, z.compSize)
	}
	if z.uncompSize >= 0 && z.blockOut != z.uncompSize {
		return corrupt("block of %d bytes, header says %d", z.blockOut, z.uncompSize)
	}
	var pad [4]byte
	if k := (4 - comp%4) % 4; k > 0 {
		if err := z.readFull(pad[:k]); err != nil {
			return truncated("block padding", err)
		}
		if pad != [4]byte{} {
			return corrupt("block padding not zero")
		}
	}
	cs := checkSizes[z.check]
	sum := z.scrach[:cs]
	if err := z.readFull(sum); err != nil {
		return truncated("block check", err)
	}
	if z.hash != nil {
		var got [64]byte
		g := z.hash.Sum(got[:0])
		if z.check != checkSHA256 {
			// CRC32 and CRC64 are stored little-endian.
			for i, j := 0, len(g)-1; i < j; i, j = i+1, j-1 {
				g[i], g[j] = g[j], g[i]
			}
		}
		if !bytes.Equal(g, sum) {
			return fmt.Errorf("%w: block %d", ErrCheck, len(z.records))
		}
	}
	z.records = append(z.records, record{uint64(z.headerSize + comp + int64(cs)), uint64(z.blockOut)})
	z.phase = phaseBlock
	return nil
}

// readIndex reads the index (its indicator byte already read) and the
// stream footer, checking both against the blocks decoded.
func (z *Reader) readIndex() error {
	start := z.nIn - 1
	crc := crc32.NewIEEE()
	crc.Write([]byte{0})
	var vb [9]byte
	vli := func(what string) (uint64, error) {
		for i := range vb {
			c, err := z.readByte()
			if err != nil {
				return 0, truncated(what, err)
			}
			vb[i] = c
			if c&0x80 == 0 {
				crc.Write(vb[:i+1])
				v, _, err := readVLI(vb[:i+1])
				return v, err
			}
		}
		return 0, corrupt("%s: integer too long", what)
	}
	n, err := vli("index")
	if err != nil {
		return err
	}
	if n != uint64(len(z.records)) {
		return corrupt("index lists %d blocks, stream has %d", n, len(z.records))
	}
	for _, rec := range z.records {
		u, err := vli("index")
		if err != nil {
			return err
		}
		v, err := vli("index")
		if err != nil {
			return err
		}
		if u != rec.unpadded || v != rec.uncompressed {
			return corrupt("index record (%d, %d) does not match block (%d, %d)", u, v, rec.unpadded, rec.uncompressed)
		}
	}
	var pad [4]byte
	if k := (4 - (z.nIn-start)%4) % 4; k > 0 {
		if err := z.readFull(pad[:k]); err != nil {
			return truncated("index", err)
		}
		if pad != [4]byte{} {
			return corrupt("index padding not zero")
		}
		crc.Write(pad[:k])
	}
	var sum [4]byte
	if err := z.readFull(sum[:]); err != nil {
		return truncated("index", err)
	}
	if crc.Sum32() != binary.LittleEndian.Uint32(sum[:]) {
		return corrupt("index CRC32 mismatch")
	}
	indexSize := z.nIn - start
	var f [12]byte
	if err := z.readFull(f[:]); err != nil {
		return truncated("stream footer", err)
	}
	if !bytes.Equal(f[10:], footerMagic) {
		return corrupt("stream footer magic")
	}
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return corrupt("stream footer CRC32 mismatch")
	}
	if back := (int64(binary.LittleEndian.Uint32(f[4:8])) + 1) * 4; back != indexSize {
		return corrupt("stream footer: index of %d bytes, footer says %d", indexSize, back)
	}
	if f[8] != z.flags[0] || f[9] != z.flags[1] {
		return corrupt("stream footer flags differ from the header's")
	}
	z.streams++
	z.phase = phaseStream
	return nil
}
