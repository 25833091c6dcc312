package xz

// The LZMA decoder proper, as LZMA2 chunks drive it. The range decoder's
// state (range, code, input position) and the window position live in
// local variables of run, the hot loop, and are passed in registers to
// the bit-tree functions (rcLiteral, rcMatchedLiteral, rcTree, rcReverse),
// which decode each bit with conditional moves rather than branches; the
// single bits that steer the loop use rcBit, which the compiler inlines
// (go build -gcflags=-m). Chunk input sits in a power-of-two buffer read
// through a mask, so it needs no bounds checks
// (-gcflags=-d=ssa/check_bce).

const (
	numStates   = 12
	rcTop       = 1 << 24
	probBits    = 11
	probInit    = 1 << (probBits - 1)
	moveBits    = 5
	litSize     = 0x300
	litStride   = 0x400 // literal coders padded to a power of two: indexes need no bounds check
	minMatchLen = 2
	maxInPad    = 64 // bytes after a chunk's input: one symbol reads fewer than this
)

// inBuf holds a chunk's compressed bytes (at most 64 KiB) and zero bytes
// after them. Its size is a power of two: indexes masked with inMask need
// no bounds check, and a damaged chunk that reads past its end reads
// zeros until run notices.
type inBuf [1 << 17]byte

const inMask = len(inBuf{}) - 1

// lenProbs are the probabilities of one length decoder.
type lenProbs struct {
	choice  uint16
	choice2 uint16
	low     [16][8]uint16
	mid     [16][8]uint16
	high    [256]uint16
}

// probs are all adaptive probabilities of an LZMA decoder. Arrays indexed
// by state are 16 wide so that masking the index proves it in range.
type probs struct {
	isMatch     [16 << 4]uint16
	isRep       [16]uint16
	isRepG0     [16]uint16
	isRepG1     [16]uint16
	isRepG2     [16]uint16
	isRep0Long  [16 << 4]uint16
	distSlot    [4][64]uint16
	distSpecial [128]uint16
	distAlign   [16]uint16
	matchLen    lenProbs
	repLen      lenProbs
	literal     [litStride << 4]uint16
}

// lzma is the state an LZMA2 stream carries from chunk to chunk, plus the
// range decoder of the current chunk.
type lzma struct {
	lc, lp, pb uint
	state      uint32
	rep        [4]uint32
	pending    int // bytes of a match still to copy when the output limit stopped it
	p          probs

	in    *inBuf // the current chunk's compressed bytes, then zero bytes
	inEnd int    // compressed size of the chunk
	ip    int
	rng   uint32
	code  uint32
}

func fill(s []uint16) {
	for i := range s {
		s[i] = probInit
	}
}

// reset puts the decoder in its initial state, keeping lc, lp, pb.
func (d *lzma) reset() {
	d.state = 0
	d.rep = [4]uint32{}
	d.pending = 0
	p := &d.p
	fill(p.isMatch[:])
	fill(p.isRep[:])
	fill(p.isRepG0[:])
	fill(p.isRepG1[:])
	fill(p.isRepG2[:])
	fill(p.isRep0Long[:])
	for i := range p.distSlot {
		fill(p.distSlot[i][:])
	}
	fill(p.distSpecial[:])
	fill(p.distAlign[:])
	for _, l := range []*lenProbs{&p.matchLen, &p.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			fill(l.low[i][:])
			fill(l.mid[i][:])
		}
		fill(l.high[:])
	}
	fill(p.literal[:litStride<<(d.lc+d.lp)])
}

// setProps sets lc, lp and pb from an LZMA2 properties byte.
func (d *lzma) setProps(b byte) error {
	if b >= 9*5*5 {
		return corrupt("LZMA properties byte %#x out of range", b)
	}
	d.lc = uint(b % 9)
	b /= 9
	d.lp = uint(b % 5)
	d.pb = uint(b / 5)
	if d.lc+d.lp > 4 {
		return corrupt("LZMA2 needs lc+lp <= 4, got lc=%d lp=%d", d.lc, d.lp)
	}
	return nil
}

// startChunk sets the range decoder on a chunk's compressed bytes, held
// in d.in[:n] with maxInPad zero bytes after them.
func (d *lzma) startChunk(n int) error {
	if n < 5 {
		return corrupt("LZMA chunk of %d bytes", n)
	}
	in := d.in
	if in[0] != 0 {
		return corrupt("range decoder: first byte %#x, want 0", in[0])
	}
	d.code = uint32(in[1])<<24 | uint32(in[2])<<16 | uint32(in[3])<<8 | uint32(in[4])
	d.rng = 0xFFFFFFFF
	d.ip = 5
	d.inEnd = n
	if d.code == d.rng {
		return corrupt("range decoder: bad initial code")
	}
	return nil
}

