package xz

import "sync"

// window is the LZMA2 dictionary: a ring of bytes that starts small and
// grows up to the stream's dictionary size, so a small member never costs
// a full-size dictionary. Positions are counted from the last dictionary
// reset; every length is a multiple of 16 so that wrapping keeps the
// position bits LZMA uses (pb, lp <= 4).
type window struct {
	buf  []byte // len(buf) is the current ring size
	pos  int    // next byte to write
	full bool   // the ring has wrapped: all of buf is history
	max  int    // dictionary size, rounded up to a multiple of 16
}

const minWindow = 64 << 10

// bufPool keeps ring buffers between readers: a build decodes hundreds of
// members, a few at a time.
var bufPool sync.Pool // of *[]byte

func (w *window) init(dictSize uint32) {
	w.max = int((uint64(dictSize) + 15) &^ 15)
	w.pos = 0
	w.full = false
	if w.buf == nil {
		if bp, ok := bufPool.Get().(*[]byte); ok {
			w.buf = *bp
		}
	}
	n := min(w.max, max(minWindow, cap(w.buf)))
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	w.buf = w.buf[:n]
}

// reset empties the dictionary (an LZMA2 dictionary reset).
func (w *window) reset() {
	w.pos = 0
	w.full = false
}

// room makes space for more output: when pos is at the end of the ring it
// grows the ring or wraps. The caller has consumed everything before pos.
func (w *window) room() {
	if w.pos < len(w.buf) {
		return
	}
	if !w.full && len(w.buf) < w.max {
		n := min(w.max, 2*len(w.buf))
		if cap(w.buf) >= n {
			w.buf = w.buf[:n]
			return
		}
		nb := make([]byte, n)
		copy(nb, w.buf)
		w.buf = nb
		return
	}
	w.pos = 0
	w.full = true
}

// release hands the ring buffer back to the pool.
func (w *window) release() {
	if w.buf != nil {
		b := w.buf[:0]
		bufPool.Put(&b)
		w.buf = nil
	}
}
