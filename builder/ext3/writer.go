package ext3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strings"
	"time"
)

// Target is where a Writer puts the image: an *os.File does.
type Target interface {
	io.WriterAt
	Truncate(size int64) error
}

// Header describes one entry, like archive/tar.Header.
//
// Mode carries the Unix type in io/fs terms: 0 for a regular file,
// fs.ModeDir, fs.ModeSymlink, fs.ModeDevice (block), fs.ModeDevice|
// fs.ModeCharDevice, fs.ModeNamedPipe, fs.ModeSocket; plus the permission
// bits and fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky. An entry with
// Hardlink set is a hard link and its Mode is ignored.
type Header struct {
	Name       string      // slash-separated path from the root; "" or "." is the root itself
	Mode       fs.FileMode // type and permission bits
	Uid, Gid   uint32      // owner and group (32 bits)
	Size       int64       // bytes of a regular file's content, written with Write
	ModTime    time.Time   // zero: Options.Epoch
	AccessTime time.Time   // zero: ModTime
	ChangeTime time.Time   // zero: ModTime
	Linkname   string      // symlink target
	Hardlink   string      // path of an earlier entry this one is a hard link to
	Devmajor   uint32      // device major number
	Devminor   uint32      // device minor number
}

// Errors of the Writer.
var (
	ErrWriteTooLong    = errors.New("ext3: write too long")
	ErrWriteAfterClose = errors.New("ext3: write after close")
	ErrEntryExists     = errors.New("ext3: entry already exists")
	ErrBadName         = errors.New("ext3: invalid entry name")
)

// EXT2_LINK_MAX is the largest link count of an inode.
const EXT2_LINK_MAX = 32000

// Writer writes an ext2/ext3 image entry by entry. Parent directories that
// were not written before their entries are created implicitly (mode 0755,
// root-owned, Options.Epoch times); a later header for the same directory
// sets its attributes. Entries keep the order in which they were written in
// their directory. A Writer keeps a sticky error: after the first error,
// every call returns it.
type Writer struct {
	dst Target
	o   Options
	l   *layout
	err error

	bitmap    []byte   // block bitmap, bit (b - firstData)
	next      uint32   // allocation cursor
	used      uint64   // data blocks allocated
	nodes     []*wnode // index ino-1
	paths     map[string]uint32
	nextIno   uint32
	usage     Usage
	largeFile bool

	cur      *wfile // regular file being written
	blockBuf []byte // partial block of cur
	zero     []byte // a zero block
	run      []byte // contiguous data waiting to be written
	runStart uint32 // first block of run
	closed   bool
}

type wtime struct {
	sec  int64
	nsec int32
}

func mkTime(t time.Time) wtime { return wtime{t.Unix(), int32(t.Nanosecond())} }

type wnode struct {
	ino     uint32
	mode    uint16
	uid     uint32
	gid     uint32
	size    uint64
	atime   wtime
	mtime   wtime
	ctime   wtime
	links   uint16
	block   [NBlocks]uint32
	nblocks uint64 // fs blocks mapped (data + indirect)
	flags   uint32 // i_flags
	dir     *wdir
	link    string // symlink target
}

type wdir struct {
	parent  uint32
	entries []wdent
	names   map[string]int // name -> index in entries
}

type wdent struct {
	name  string
	ino   uint32
	ftype uint8
}

// wfile maps the blocks of the node being filled.
type wfile struct {
	n       *wnode
	name    string
	remain  int64  // bytes still expected
	logical uint64 // next logical block
	holes   bool   // zero blocks become holes (regular files); else allocated, not written
	inds    map[uint64]*indBlk
	order   []*indBlk
}

type indBlk struct {
	phys uint32
	ptrs []uint32
}