// finishChunk checks that the chunk's input was used exactly and the
// range decoder ended in its final state.
func (d *lzma) finishChunk() error {
	if d.pending > 0 {
		return corrupt("match runs past the end of an LZMA2 chunk")
	}
	if d.rng < rcTop && d.ip < d.inEnd {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.in[d.ip&inMask])
		d.ip++
	}
	if d.ip != d.inEnd || d.code != 0 {
		return corrupt("LZMA chunk: %d of %d input bytes used, code %#x", d.ip, d.inEnd, d.code)
	}
	return nil
}

// rcBit decodes one bit with probability *p.
func rcBit(p *uint16, rng, code uint32, in *inBuf, ip int) (uint32, uint32, int, uint32) {
	if rng < rcTop {
		rng <<= 8
		code = code<<8 | uint32(in[ip&inMask])
		ip++
	}
	prob := uint32(*p)
	bound := (rng >> probBits) * prob
	if code < bound {
		*p = uint16(prob + (1<<probBits-prob)>>moveBits)
		return bound, code, ip, 0
	}
	*p = uint16(prob - prob>>moveBits)
	return rng - bound, code - bound, ip, 1
}

// rcLiteral decodes a literal byte with the bit tree lit. The bit
// decoding is rcBit written for conditional moves instead of branches:
// literal bits are what a branch predictor guesses worst.
func rcLiteral(lit *[litStride]uint16, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	prob := uint32(lit[1])
	for sym < 0x100 {
		nrng, ncode, nip := rng<<8, code<<8|uint32(in[ip&inMask]), ip+1
		if rng < rcTop {
			rng, code, ip = nrng, ncode, nip
		}
		bound := (rng >> probBits) * prob
		// Load both children now, so the next bit does not wait for a
		// load that depends on this one.
		c0 := uint32(lit[(sym<<1)&0x3FF])
		c1 := uint32(lit[(sym<<1|1)&0x3FF])
		p0 := prob + (1<<probBits-prob)>>moveBits
		p1 := prob - prob>>moveBits
		r1, k1 := rng-bound, code-bound
		b := uint32(0)
		rng = bound
		if code >= bound {
			b, rng, code, p0, c0 = 1, r1, k1, p1, c1
		}
		lit[sym&0x3FF] = uint16(p0)
		sym = sym<<1 | b
		prob = c0
	}
	return sym & 0xFF, rng, code, ip
}

// rcMatchedLiteral decodes a literal byte after a match, with the byte at
// distance rep0 steering the probabilities while it agrees.
func rcMatchedLiteral(lit *[litStride]uint16, match, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	offset := uint32(0x100)
	for sym < 0x100 {
		match <<= 1
		mbit := match & offset
		nrng, ncode, nip := rng<<8, code<<8|uint32(in[ip&inMask]), ip+1
		if rng < rcTop {
			rng, code, ip = nrng, ncode, nip
		}
		p := &lit[(offset+mbit+sym)&0x3FF]
		prob := uint32(*p)
		bound := (rng >> probBits) * prob
		p0 := prob + (1<<probBits-prob)>>moveBits
		p1 := prob - prob>>moveBits
		r1, c1 := rng-bound, code-bound
		b := uint32(0)
		rng = bound
		if code >= bound {
			b, rng, code, p0 = 1, r1, c1, p1
		}
		*p = uint16(p0)
		sym = sym<<1 | b
		offset &= mbit ^ (b - 1)
	}
	return sym & 0xFF, rng, code, ip
}

// rcTree decodes a bits-bit symbol with the bit tree probs (1-based),
// with conditional moves like rcLiteral.
func rcTree(probs []uint16, bits uint, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	if len(probs) < 2 || len(probs)&(len(probs)-1) != 0 {
		return 0, rng, code, ip
	}
	mask := uint32(len(probs) - 1) // children past the last level wrap: loaded, unused
	sym := uint32(1)
	prob := uint32(probs[1])
	for range bits {
		nrng, ncode, nip := rng<<8, code<<8|uint32(in[ip&inMask]), ip+1
		if rng < rcTop {
			rng, code, ip = nrng, ncode, nip
		}
		bound := (rng >> probBits) * prob
		c0 := uint32(probs[(sym<<1)&mask])
		c1 := uint32(probs[(sym<<1|1)&mask])
		p0 := prob + (1<<probBits-prob)>>moveBits
		p1 := prob - prob>>moveBits
		r1, k1 := rng-bound, code-bound
		b := uint32(0)
		rng = bound
		if code >= bound {
			b, rng, code, p0, c0 = 1, r1, k1, p1, c1
		}
		probs[sym&mask] = uint16(p0)
		sym = sym<<1 | b
		prob = c0
	}
	return sym - 1<<bits, rng, code, ip
}

