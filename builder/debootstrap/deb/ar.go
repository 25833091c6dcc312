package deb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The ar format as dpkg writes it (deb(5), ar(5)): an 8-byte magic, then
// for each member a 60-byte header and the data, padded to an even length
// with "\n".
const (
	arMagic      = "!<arch>\n"
	arHeaderSize = 60
	arMaxMember  = 1 << 40 // sanity bound on a member's size, bytes
)

type arHeader struct {
	name  string
	mtime int64 // seconds
	size  int64 // bytes
}

type arReader struct {
	r   *bufio.Reader
	n   int64 // bytes left in the current member
	pad bool  // current member is followed by one padding byte
	hdr [arHeaderSize]byte
}

func newArReader(r *bufio.Reader) (*arReader, error) {
	var m [len(arMagic)]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: not an ar archive (too short)", ErrFormat)
		}
		return nil, err
	}
	if string(m[:]) != arMagic {
		return nil, fmt.Errorf("%w: not an ar archive (magic %q)", ErrFormat, m[:])
	}
	return &arReader{r: r}, nil
}

// next skips the rest of the current member and reads the next header.
// It returns io.EOF at a clean end of the archive.
func (a *arReader) next() (*arHeader, error) {
	skip := a.n
	if a.pad {
		skip++
	}
	if skip > 0 {
		if _, err := a.r.Discard(int(min(skip, 1<<62))); err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	a.n, a.pad = 0, false
	if _, err := io.ReadFull(a.r, a.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: truncated member header: %w", ErrFormat, unexpectedEOF(err))
	}
	h := a.hdr[:]
	if string(h[58:60]) != "`\n" {
		return nil, fmt.Errorf("%w: bad member header %q", ErrFormat, h)
	}
	name := strings.TrimRight(string(h[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar
	if name == "" {
		return nil, fmt.Errorf("%w: member without a name", ErrFormat)
	}
	size, err := arNumber(h[48:58], 10)
	if err != nil || size > arMaxMember {
		return nil, fmt.Errorf("%w: member %q: bad size %q", ErrFormat, name, bytes.TrimRight(h[48:58], " "))
	}
	mtime, err := arNumber(h[16:28], 10)
	if err != nil {
		return nil, fmt.Errorf("%w: member %q: bad time %q", ErrFormat, name, bytes.TrimRight(h[16:28], " "))
	}
	a.n, a.pad = size, size%2 == 1
	return &arHeader{name: name, mtime: mtime, size: size}, nil
}

func arNumber(b []byte, base int) (int64, error) {
	s := strings.TrimRight(string(b), " ")
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, base, 64)
}

func (a *arReader) remaining() int64 { return a.n }

// Read reads from the current member.
func (a *arReader) Read(p []byte) (int, error) {
	if a.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.n {
		p = p[:a.n]
	}
	n, err := a.r.Read(p)
	a.n -= int64(n)
	if err == io.EOF && a.n > 0 {
		err = fmt.Errorf("%w: member truncated (%d bytes missing)", ErrFormat, a.n)
	}
	return n, err
}

// ReadByte lets decompressors that want an io.ByteReader (compress/flate,
// compress/bzip2) read without their own buffering.
func (a *arReader) ReadByte() (byte, error) {
	if a.n <= 0 {
		return 0, io.EOF
	}
	b, err := a.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, fmt.Errorf("%w: member truncated (%d bytes missing)", ErrFormat, a.n)
		}
		return 0, err
	}
	a.n--
	return b, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