// NewWriter starts an image in dst: it truncates dst to zero and then to
// o.Size, so every block the Writer does not write reads as zeros.
func NewWriter(dst Target, o Options) (*Writer, error) {
	c, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := newLayout(&c)
	if err != nil {
		return nil, err
	}
	w := &Writer{dst: dst, o: c, l: l, paths: map[string]uint32{}, nextIno: GoodOldFirstIno + 1}
	w.bitmap = make([]byte, divCeil(uint64(l.groups)*uint64(l.bpg), 8))
	for g := uint32(0); g < l.groups; g++ {
		s := l.groupStart(g)
		for b := s; b < l.dataStart(g); b++ {
			w.mark(b)
		}
	}
	w.nodes = make([]*wnode, GoodOldFirstIno)
	w.zero = make([]byte, l.bs)
	w.blockBuf = make([]byte, 0, l.bs)
	w.run = make([]byte, 0, 1<<20)
	w.next = l.firstData
	if err := dst.Truncate(0); err != nil {
		return nil, fmt.Errorf("truncating image: %w", err)
	}
	if err := dst.Truncate(o.Size); err != nil {
		return nil, fmt.Errorf("sizing image to %d bytes: %w", o.Size, err)
	}
	epoch := mkTime(c.Epoch)
	root := &wnode{ino: RootInode, mode: S_IFDIR | 0755, atime: epoch, mtime: epoch, ctime: epoch, links: 2,
		dir: &wdir{parent: RootInode, names: map[string]int{}}}
	w.nodes[RootInode-1] = root
	w.paths[""] = RootInode
	lf := &wnode{ino: LostFoundInode, mode: S_IFDIR | 0700, atime: epoch, mtime: epoch, ctime: epoch, links: 2,
		dir: &wdir{parent: RootInode, names: map[string]int{}}}
	w.nodes[LostFoundInode-1] = lf
	root.links++
	w.addEntry(root, "lost+found", lf)
	w.paths["lost+found"] = LostFoundInode
	if l.compat&EXT2_FEATURE_COMPAT_RESIZE_INODE != 0 {
		// As mke2fs, also when no descriptor blocks are reserved.
		if err := w.makeResizeInode(); err != nil {
			return nil, err
		}
	}
	if l.journalBlocks > 0 {
		if err := w.makeJournal(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *Writer) mark(b uint32) {
	i := b - w.l.firstData
	w.bitmap[i/8] |= 1 << (i % 8)
}

func (w *Writer) tooSmall(what string) error {
	u := w.usage
	if w.cur != nil && w.cur.remain > 0 {
		var extra Usage
		extra.Add(&Header{Name: "x", Size: w.cur.remain})
		u.Blocks1K += extra.Blocks1K
		u.Blocks4K += extra.Blocks4K
	}
	need, err := Needed(u, w.o)
	if err != nil {
		return fmt.Errorf("%w: out of %s at %d MiB", ErrTooSmall, what, w.o.Size>>20)
	}
	return fmt.Errorf("%w: out of %s in a %d MiB image; the entries so far need at least %d MiB", ErrTooSmall, what, w.o.Size>>20, need>>20)
}

// alloc returns the next free block.
func (w *Writer) alloc() (uint32, error) {
	l := w.l
	for {
		if w.next >= l.blocks {
			return 0, w.tooSmall("blocks")
		}
		g := (w.next - l.firstData) / l.bpg
		if ds := l.dataStart(g); w.next < ds {
			w.next = ds
			continue
		}
		b := w.next
		w.next++
		w.mark(b)
		w.used++
		return b, nil
	}
}

// flushRun writes the pending contiguous data.
func (w *Writer) flushRun() error {
	if len(w.run) == 0 {
		return nil
	}
	off := int64(w.runStart) * int64(w.l.bs)
	if _, err := w.dst.WriteAt(w.run, off); err != nil {
		return fmt.Errorf("writing %d bytes at offset %d: %w", len(w.run), off, err)
	}
	w.run = w.run[:0]
	return nil
}

// queue adds one block of data at physical block b to the pending run.
func (w *Writer) queue(b uint32, data []byte) error {
	bs := int(w.l.bs)
	if len(w.run) > 0 && (b != w.runStart+uint32(len(w.run)/bs) || len(w.run)+bs > cap(w.run)) {
		if err := w.flushRun(); err != nil {
			return err
		}
	}
	if len(w.run) == 0 {
		w.runStart = b
	}
	w.run = append(w.run, data...)
	if len(data) < bs {
		w.run = append(w.run, w.zero[:bs-len(data)]...)
	}
	return nil
}

func (w *Writer) newFile(n *wnode, name string, size int64, holes bool) *wfile {
	return &wfile{n: n, name: name, remain: size, holes: holes, inds: map[uint64]*indBlk{}}
}

// ind returns the indirect block identified by key, allocating it and
// storing its number in *slot when new.
func (w *Writer) ind(f *wfile, key uint64, slot *uint32) (*indBlk, error) {
	if b := f.inds[key]; b != nil {
		return b, nil
	}
	p, err := w.alloc()
	if err != nil {
		return nil, err
	}
	*slot = p
	b := &indBlk{phys: p, ptrs: make([]uint32, w.l.apb)}
	f.inds[key] = b
	f.order = append(f.order, b)
	f.n.nblocks++
	return b, nil
}

const (
	kInd = iota << 56
	kDind
	kDindInd
	kTind
	kTindDind
	kTindInd
)

// slot returns where the physical number of logical block lb is stored,
// allocating indirect blocks on the way.
func (w *Writer) slot(f *wfile, lb uint64) (*uint32, error) {
	n := f.n
	apb := uint64(w.l.apb)
	if lb < NDirBlocks {
		return &n.block[lb], nil
	}
	off := lb - NDirBlocks
	if off < apb {
		b, err := w.ind(f, kInd, &n.block[IndBlock])
		if err != nil {
			return nil, err
		}
		return &b.ptrs[off], nil
	}
	off -= apb
	if off < apb*apb {
		d, err := w.ind(f, kDind, &n.block[DindBlock])
		if err != nil {
			return nil, err
		}
		i, err := w.ind(f, kDindInd|off/apb, &d.ptrs[off/apb])
		if err != nil {
			return nil, err
		}
		return &i.ptrs[off%apb], nil
	}
	off -= apb * apb
	if off < apb*apb*apb {
		t, err := w.ind(f, kTind, &n.block[TindBlock])
		if err != nil {
			return nil, err
		}
		d, err := w.ind(f, kTindDind|off/(apb*apb), &t.ptrs[off/(apb*apb)])
		if err != nil {
			return nil, err
		}
		i, err := w.ind(f, kTindInd|off/apb, &d.ptrs[(off/apb)%apb])
		if err != nil {
			return nil, err
		}
		return &i.ptrs[off%apb], nil
	}
	return nil, fmt.Errorf("%s: block %d beyond triple indirect range", f.name, lb)
}

// putBlock maps the next logical block of f with data (len <= block size).
func (w *Writer) putBlock(f *wfile, data []byte) error {
	lb := f.logical
	f.logical++
	isZero := bytes.Equal(data, w.zero[:len(data)])
	if isZero && f.holes {
		return nil
	}
	s, err := w.slot(f, lb)
	if err != nil {
		return err
	}
	b, err := w.alloc()
	if err != nil {
		return err
	}
	*s = b
	f.n.nblocks++
	if isZero {
		return nil // allocated (journal), left to the sparse zeros
	}
	return w.queue(b, data)
}

// finishFile writes f's indirect blocks. The data run stays pending: the
// next file's blocks usually continue it.
func (w *Writer) finishFile(f *wfile) error {
	if len(f.order) == 0 {
		return nil
	}
	buf := make([]byte, w.l.bs)
	for _, b := range f.order {
		for i, p := range b.ptrs {
			le.PutUint32(buf[4*i:], p)
		}
		if _, err := w.dst.WriteAt(buf, int64(b.phys)*int64(w.l.bs)); err != nil {
			return fmt.Errorf("writing indirect block %d of %s: %w", b.phys, f.name, err)
		}
	}
	return nil
}

// writeAll maps data as the whole content of f.
func (w *Writer) writeAll(f *wfile, data []byte) error {
	bs := int(w.l.bs)
	for len(data) > 0 {
		n := min(bs, len(data))
		if err := w.putBlock(f, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.finishFile(f)
}

func (w *Writer) makeResizeInode() error {
	l := w.l
	dind, err := w.alloc()
	if err != nil {
		return err
	}
	epoch := mkTime(w.o.Epoch)
	n := &wnode{ino: ResizeInode, mode: S_IFREG | 0600, links: 1, atime: epoch, mtime: epoch, ctime: epoch}
	n.block[DindBlock] = dind
	n.size = (uint64(l.apb)*uint64(l.apb) + uint64(l.apb) + NDirBlocks) * uint64(l.bs)
	if n.size >= 1<<31 {
		w.largeFile = true
	}
	var backups []uint32
	for g := uint32(1); g < l.groups; g++ {
		if l.hasSuper(g) {
			backups = append(backups, g)
		}
	}
	dbuf := make([]byte, l.bs)
	gbuf := make([]byte, l.bs)
	n.nblocks = 1
	for i := uint32(0); i < l.rsvGDT; i++ {
		pblk := l.firstData + 1 + l.descBlocks + i
		le.PutUint32(dbuf[4*((l.descBlocks+i)%l.apb):], pblk)
		clear(gbuf)
		for j, g := range backups {
			le.PutUint32(gbuf[4*j:], pblk+g*l.bpg)
		}
		n.nblocks += 1 + uint64(len(backups))
		if _, err := w.dst.WriteAt(gbuf, int64(pblk)*int64(l.bs)); err != nil {
			return fmt.Errorf("writing reserved descriptor block %d: %w", pblk, err)
		}
	}
	if _, err := w.dst.WriteAt(dbuf, int64(dind)*int64(l.bs)); err != nil {
		return fmt.Errorf("writing resize inode block %d: %w", dind, err)
	}
	w.nodes[ResizeInode-1] = n
	return nil
}

func (w *Writer) makeJournal() error {
	l := w.l
	epoch := mkTime(w.o.Epoch)
	n := &wnode{ino: JournalInode, mode: S_IFREG | 0600, links: 1, atime: epoch, mtime: epoch, ctime: epoch}
	n.size = uint64(l.journalBlocks) * uint64(l.bs)
	w.nodes[JournalInode-1] = n
	f := w.newFile(n, "<journal>", int64(n.size), false)
	js := JournalSuperBlock{
		Header:    JournalHeader{Magic: JBD2_MAGIC_NUMBER, BlockType: JBD2_SUPERBLOCK_V2},
		BlockSize: l.bs, MaxLen: l.journalBlocks, First: 1, Sequence: 1, NrUsers: 1,
		UUID: w.o.UUID,
	}
	first := make([]byte, l.bs)
	js.Put(first)
	if err := w.putBlock(f, first); err != nil {
		return err
	}
	for i := uint32(1); i < l.journalBlocks; i++ {
		if err := w.putBlock(f, w.zero); err != nil {
			return err
		}
	}
	return w.finishFile(f)
}

// cleanName turns a header name into the key used in paths: no leading or
// trailing slash, no "." components; "" is the root.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q contains NUL", ErrBadName, name)
	}
	p := path.Clean("/" + name)
	if strings.Contains("/"+name+"/", "/../") {
		return "", fmt.Errorf("%w: %q contains ..", ErrBadName, name)
	}
	p = strings.TrimPrefix(p, "/")
	for _, c := range strings.Split(p, "/") {
		if len(c) > NameLen {
			return "", fmt.Errorf("%w: component %.40q... is longer than %d bytes", ErrBadName, c, NameLen)
		}
	}
	return p, nil
}

func iMode(m fs.FileMode) (uint16, error) {
	v := uint16(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		v |= S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		v |= S_ISVTX
	}
	switch t := m.Type(); {
	case t == 0:
		v |= S_IFREG
	case t == fs.ModeDir:
		v |= S_IFDIR
	case t == fs.ModeSymlink:
		v |= S_IFLNK
	case t == fs.ModeDevice|fs.ModeCharDevice:
		v |= S_IFCHR
	case t == fs.ModeDevice:
		v |= S_IFBLK
	case t == fs.ModeNamedPipe:
		v |= S_IFIFO
	case t == fs.ModeSocket:
		v |= S_IFSOCK
	default:
		return 0, fmt.Errorf("ext3: unsupported file type %v", t)
	}
	return v, nil
}

func (w *Writer) addEntry(dir *wnode, name string, n *wnode) {
	d := dir.dir
	d.names[name] = len(d.entries)
	ft := uint8(0)
	if w.l.incompat&EXT2_FEATURE_INCOMPAT_FILETYPE != 0 {
		ft = FileTypeOfMode(n.mode)
	}
	d.entries = append(d.entries, wdent{name: name, ino: n.ino, ftype: ft})
	w.usage.EntryBytes += uint64(DirRecLen(len(name)))
}

// newInode numbers n and records it.
func (w *Writer) newInode(n *wnode) error {
	if w.nextIno > w.l.inodes() {
		return fmt.Errorf("%w: all %d inodes used; raise Options.Inodes or lower InodeRatio", ErrTooSmall, w.l.inodes())
	}
	n.ino = w.nextIno
	w.nextIno++
	w.usage.Inodes++
	w.nodes = append(w.nodes, n)
	return nil
}

// dirNode returns the directory at p, creating it and its parents
// implicitly.
func (w *Writer) dirNode(p string) (*wnode, error) {
	if ino, ok := w.paths[p]; ok {
		n := w.nodes[ino-1]
		if n.dir == nil {
			return nil, fmt.Errorf("ext3: %s: parent is not a directory", p)
		}
		return n, nil
	}
	parent, base := path.Split(p)
	pn, err := w.dirNode(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return nil, err
	}
	epoch := mkTime(w.o.Epoch)
	n := &wnode{mode: S_IFDIR | 0755, atime: epoch, mtime: epoch, ctime: epoch, links: 2,
		dir: &wdir{parent: pn.ino, names: map[string]int{}}}
	if err := w.newInode(n); err != nil {
		return nil, err
	}
	if err := w.link(pn, base, n); err != nil {
		return nil, err
	}
	w.paths[p] = n.ino
	w.usage.Dirs++
	return n, nil
}

func (w *Writer) link(parent *wnode, base string, n *wnode) error {
	if n.dir != nil {
		if parent.links >= EXT2_LINK_MAX {
			return fmt.Errorf("ext3: directory inode %d has %d subdirectories, the ext3 limit", parent.ino, EXT2_LINK_MAX-2)
		}
		parent.links++
	}
	w.addEntry(parent, base, n)
	return nil
}

// WriteHeader starts a new entry. A regular file's content follows with
// Write, exactly h.Size bytes.
func (w *Writer) WriteHeader(h *Header) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrWriteAfterClose
	}
	if err := w.endFile(); err != nil {
		w.err = err
		return err
	}
	if err := w.writeHeader(h); err != nil {
		w.err = fmt.Errorf("writing %s: %w", h.Name, err)
		return w.err
	}
	return nil
}

