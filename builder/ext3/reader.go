package ext3

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// FileInfo describes one inode. It implements fs.FileInfo; Sys returns the
// *FileInfo itself.
type FileInfo struct {
	name     string
	Ino      uint32      // inode number
	RawMode  uint16      // i_mode as stored: type and permission bits
	FileMode fs.FileMode // RawMode as an fs.FileMode
	UID, GID uint32
	FileSize int64 // bytes (for a symlink, the target length)
	Nlink    uint16
	Atime    time.Time
	Mtime    time.Time
	Ctime    time.Time
	Target   string // symlink target
	Major    uint32 // device numbers of character and block devices
	Minor    uint32
}

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return fi.FileSize }
func (fi *FileInfo) Mode() fs.FileMode  { return fi.FileMode }
func (fi *FileInfo) ModTime() time.Time { return fi.Mtime }
func (fi *FileInfo) IsDir() bool        { return fi.FileMode.IsDir() }
func (fi *FileInfo) Sys() any           { return fi }

// toFileMode converts an on-disk i_mode to an fs.FileMode.
func toFileMode(m uint16) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	switch m & S_IFMT {
	case S_IFDIR:
		fm |= fs.ModeDir
	case S_IFLNK:
		fm |= fs.ModeSymlink
	case S_IFCHR:
		fm |= fs.ModeDevice | fs.ModeCharDevice
	case S_IFBLK:
		fm |= fs.ModeDevice
	case S_IFIFO:
		fm |= fs.ModeNamedPipe
	case S_IFSOCK:
		fm |= fs.ModeSocket
	}
	return fm
}

