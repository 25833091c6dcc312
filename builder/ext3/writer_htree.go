package ext3

import (
	"math/bits"
	"sort"
)

// Hash-indexed (htree) directories, written for directories that need more
// than one block when dir_index is on, as the kernel would have made them.
// The layout follows the kernel's "ext4 Data Structures and Algorithms",
// section "Hash Tree Directories".

// str2hashbuf is the kernel's str2hashbuf_signed: it packs up to num*4 bytes
// of msg into num words, padding with a length-derived value.
func str2hashbuf(msg []byte, num int, buf []uint32) {
	l := len(msg)
	pad := uint32(l) | uint32(l)<<8
	pad |= pad << 16
	val := pad
	if l > num*4 {
		l = num * 4
	}
	bi := 0
	for i := 0; i < l; i++ {
		val = uint32(int32(int8(msg[i]))) + val<<8
		if i%4 == 3 {
			buf[bi] = val
			bi++
			val = pad
			num--
		}
	}
	num--
	if num >= 0 {
		buf[bi] = val
		bi++
	}
	for num--; num >= 0; num-- {
		buf[bi] = pad
		bi++
	}
}

func halfMD4Transform(buf *[4]uint32, in *[8]uint32) {
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	f := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	g := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	const k2, k3 = 0o13240474631, 0o15666365641
	r := func(fn func(x, y, z uint32) uint32, a *uint32, b, c, d, x uint32, s int) {
		*a = bits.RotateLeft32(*a+fn(b, c, d)+x, s)
	}
	r(f, &a, b, c, d, in[0], 3)
	r(f, &d, a, b, c, in[1], 7)
	r(f, &c, d, a, b, in[2], 11)
	r(f, &b, c, d, a, in[3], 19)
	r(f, &a, b, c, d, in[4], 3)
	r(f, &d, a, b, c, in[5], 7)
	r(f, &c, d, a, b, in[6], 11)
	r(f, &b, c, d, a, in[7], 19)

	r(g, &a, b, c, d, in[1]+k2, 3)
	r(g, &d, a, b, c, in[3]+k2, 5)
	r(g, &c, d, a, b, in[5]+k2, 9)
	r(g, &b, c, d, a, in[7]+k2, 13)
	r(g, &a, b, c, d, in[0]+k2, 3)
	r(g, &d, a, b, c, in[2]+k2, 5)
	r(g, &c, d, a, b, in[4]+k2, 9)
	r(g, &b, c, d, a, in[6]+k2, 13)

	r(h, &a, b, c, d, in[3]+k3, 3)
	r(h, &d, a, b, c, in[7]+k3, 9)
	r(h, &c, d, a, b, in[2]+k3, 11)
	r(h, &b, c, d, a, in[6]+k3, 15)
	r(h, &a, b, c, d, in[1]+k3, 3)
	r(h, &d, a, b, c, in[5]+k3, 9)
	r(h, &c, d, a, b, in[0]+k3, 11)
	r(h, &b, c, d, a, in[4]+k3, 15)

	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}

// DirHashHalfMD4 is the directory hash of name (EXT2_HASH_HALF_MD4, signed
// char variant) with the superblock's hash seed.
func DirHashHalfMD4(name []byte, seed [4]uint32) (hash, minor uint32) {
	buf := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	if seed != ([4]uint32{}) {
		buf = seed
	}
	var in [8]uint32
	for p := name; ; {
		str2hashbuf(p, 8, in[:])
		halfMD4Transform(&buf, &in)
		if len(p) <= 32 {
			break
		}
		p = p[32:]
	}
	hash = buf[1] &^ 1
	if hash == 0x7fffffff<<1 {
		hash = (0x7fffffff - 1) << 1
	}
	return hash, buf[2]
}