func (w *Writer) writeHeader(h *Header) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	mt := h.ModTime
	if mt.IsZero() {
		mt = w.o.Epoch
	}
	at, ct := h.AccessTime, h.ChangeTime
	if at.IsZero() {
		at = mt
	}
	if ct.IsZero() {
		ct = mt
	}
	if h.Hardlink != "" {
		target, err := cleanName(h.Hardlink)
		if err != nil {
			return err
		}
		ino, ok := w.paths[target]
		if !ok {
			return fmt.Errorf("hard link target %q not written before", h.Hardlink)
		}
		n := w.nodes[ino-1]
		if n.dir != nil {
			return fmt.Errorf("hard link to directory %q", h.Hardlink)
		}
		if n.links >= EXT2_LINK_MAX {
			return fmt.Errorf("hard link to %q: %d links is the limit", h.Hardlink, EXT2_LINK_MAX)
		}
		if _, ok := w.paths[name]; ok || name == "" {
			return ErrEntryExists
		}
		parent, base := path.Split(name)
		pn, err := w.dirNode(strings.TrimSuffix(parent, "/"))
		if err != nil {
			return err
		}
		n.links++
		w.addEntry(pn, base, n)
		w.paths[name] = ino
		return nil
	}
	mode, err := iMode(h.Mode)
	if err != nil {
		return err
	}
	if ino, ok := w.paths[name]; ok {
		n := w.nodes[ino-1]
		if n.dir == nil || mode&S_IFMT != S_IFDIR {
			return ErrEntryExists
		}
		// A directory seen again (implicitly created, or the root): set
		// its attributes.
		n.mode, n.uid, n.gid = mode, h.Uid, h.Gid
		n.mtime, n.atime, n.ctime = mkTime(mt), mkTime(at), mkTime(ct)
		return nil
	}
	if h.Size < 0 || mode&S_IFMT != S_IFREG && h.Size != 0 {
		return fmt.Errorf("bad size %d for mode %v", h.Size, h.Mode)
	}
	parent, base := path.Split(name)
	pn, err := w.dirNode(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return err
	}
	n := &wnode{mode: mode, uid: h.Uid, gid: h.Gid, links: 1,
		mtime: mkTime(mt), atime: mkTime(at), ctime: mkTime(ct)}
	var u Usage
	u.Add(h)
	w.usage.Blocks1K += u.Blocks1K
	w.usage.Blocks4K += u.Blocks4K
	switch mode & S_IFMT {
	case S_IFDIR:
		n.links = 2
		n.dir = &wdir{parent: pn.ino, names: map[string]int{}}
		w.usage.Dirs++
	case S_IFREG:
		n.size = uint64(h.Size)
		if n.size >= 1<<31 {
			w.largeFile = true
		}
		limit := w.maxFileSize()
		if n.size > limit {
			return fmt.Errorf("size %d exceeds the largest file (%d bytes) for %d-byte blocks: %w", n.size, limit, w.l.bs, ErrWriteTooLong)
		}
		if h.Size > 0 {
			w.cur = w.newFile(n, name, h.Size, true)
		}
	case S_IFLNK:
		if h.Linkname == "" {
			return fmt.Errorf("symlink with an empty target")
		}
		if len(h.Linkname) >= int(w.l.bs) || len(h.Linkname) >= 4096 {
			return fmt.Errorf("symlink target of %d bytes is too long (max %d)", len(h.Linkname), min(int(w.l.bs), 4096)-1)
		}
		n.link = h.Linkname
		n.size = uint64(len(h.Linkname))
	case S_IFCHR, S_IFBLK:
		if h.Devmajor > 0xfff || h.Devminor > 0xfffff {
			return fmt.Errorf("device %d:%d out of range (12-bit major, 20-bit minor)", h.Devmajor, h.Devminor)
		}
		var tmp Inode
		tmp.SetDevice(h.Devmajor, h.Devminor)
		n.block = tmp.Block
	}
	if err := w.newInode(n); err != nil {
		return err
	}
	if err := w.link(pn, base, n); err != nil {
		return err
	}
	w.paths[name] = n.ino
	if n.link != "" && len(n.link) > FastSymlinkMaxLen {
		f := w.newFile(n, name, int64(len(n.link)), false)
		if err := w.writeAll(f, []byte(n.link)); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) maxFileSize() uint64 {
	apb := uint64(w.l.apb)
	blocks := NDirBlocks + apb + apb*apb + apb*apb*apb
	// i_blocks is 32 bits of 512-byte units without huge_file: data and
	// indirect blocks must fit.
	lim := uint64(math.MaxUint32) / (uint64(w.l.bs) / 512)
	if blocks+mapBlocks(blocks, apb) > lim {
		blocks = lim - lim/apb - 3
	}
	return blocks * uint64(w.l.bs)
}