// fromPerm converts the permission part of an fs.FileMode to i_mode bits.
func fromPerm(p fs.FileMode) uint16 {
	m := uint16(p & 0o777)
	if p&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if p&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if p&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

func (f *FS) fileInfo(name string, ino uint32, n *xinode) (*FileInfo, error) {
	fi := &FileInfo{
		name:     name,
		Ino:      ino,
		RawMode:  n.mode(),
		FileMode: toFileMode(n.mode()),
		UID:      n.uid(),
		GID:      n.gid(),
		FileSize: int64(n.size()),
		Nlink:    n.links(),
		Atime:    time.Unix(int64(n.u32(inOffAtime)), 0).UTC(),
		Mtime:    time.Unix(int64(n.u32(inOffMtime)), 0).UTC(),
		Ctime:    time.Unix(int64(n.u32(inOffCtime)), 0).UTC(),
	}
	if fi.FileSize < 0 {
		return nil, corruptf(fmt.Sprintf("inode %d", ino), "size %d", n.size())
	}
	switch n.ftype() {
	case S_IFLNK:
		t, err := f.readlink(ino, n)
		if err != nil {
			return nil, err
		}
		fi.Target = t
	case S_IFCHR, S_IFBLK:
		if old := n.blockPtr(0); old != 0 {
			fi.Major, fi.Minor = (old>>8)&0xFF, old&0xFF
		} else {
			nw := n.blockPtr(1)
			fi.Major = (nw & 0xFFF00) >> 8
			fi.Minor = (nw & 0xFF) | ((nw >> 12) & 0xFFF00)
		}
	}
	return fi, nil
}

// displayName maps an io/fs or absolute path to the form used in errors.
func displayName(name string) string {
	n := strings.TrimLeft(name, "/")
	if n == "" {
		return "."
	}
	return n
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (f *FS) stat(op, name string, follow bool) (*FileInfo, error) {
	loc, err := f.locate(name, follow)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	if loc.ino == 0 {
		return nil, pathErr(op, name, ErrNotExist)
	}
	fi, err := f.fileInfo(path.Base("/"+displayName(name)), loc.ino, loc.n)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	if fi.name == "/" {
		fi.name = "."
	}
	return fi, nil
}

// Stat describes the file at name, following symbolic links. Names are
// slash-separated, relative to the image root; a leading "/" is allowed.
// The result is a *FileInfo.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

// Lstat is Stat without following a final symbolic link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

// ReadLink returns the target of the symbolic link at name.
func (f *FS) ReadLink(name string) (string, error) {
	loc, err := f.locate(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	if loc.ino == 0 {
		return "", pathErr("readlink", name, ErrNotExist)
	}
	t, err := f.readlink(loc.ino, loc.n)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return t, nil
}

// Entry is one entry of a directory; it implements fs.DirEntry.
type Entry struct {
	name string
	Ino  uint32
	typ  fs.FileMode
	f    *FS
}

func (d *Entry) Name() string      { return d.name }
func (d *Entry) IsDir() bool       { return d.typ.IsDir() }
func (d *Entry) Type() fs.FileMode { return d.typ }

// Info reads the entry's inode.
func (d *Entry) Info() (fs.FileInfo, error) {
	n, err := d.f.readInode(d.Ino)
	if err != nil {
		return nil, err
	}
	if err := d.f.checkInode(d.Ino, n); err != nil {
		return nil, err
	}
	return d.f.fileInfo(d.name, d.Ino, n)
}

func ftToMode(t uint8) fs.FileMode {
	switch t {
	case EXT2_FT_DIR:
		return fs.ModeDir
	case EXT2_FT_SYMLINK:
		return fs.ModeSymlink
	case EXT2_FT_CHRDEV:
		return fs.ModeDevice | fs.ModeCharDevice
	case EXT2_FT_BLKDEV:
		return fs.ModeDevice
	case EXT2_FT_FIFO:
		return fs.ModeNamedPipe
	case EXT2_FT_SOCK:
		return fs.ModeSocket
	}
	return 0
}

func (f *FS) dirEntries(ino uint32, n *xinode) ([]fs.DirEntry, error) {
	ents, err := f.readDir(ino, n)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		if e.name == "." || e.name == ".." {
			continue
		}
		d := &Entry{name: e.name, Ino: e.ino, f: f, typ: ftToMode(e.ftype)}
		if !f.filetype || e.ftype == EXT2_FT_UNKNOWN {
			cn, err := f.readInode(e.ino)
			if err != nil {
				return nil, err
			}
			d.typ = toFileMode(cn.mode()).Type()
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// ReadDir returns the entries of the directory at name (following
// symbolic links), sorted by name, without "." and "..".
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	loc, err := f.locate(name, true)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if loc.ino == 0 {
		return nil, pathErr("readdir", name, ErrNotExist)
	}
	ents, err := f.dirEntries(loc.ino, loc.n)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	return ents, nil
}

// MaxReadFile is the largest file ReadFile loads into memory; use Open to
// stream bigger ones.
const MaxReadFile = 1 << 30

// ReadFile returns the contents of the regular file at name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	loc, err := f.locate(name, true)
	if err != nil {
		return nil, pathErr("read", name, err)
	}
	if loc.ino == 0 {
		return nil, pathErr("read", name, ErrNotExist)
	}
	if loc.n.isDir() {
		return nil, pathErr("read", name, ErrIsDir)
	}
	if loc.n.ftype() != S_IFREG {
		return nil, pathErr("read", name, ErrNotRegular)
	}
	data, err := f.readContent(loc.ino, loc.n)
	if err != nil {
		return nil, pathErr("read", name, err)
	}
	return data, nil
}

func (f *FS) readContent(ino uint32, n *xinode) ([]byte, error) {
	size := n.size()
	if size > MaxReadFile {
		return nil, fmt.Errorf("%w: %d bytes is more than ReadFile loads", ErrFileTooLarge, size)
	}
	nblk := (size + uint64(f.bs) - 1) / uint64(f.bs)
	if nblk > f.maxFileBlocks() {
		return nil, corruptf(fmt.Sprintf("inode %d", ino), "size %d beyond what a block map addresses", size)
	}
	runs, err := f.blockRuns(ino, n, nblk)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	for _, r := range runs {
		start := r.logical * uint64(f.bs)
		end := start + uint64(r.count)*uint64(f.bs)
		if end > size {
			end = size
		}
		if err := readFull(f.dev, data[start:end], int64(r.phys)*int64(f.bs)); err != nil {
			return nil, fmt.Errorf("reading inode %d: %w", ino, err)
		}
	}
	return data, nil
}

// Open opens the file at name for reading (io/fs.FS). Directories support
// ReadDir; regular files Read, ReadAt and Seek.
func (f *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(strings.TrimPrefix(name, "/")) {
		return nil, pathErr("open", name, fs.ErrInvalid)
	}
	loc, err := f.locate(name, true)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if loc.ino == 0 {
		return nil, pathErr("open", name, ErrNotExist)
	}
	fi, err := f.fileInfo(path.Base("/"+displayName(name)), loc.ino, loc.n)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if name == "." || name == "/" || name == "" {
		fi.name = "."
	}
	return &file{f: f, name: name, ino: loc.ino, n: loc.n, fi: fi}, nil
}

// file is an open file of an FS.
type file struct {
	f    *FS
	name string
	ino  uint32
	n    *xinode
	fi   *FileInfo
	off  int64
	runs []run
	have bool
	ents []fs.DirEntry
	dirn int
	read bool
}

func (h *file) Stat() (fs.FileInfo, error) { return h.fi, nil }
func (h *file) Close() error               { return nil }

func (h *file) Read(p []byte) (int, error) {
	n, err := h.ReadAt(p, h.off)
	h.off += int64(n)
	return n, err
}

func (h *file) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += h.off
	case io.SeekEnd:
		off += h.fi.FileSize
	default:
		return 0, pathErr("seek", h.name, fs.ErrInvalid)
	}
	if off < 0 {
		return 0, pathErr("seek", h.name, fs.ErrInvalid)
	}
	h.off = off
	return off, nil
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	if h.n.ftype() != S_IFREG {
		return 0, pathErr("read", h.name, ErrNotRegular)
	}
	if off < 0 {
		return 0, pathErr("read", h.name, fs.ErrInvalid)
	}
	size := h.fi.FileSize
	if off >= size {
		return 0, io.EOF
	}
	if !h.have {
		nblk := (uint64(size) + uint64(h.f.bs) - 1) / uint64(h.f.bs)
		if nblk > h.f.maxFileBlocks() {
			return 0, pathErr("read", h.name, corruptf(fmt.Sprintf("inode %d", h.ino), "size %d beyond what a block map addresses", size))
		}
		runs, err := h.f.blockRuns(h.ino, h.n, nblk)
		if err != nil {
			return 0, pathErr("read", h.name, err)
		}
		h.runs, h.have = runs, true
	}
	want := p
	var atEOF bool
	if int64(len(want)) > size-off {
		want = want[:size-off]
		atEOF = true
	}
	bs := int64(h.f.bs)
	done := 0
	for done < len(want) {
		pos := off + int64(done)
		lb := uint64(pos / bs)
		// find the run holding lb
		i := sort.Search(len(h.runs), func(i int) bool {
			return h.runs[i].logical+uint64(h.runs[i].count) > lb
		})
		chunkEnd := int64(len(want))
		if i < len(h.runs) && h.runs[i].logical <= lb {
			r := h.runs[i]
			runEnd := int64(r.logical+uint64(r.count))*bs - off
			if runEnd < chunkEnd {
				chunkEnd = runEnd
			}
			dev := int64(r.phys)*bs + (pos - int64(r.logical)*bs)
			if err := readFull(h.f.dev, want[done:chunkEnd], dev); err != nil {
				return done, pathErr("read", h.name, err)
			}
		} else {
			// a hole up to the next run
			if i < len(h.runs) {
				if e := int64(h.runs[i].logical)*bs - off; e < chunkEnd {
					chunkEnd = e
				}
			}
			clear(want[done:chunkEnd])
		}
		done = int(chunkEnd)
	}
	if atEOF {
		return done, io.EOF
	}
	return done, nil
}

func (h *file) ReadDir(count int) ([]fs.DirEntry, error) {
	if !h.n.isDir() {
		return nil, pathErr("readdir", h.name, ErrNotDir)
	}
	if !h.read {
		ents, err := h.f.dirEntries(h.ino, h.n)
		if err != nil {
			return nil, pathErr("readdir", h.name, err)
		}
		h.ents, h.read = ents, true
	}
	rest := h.ents[h.dirn:]
	if count <= 0 {
		h.dirn = len(h.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	h.dirn += count
	return rest[:count], nil
}

// FormatLong formats fi like one line of `ls -l`: mode, links, uid, gid,
// size (or "major, minor" for devices), mtime, name and " -> target" for
// symbolic links.
func FormatLong(fi fs.FileInfo) string {
	x, ok := fi.Sys().(*FileInfo)
	if !ok {
		return fmt.Sprintf("%v %d %s", fi.Mode(), fi.Size(), fi.Name())
	}
	size := fmt.Sprint(x.FileSize)
	if x.RawMode&S_IFMT == S_IFCHR || x.RawMode&S_IFMT == S_IFBLK {
		size = fmt.Sprintf("%d, %d", x.Major, x.Minor)
	}
	s := fmt.Sprintf("%s %d %d %d %s %s %s", ModeString(x.RawMode), x.Nlink, x.UID, x.GID, size,
		x.Mtime.Format("2006-01-02 15:04"), x.name)
	if x.Target != "" {
		s += " -> " + x.Target
	}
	return s
}

// ModeString renders an i_mode the way ls does ("-rwsr-xr-x", "drwxrwxrwt").
func ModeString(m uint16) string {
	b := []byte("?---------")
	switch m & S_IFMT {
	case S_IFREG:
		b[0] = '-'
	case S_IFDIR:
		b[0] = 'd'
	case S_IFLNK:
		b[0] = 'l'
	case S_IFCHR:
		b[0] = 'c'
	case S_IFBLK:
		b[0] = 'b'
	case S_IFIFO:
		b[0] = 'p'
	case S_IFSOCK:
		b[0] = 's'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(bit uint16, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == '-' {
				b[pos] = unset
			} else {
				b[pos] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

var _ interface {
	fs.ReadDirFS
	fs.ReadFileFS
	fs.StatFS
} = (*FS)(nil)