// htreeBytes lays out directory n as a hash tree: block 0 the dx_root,
// then index nodes (when two levels are needed), then the leaves. It
// returns false when the directory is too big for two index levels.
func (w *Writer) htreeBytes(n *wnode, seed [4]uint32) ([]byte, bool) {
	bs := int(w.l.bs)
	type hent struct {
		wdent
		hash, minor uint32
		idx         int
	}
	es := make([]hent, len(n.dir.entries))
	for i, e := range n.dir.entries {
		h, m := DirHashHalfMD4([]byte(e.name), seed)
		es[i] = hent{e, h, m, i}
	}
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.hash != b.hash {
			return a.hash < b.hash
		}
		if a.minor != b.minor {
			return a.minor < b.minor
		}
		return a.idx < b.idx
	})
	// Leaves, packed full.
	type leaf struct {
		hash  uint32 // index key: first hash, |1 when continuing a collision
		start int
		end   int
	}
	var leaves []leaf
	used := bs
	for i, e := range es {
		rl := DirRecLen(len(e.name))
		if used+rl > bs {
			key := e.hash
			if i > 0 && es[i-1].hash == e.hash {
				key |= 1
			}
			if len(leaves) > 0 {
				leaves[len(leaves)-1].end = i
			}
			leaves = append(leaves, leaf{hash: key, start: i})
			used = 0
		}
		used += rl
	}
	if len(leaves) == 0 {
		return nil, false
	}
	leaves[len(leaves)-1].end = len(es)
	rootLimit := (bs - 32) / 8
	nodeLimit := (bs - 8) / 8
	levels := 0
	nodes := 0
	if len(leaves) > rootLimit {
		levels = 1
		nodes = (len(leaves) + nodeLimit - 1) / nodeLimit
		if nodes > rootLimit {
			return nil, false
		}
	}
	out := make([]byte, (1+nodes+len(leaves))*bs)
	ftDir := uint8(0)
	if w.l.incompat&EXT2_FEATURE_INCOMPAT_FILETYPE != 0 {
		ftDir = EXT2_FT_DIR
	}
	// dx_root: ".", ".." spanning the block, dx_root_info, entries.
	root := out[:bs]
	(&DirEntry{Inode: n.ino, RecLen: 12, NameLen: 1, FileType: ftDir, Name: "."}).Put(root)
	(&DirEntry{Inode: n.dir.parent, RecLen: uint16(bs - 12), NameLen: 2, FileType: ftDir, Name: ".."}).Put(root[12:])
	(&DxRootInfo{HashVersion: EXT2_HASH_HALF_MD4, InfoLength: 8, IndirectLevels: uint8(levels)}).Put(root[24:])
	putIndex := func(b []byte, limit int, keys []uint32, blocks []uint32) {
		(&DxCountLimit{Limit: uint16(limit), Count: uint16(len(keys))}).Put(b)
		le.PutUint32(b[4:], blocks[0])
		for i := 1; i < len(keys); i++ {
			(&DxEntry{Hash: keys[i], Block: blocks[i]}).Put(b[8*i:])
		}
	}
	firstLeaf := uint32(1 + nodes)
	if levels == 0 {
		keys := make([]uint32, len(leaves))
		blocks := make([]uint32, len(leaves))
		for i, lf := range leaves {
			keys[i], blocks[i] = lf.hash, firstLeaf+uint32(i)
		}
		putIndex(root[32:], rootLimit, keys, blocks)
	} else {
		var rkeys, rblocks []uint32
		for j := 0; j < nodes; j++ {
			lo := j * nodeLimit
			hi := min(lo+nodeLimit, len(leaves))
			node := out[(1+j)*bs : (2+j)*bs]
			le.PutUint16(node[4:], uint16(bs)) // fake empty dirent
			keys := make([]uint32, hi-lo)
			blocks := make([]uint32, hi-lo)
			for i := lo; i < hi; i++ {
				keys[i-lo], blocks[i-lo] = leaves[i].hash, firstLeaf+uint32(i)
			}
			putIndex(node[8:], nodeLimit, keys, blocks)
			rkeys = append(rkeys, leaves[lo].hash)
			rblocks = append(rblocks, uint32(1+j))
		}
		putIndex(root[32:], rootLimit, rkeys, rblocks)
	}
	for i, lf := range leaves {
		b := out[(int(firstLeaf)+i)*bs : (int(firstLeaf)+i+1)*bs]
		pos, last := 0, 0
		for _, e := range es[lf.start:lf.end] {
			rl := DirRecLen(len(e.name))
			(&DirEntry{Inode: e.ino, RecLen: uint16(rl), NameLen: uint8(len(e.name)), FileType: e.ftype, Name: e.name}).Put(b[pos:])
			last = pos
			pos += rl
		}
		le.PutUint16(b[last+4:], uint16(bs-last))
	}
	return out, true
}