// Write writes file content for the current regular file entry.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrWriteAfterClose
	}
	f := w.cur
	if f == nil || int64(len(p)) > f.remain {
		if len(p) == 0 {
			return 0, nil
		}
		var nw int
		if f != nil {
			nw, _ = w.Write(p[:f.remain])
		}
		return nw, ErrWriteTooLong
	}
	bs := int(w.l.bs)
	total := len(p)
	f.remain -= int64(len(p))
	if len(w.blockBuf) > 0 {
		k := min(bs-len(w.blockBuf), len(p))
		w.blockBuf = append(w.blockBuf, p[:k]...)
		p = p[k:]
		if len(w.blockBuf) == bs {
			if err := w.putBlock(f, w.blockBuf); err != nil {
				w.err = fmt.Errorf("writing %s: %w", f.name, err)
				return 0, w.err
			}
			w.blockBuf = w.blockBuf[:0]
		}
	}
	for len(p) >= bs {
		if err := w.putBlock(f, p[:bs]); err != nil {
			w.err = fmt.Errorf("writing %s: %w", f.name, err)
			return 0, w.err
		}
		p = p[bs:]
	}
	w.blockBuf = append(w.blockBuf, p...)
	if f.remain == 0 {
		if err := w.endFile(); err != nil {
			w.err = err
			return 0, err
		}
	}
	return total, nil
}