// rcReverse decodes a bits-bit symbol, least significant bit first, with
// the bit tree probs[off+1:] (conditional moves like rcLiteral).
func rcReverse(probs []uint16, off int, bits uint, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	sym := 1
	var v uint32
	for i := range bits {
		j := off + sym
		if j < 0 || j >= len(probs) {
			break
		}
		nrng, ncode, nip := rng<<8, code<<8|uint32(in[ip&inMask]), ip+1
		if rng < rcTop {
			rng, code, ip = nrng, ncode, nip
		}
		p := &probs[j]
		prob := uint32(*p)
		bound := (rng >> probBits) * prob
		p0 := prob + (1<<probBits-prob)>>moveBits
		p1 := prob - prob>>moveBits
		r1, c1 := rng-bound, code-bound
		b := uint32(0)
		rng = bound
		if code >= bound {
			b, rng, code, p0 = 1, r1, c1, p1
		}
		*p = uint16(p0)
		sym = sym<<1 | int(b)
		v |= b << i
	}
	return v, rng, code, ip
}

// rcLen decodes a match length minus minMatchLen.
func rcLen(l *lenProbs, posState uint32, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	var b, n uint32
	posState &= 15
	rng, code, ip, b = rcBit(&l.choice, rng, code, in, ip)
	if b == 0 {
		n, rng, code, ip = rcTree(l.low[posState][:], 3, rng, code, in, ip)
		return n, rng, code, ip
	}
	rng, code, ip, b = rcBit(&l.choice2, rng, code, in, ip)
	if b == 0 {
		n, rng, code, ip = rcTree(l.mid[posState][:], 3, rng, code, in, ip)
		return 8 + n, rng, code, ip
	}
	n, rng, code, ip = rcTree(l.high[:], 8, rng, code, in, ip)
	return 16 + n, rng, code, ip
}

// rcDist decodes a match distance (minus one) for a match of length
// n+minMatchLen.
func rcDist(p *probs, n uint32, rng, code uint32, in *inBuf, ip int) (uint32, uint32, uint32, int) {
	var slot uint32
	slot, rng, code, ip = rcTree(p.distSlot[min(n, 3)][:], 6, rng, code, in, ip)
	if slot < 4 {
		return slot, rng, code, ip
	}
	direct := slot>>1 - 1
	dist := (2 | slot&1) << direct
	if slot < 14 {
		// Reverse bit tree over distSpecial[dist-slot-1+1 ...].
		var v uint32
		v, rng, code, ip = rcReverse(p.distSpecial[:], int(dist)-int(slot)-1, uint(direct), rng, code, in, ip)
		dist += v
		return dist, rng, code, ip
	}
	// Direct bits, then four reverse bits with the align probabilities.
	var d uint32
	for range direct - 4 {
		if rng < rcTop {
			rng <<= 8
			code = code<<8 | uint32(in[ip&inMask])
			ip++
		}
		rng >>= 1
		code -= rng
		mask := 0 - code>>31
		code += rng & mask
		d = d<<1 + mask + 1
	}
	dist += d << 4
	var v uint32
	v, rng, code, ip = rcReverse(p.distAlign[:], 0, 4, rng, code, in, ip)
	return dist + v, rng, code, ip
}