// endFile completes the current regular file.
func (w *Writer) endFile() error {
	f := w.cur
	if f == nil {
		return nil
	}
	if f.remain > 0 {
		return fmt.Errorf("ext3: %s: missing %d of %d bytes of content", f.name, f.remain, f.n.size)
	}
	if len(w.blockBuf) > 0 {
		if err := w.putBlock(f, w.blockBuf); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
		w.blockBuf = w.blockBuf[:0]
	}
	w.cur = nil
	if err := w.finishFile(f); err != nil {
		return fmt.Errorf("writing %s: %w", f.name, err)
	}
	return nil
}

// dirBytes lays out a linear directory.
func (w *Writer) dirBytes(n *wnode, nblocks int) []byte {
	bs := int(w.l.bs)
	d := n.dir
	out := make([]byte, 0, bs)
	blk := make([]byte, bs)
	pos, last := 0, -1
	ftDir := uint8(0)
	if w.l.incompat&EXT2_FEATURE_INCOMPAT_FILETYPE != 0 {
		ftDir = EXT2_FT_DIR
	}
	put := func(name string, ino uint32, ft uint8) {
		rl := DirRecLen(len(name))
		if pos+rl > bs {
			le.PutUint16(blk[last+4:], uint16(bs-last))
			out = append(out, blk...)
			clear(blk)
			pos, last = 0, -1
		}
		e := DirEntry{Inode: ino, RecLen: uint16(rl), NameLen: uint8(len(name)), FileType: ft, Name: name}
		e.Put(blk[pos:])
		last = pos
		pos += rl
	}
	put(".", n.ino, ftDir)
	put("..", d.parent, ftDir)
	for _, e := range d.entries {
		put(e.name, e.ino, e.ftype)
	}
	le.PutUint16(blk[last+4:], uint16(bs-last))
	out = append(out, blk...)
	for len(out) < nblocks*bs {
		clear(blk)
		le.PutUint16(blk[4:], uint16(bs))
		out = append(out, blk...)
	}
	return out
}

// Close finishes the image: directories, inode tables, bitmaps, group
// descriptors and superblocks. It does not close dst.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.close(); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *Writer) close() error {
	if err := w.endFile(); err != nil {
		return err
	}
	l := w.l
	var seed [4]uint32
	for i := range seed {
		seed[i] = le.Uint32(w.o.HashSeed[4*i:])
	}
	// Directories, in inode order.
	for _, n := range w.nodes {
		if n == nil || n.dir == nil {
			continue
		}
		nblk := 1
		if n.ino == LostFoundInode {
			// As mke2fs: grow until 16 KiB and 2 blocks, at most 12 blocks.
			for i, sz := 1, 0; i < NDirBlocks; i++ {
				if sz += int(l.bs); sz >= 16384 && sz >= 2*int(l.bs) {
					break
				}
				nblk++
			}
		}
		data := w.dirBytes(n, nblk)
		if len(data) > int(l.bs) && n.ino != LostFoundInode && l.compat&EXT2_FEATURE_COMPAT_DIR_INDEX != 0 && !w.o.LinearDirs {
			if hb, ok := w.htreeBytes(n, seed); ok {
				data = hb
				n.flags |= EXT2_INDEX_FL
			}
		}
		n.size = uint64(len(data))
		f := w.newFile(n, fmt.Sprintf("directory inode %d", n.ino), int64(len(data)), false)
		if err := w.writeAll(f, data); err != nil {
			return err
		}
	}
	if err := w.flushRun(); err != nil {
		return err
	}
	if w.largeFile {
		l.ro |= EXT2_FEATURE_RO_COMPAT_LARGE_FILE
	}
	if err := w.writeInodeTables(); err != nil {
		return err
	}
	return w.writeGroups()
}