// run decodes into w until w.pos reaches limit (limit <= len(w.buf)). A
// match cut by the limit is finished by the next call.
func (d *lzma) run(w *window, limit int) error {
	buf := w.buf
	pos := w.pos
	if limit > len(buf) || pos > limit {
		return corrupt("internal: bad output limit")
	}
	if d.pending > 0 {
		n := min(d.pending, limit-pos)
		pos = copyMatch(buf, pos, int(d.rep[0]), n)
		d.pending -= n
	}
	rng, code, ip, in := d.rng, d.code, d.ip, d.in
	inEnd := d.inEnd
	state := d.state
	rep0, rep1, rep2, rep3 := d.rep[0], d.rep[1], d.rep[2], d.rep[3]
	p := &d.p
	pbMask := uint32(1)<<d.pb - 1
	lpMask := uint32(1)<<d.lp - 1
	lc := d.lc
	full := w.full
	var err error
	var b uint32
	out := buf[:limit] // writes below pos < len(out) need no bounds check
	for pos < len(out) {
		if ip > inEnd {
			err = corrupt("LZMA chunk reads past its %d input bytes", inEnd)
			break
		}
		posState := uint32(pos) & pbMask
		rng, code, ip, b = rcBit(&p.isMatch[(state<<4|posState)&255], rng, code, in, ip)
		if b == 0 {
			// Literal.
			var prev uint32
			if pos > 0 {
				prev = uint32(buf[pos-1])
			} else if full {
				prev = uint32(buf[len(buf)-1])
			}
			ls := ((uint32(pos)&lpMask)<<lc + prev>>(8-lc)) & 15
			lit := (*[litStride]uint16)(p.literal[ls*litStride:])
			var sym uint32
			if state < 7 {
				sym, rng, code, ip = rcLiteral(lit, rng, code, in, ip)
			} else {
				src := pos - int(rep0) - 1
				if src < 0 {
					src += len(buf)
				}
				if src < 0 || src >= len(buf) {
					err = corrupt("match distance %d beyond the data", rep0+1)
					break
				}
				sym, rng, code, ip = rcMatchedLiteral(lit, uint32(buf[src]), rng, code, in, ip)
			}
			out[pos] = byte(sym)
			pos++
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var n uint32 // match length minus minMatchLen
		rng, code, ip, b = rcBit(&p.isRep[state&15], rng, code, in, ip)
		if b == 0 {
			// Simple match.
			rep3, rep2, rep1 = rep2, rep1, rep0
			n, rng, code, ip = rcLen(&p.matchLen, posState, rng, code, in, ip)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			rep0, rng, code, ip = rcDist(p, n, rng, code, in, ip)
			if rep0 == 0xFFFFFFFF {
				err = corrupt("end marker in an LZMA2 chunk")
				break
			}
		} else {
			rng, code, ip, b = rcBit(&p.isRepG0[state&15], rng, code, in, ip)
			if b == 0 {
				rng, code, ip, b = rcBit(&p.isRep0Long[(state<<4|posState)&255], rng, code, in, ip)
				if b == 0 {
					// Short rep: one byte at distance rep0.
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					src := pos - int(rep0) - 1
					if src < 0 {
						if !full {
							err = corrupt("match distance %d beyond the data", rep0+1)
							break
						}
						src += len(buf)
						if src < 0 {
							err = corrupt("match distance %d beyond the window", rep0+1)
							break
						}
					}
					out[pos] = buf[src]
					pos++
					continue
				}
			} else {
				var dist uint32
				rng, code, ip, b = rcBit(&p.isRepG1[state&15], rng, code, in, ip)
				if b == 0 {
					dist = rep1
				} else {
					rng, code, ip, b = rcBit(&p.isRepG2[state&15], rng, code, in, ip)
					if b == 0 {
						dist = rep2
					} else {
						dist = rep3
						rep3 = rep2
					}
					rep2 = rep1
				}
				rep1 = rep0
				rep0 = dist
			}
			n, rng, code, ip = rcLen(&p.repLen, posState, rng, code, in, ip)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}
		// Copy the match.
		if int(rep0) >= pos && (!full || int(rep0) >= len(buf)) {
			err = corrupt("match distance %d beyond the data", uint64(rep0)+1)
			break
		}
		total := int(n) + minMatchLen
		m := min(total, limit-pos)
		pos = copyMatch(buf, pos, int(rep0), m)
		if m < total {
			d.pending = total - m
		}
	}
	d.rng, d.code, d.ip = rng, code, ip
	d.state = state
	d.rep = [4]uint32{rep0, rep1, rep2, rep3}
	w.pos = pos
	if err == nil && ip > inEnd {
		err = corrupt("LZMA chunk reads past its %d input bytes", inEnd)
	}
	return err
}

// copyMatch copies n bytes from distance dist+1 back to buf[pos:], the
// source wrapping around the end of buf, and returns the new position.
// The caller checked the distance and that pos+n <= len(buf).
func copyMatch(buf []byte, pos, dist, n int) int {
	src := pos - dist - 1
	if src < 0 {
		src += len(buf)
	}
	end := pos + n
	if src >= pos || src < 0 {
		// The source wraps: copy up to the end of buf first.
		k := copy(buf[pos:end], buf[src:])
		pos += k
		src = 0
	}
	if pos >= end {
		return end
	}
	if pos-src >= end-pos {
		copy(buf[pos:end], buf[src:])
		return end
	}
	// Overlapping: the source repeats with period pos-src.
	for pos < end {
		k := copy(buf[pos:end], buf[src:pos])
		pos += k
	}
	return end
}