func (w *Writer) inode(n *wnode) Inode {
	var in Inode
	in.Mode = n.mode
	in.SetUID(n.uid)
	in.SetGID(n.gid)
	in.SetFileSize(n.size)
	in.LinksCount = n.links
	in.Flags = n.flags
	in.Block = n.block
	in.Blocks = uint32(n.nblocks * uint64(w.l.bs/512))
	if n.mode&S_IFMT == S_IFLNK && len(n.link) <= FastSymlinkMaxLen {
		var b [60]byte
		copy(b[:], n.link)
		for i := range in.Block {
			in.Block[i] = le.Uint32(b[4*i:])
		}
	}
	sec := func(t wtime) uint32 {
		s := t.sec
		if w.l.inodeSize <= GoodOldInodeSize {
			s = max(min(s, math.MaxInt32), math.MinInt32)
		}
		return uint32(int32(s))
	}
	in.Atime, in.Mtime, in.Ctime = sec(n.atime), sec(n.mtime), sec(n.ctime)
	if w.l.inodeSize > GoodOldInodeSize {
		in.ExtraIsize = InodeExtraSize
		in.AtimeExtra = EncodeExtraTime(n.atime.sec, n.atime.nsec)
		in.MtimeExtra = EncodeExtraTime(n.mtime.sec, n.mtime.nsec)
		in.CtimeExtra = EncodeExtraTime(n.ctime.sec, n.ctime.nsec)
		e := mkTime(w.o.Epoch)
		in.Crtime = uint32(int32(e.sec))
		in.CrtimeExtra = EncodeExtraTime(e.sec, e.nsec)
	}
	return in
}

func (w *Writer) writeInodeTables() error {
	l := w.l
	isz := int(l.inodeSize)
	for g := uint32(0); g < l.groups; g++ {
		first := g*l.ipg + 1
		if int(first) > len(w.nodes) {
			break
		}
		last := min(uint32(len(w.nodes)), first+l.ipg-1)
		nb := divCeil(uint64(last-first+1)*uint64(isz), uint64(l.bs))
		buf := make([]byte, nb*uint64(l.bs))
		for ino := first; ino <= last; ino++ {
			n := w.nodes[ino-1]
			if n == nil {
				continue
			}
			in := w.inode(n)
			in.Put(buf[int(ino-first)*isz : int(ino-first+1)*isz])
		}
		if _, err := w.dst.WriteAt(buf, int64(l.inodeTable(g))*int64(l.bs)); err != nil {
			return fmt.Errorf("writing inode table of group %d: %w", g, err)
		}
	}
	return nil
}

func popcount(b []byte) int {
	n := 0
	for _, x := range b {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

func (w *Writer) writeGroups() error {
	l := w.l
	bs := int(l.bs)
	gdt := make([]byte, int(l.descBlocks)*bs)
	var freeBlocks, freeInodes uint64
	bb := make([]byte, bs)
	ib := make([]byte, bs)
	for g := uint32(0); g < l.groups; g++ {
		gb := l.groupBlocks(g)
		clear(bb)
		copy(bb, w.bitmap[g*l.bpg/8:])
		usedB := popcount(bb)
		for i := gb; i < uint32(bs)*8; i++ {
			bb[i/8] |= 1 << (i % 8) // padding past the group's end
		}
		clear(ib)
		var usedI, dirs uint32
		for i := uint32(0); i < l.ipg; i++ {
			ino := g*l.ipg + i + 1
			if ino < GoodOldFirstIno || int(ino) <= len(w.nodes) && w.nodes[ino-1] != nil {
				ib[i/8] |= 1 << (i % 8)
				usedI++
				if int(ino) <= len(w.nodes) && w.nodes[ino-1] != nil && w.nodes[ino-1].dir != nil {
					dirs++
				}
			}
		}
		for i := l.ipg; i < uint32(bs)*8; i++ {
			ib[i/8] |= 1 << (i % 8)
		}
		gd := GroupDesc{
			BlockBitmap: l.blockBitmap(g), InodeBitmap: l.inodeBitmap(g), InodeTable: l.inodeTable(g),
			FreeBlocksCount: uint16(int(gb) - usedB), FreeInodesCount: uint16(l.ipg - usedI), UsedDirsCount: uint16(dirs),
		}
		freeBlocks += uint64(int(gb) - usedB)
		freeInodes += uint64(l.ipg - usedI)
		gd.Put(gdt[g*GroupDescSize:])
		if _, err := w.dst.WriteAt(bb, int64(l.blockBitmap(g))*int64(bs)); err != nil {
			return fmt.Errorf("writing block bitmap of group %d: %w", g, err)
		}
		if _, err := w.dst.WriteAt(ib, int64(l.inodeBitmap(g))*int64(bs)); err != nil {
			return fmt.Errorf("writing inode bitmap of group %d: %w", g, err)
		}
	}
	sb := w.superBlock(freeBlocks, freeInodes)
	buf := make([]byte, SuperBlockSize)
	for g := uint32(0); g < l.groups; g++ {
		if !l.hasSuper(g) {
			continue
		}
		sb.BlockGroupNr = uint16(g)
		sb.Put(buf)
		off := int64(l.groupStart(g)) * int64(bs)
		if g == 0 {
			off = SuperBlockOffset
		}
		if _, err := w.dst.WriteAt(buf, off); err != nil {
			return fmt.Errorf("writing superblock of group %d: %w", g, err)
		}
		if _, err := w.dst.WriteAt(gdt, int64(l.groupStart(g)+1)*int64(bs)); err != nil {
			return fmt.Errorf("writing group descriptors of group %d: %w", g, err)
		}
	}
	return nil
}

func (w *Writer) superBlock(freeBlocks, freeInodes uint64) *SuperBlock {
	l := w.l
	e := uint32(w.o.Epoch.Unix())
	sb := &SuperBlock{
		InodesCount: l.inodes(), BlocksCount: l.blocks,
		RBlocksCount:    uint32(uint64(l.blocks) * uint64(w.o.ReservedPercent) / 100),
		FreeBlocksCount: uint32(freeBlocks), FreeInodesCount: uint32(freeInodes),
		FirstDataBlock: l.firstData, LogBlockSize: uint32(bitsLen(l.bs) - 11), LogClusterSize: uint32(bitsLen(l.bs) - 11),
		BlocksPerGroup: l.bpg, ClustersPerGroup: l.bpg, InodesPerGroup: l.ipg,
		Wtime: e, MaxMntCount: -1, Magic: SuperMagic, State: EXT2_VALID_FS, Errors: EXT2_ERRORS_CONTINUE,
		Lastcheck: e, CreatorOS: EXT2_OS_LINUX, RevLevel: DynamicRev, FirstIno: GoodOldFirstIno,
		InodeSize: uint16(l.inodeSize), FeatureCompat: l.compat, FeatureIncompat: l.incompat, FeatureRoCompat: l.ro,
		UUID: w.o.UUID, ReservedGdtBlocks: uint16(l.rsvGDT), MkfsTime: e,
		DefaultMountOpts: EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL,
	}
	copy(sb.VolumeName[:], w.o.Label)
	// mke2fs sets the hash parameters with or without dir_index, so a
	// later tune2fs -O dir_index finds them.
	sb.DefHashVersion = EXT2_HASH_HALF_MD4
	for i := range sb.HashSeed {
		sb.HashSeed[i] = le.Uint32(w.o.HashSeed[4*i:])
	}
	sb.Flags |= EXT2_FLAGS_SIGNED_HASH
	if l.inodeSize > GoodOldInodeSize {
		sb.MinExtraIsize, sb.WantExtraIsize = InodeExtraSize, InodeExtraSize
	}
	if l.journalBlocks > 0 {
		j := w.nodes[JournalInode-1]
		sb.JournalInum = JournalInode
		sb.JnlBackupType = EXT3_JNL_BACKUP_BLOCKS
		copy(sb.JnlBlocks[:NBlocks], j.block[:])
		sb.JnlBlocks[15] = uint32(j.size >> 32)
		sb.JnlBlocks[16] = uint32(j.size)
	}
	return sb
}

func bitsLen(x uint32) int {
	n := 0
	for ; x > 1; x >>= 1 {
		n++
	}
	return n + 1
}
