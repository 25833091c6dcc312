package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"
)

// Type is the kind of a node.
type Type uint8

// Node types, as a tar header or a stat call tells them apart. A hard link is
// not a type: it is a second name for the same *Node.
const (
	TypeDir Type = iota + 1
	TypeRegular
	TypeSymlink
	TypeChar
	TypeBlock
	TypeFifo
	TypeSocket
)

var typeNames = [...]string{"invalid", "dir", "regular", "symlink", "char", "block", "fifo", "socket"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Errors returned inside *fs.PathError values. fs.ErrNotExist and
// fs.ErrExist are used for missing and existing names.
var (
	ErrNotDir   = errors.New("tree: not a directory")
	ErrIsDir    = errors.New("tree: is a directory")
	ErrNotEmpty = errors.New("tree: directory not empty")
	ErrLoop     = errors.New("tree: too many levels of symbolic links")
	ErrRoot     = errors.New("tree: operation not permitted on the root")
	ErrClosed   = errors.New("tree: closed")
)

// MaxSymlinks is how many symbolic links one lookup may follow, as Linux.
const MaxSymlinks = 40

// Meta is the metadata a caller sets when creating a node.
type Meta struct {
	Mode  uint32 // permission bits and setuid (04000), setgid (02000), sticky (01000)
	UID   int
	GID   int
	Mtime int64 // seconds since the Unix epoch
}

// Node is one inode of the tree. Its exported fields may be edited in place.
type Node struct {
	Type   Type
	Mode   uint32 // permission bits and setuid/setgid/sticky (07777)
	UID    int
	GID    int
	Mtime  int64  // seconds since the Unix epoch
	Target string // symbolic link target, verbatim
	Major  uint32 // device numbers of TypeChar and TypeBlock
	Minor  uint32

	content  Content
	children map[string]*Node // TypeDir only
	nlink    int              // names referring to this node
}

// Size is the length of a regular file's content or a symbolic link's
// target, in bytes; zero for other types.
func (n *Node) Size() int64 {
	switch n.Type {
	case TypeRegular:
		return n.content.size
	case TypeSymlink:
		return int64(len(n.Target))
	}
	return 0
}

// Links is the number of names the node has in the tree (hard links).
func (n *Node) Links() int { return n.nlink }

// Content returns the content of a regular file.
func (n *Node) Content() Content { return n.content }

// SetContent replaces the content of a regular file.
func (n *Node) SetContent(c Content) { n.content = c }

// Names returns the sorted names of a directory's entries.
func (n *Node) Names() []string {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Child returns the directory entry name, or nil.
func (n *Node) Child(name string) *Node { return n.children[name] }

// Meta returns the node's metadata.
func (n *Node) Meta() Meta { return Meta{Mode: n.Mode, UID: n.UID, GID: n.GID, Mtime: n.Mtime} }

func (n *Node) setMeta(m Meta) {
	n.Mode, n.UID, n.GID, n.Mtime = m.Mode&07777, m.UID, m.GID, m.Mtime
}

// Content is where a regular file's bytes are: inline, in the tree's spool
// file or in a region of a host file. The zero value is empty.
type Content struct {
	inline []byte
	file   *os.File // spool
	host   string   // host file path
	off    int64
	size   int64
}

// Size is the content length in bytes.
func (c Content) Size() int64 { return c.size }

// Open returns a reader of the content. Close it when done (it may hold an
// open host file).
func (c Content) Open() (io.ReadCloser, error) {
	switch {
	case c.host != "":
		f, err := os.Open(c.host)
		if err != nil {
			return nil, fmt.Errorf("opening content: %w", err)
		}
		return &hostReader{SectionReader: io.NewSectionReader(f, c.off, c.size), f: f}, nil
	case c.file != nil:
		return io.NopCloser(io.NewSectionReader(c.file, c.off, c.size)), nil
	default:
		return io.NopCloser(bytes.NewReader(c.inline)), nil
	}
}

type hostReader struct {
	*io.SectionReader
	f *os.File
}

func (h *hostReader) Close() error { return h.f.Close() }

// HostFile is a content that reads size bytes at offset off of the host file
// path when opened. The file must stay unchanged while the tree lives.
func HostFile(path string, off, size int64) Content {
	return Content{host: path, off: off, size: size}
}

// Options tune a Tree.
type Options struct {
	// SpoolDir is where the spool file is created; "" means os.TempDir().
	SpoolDir string
	// InlineMax is the largest content kept in memory, in bytes; 0 means
	// 256, a negative value means none.
	InlineMax int
	// OnClose, if set, runs once when the tree is closed, after its spool
	// is released: e.g. unmounting the file system a FromDirRef tree's
	// contents live on.
	OnClose func() error
}

// Tree is a root file system held in memory, contents spooled to a file.
type Tree struct {
	root      *Node
	spool     *os.File
	spoolEnd  atomic.Int64
	inlineMax int
	closed    atomic.Bool
	refHost   bool // FromDirRef: contents refer to host files
	onClose   func() error
}

// New returns a tree holding only a root directory (mode 0755, owned by 0:0,
// mtime 0).
func New(opts Options) (*Tree, error) {
	f, err := os.CreateTemp(opts.SpoolDir, "xenimg-tree-*.spool")
	if err != nil {
		return nil, fmt.Errorf("creating tree spool: %w", err)
	}
	// Unlinked at once: the space goes back when the tree is closed or the
	// process dies.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlinking tree spool: %w", err)
	}
	im := opts.InlineMax
	if im == 0 {
		im = 256
	}
	return &Tree{
		root:      &Node{Type: TypeDir, Mode: 0o755, children: map[string]*Node{}, nlink: 1},
		spool:     f,
		inlineMax: im,
		onClose:   opts.OnClose,
	}, nil
}

// Close releases the spool file, then runs Options.OnClose. Contents
// stored in the tree cannot be read after.
func (t *Tree) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	err := t.spool.Close()
	if err != nil {
		err = fmt.Errorf("closing tree spool: %w", err)
	}
	if t.onClose != nil {
		if cerr := t.onClose(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// Root returns the root directory node.
func (t *Tree) Root() *Node { return t.root }

// SpoolSize is how many bytes the spool file holds.
func (t *Tree) SpoolSize() int64 { return t.spoolEnd.Load() }

// Store reads exactly size bytes from r and keeps them as a content, inline
// when small, else appended to the spool. Safe for concurrent use.
func (t *Tree) Store(r io.Reader, size int64) (Content, error) {
	if t.closed.Load() {
		return Content{}, ErrClosed
	}
	if size < 0 {
		return Content{}, fmt.Errorf("storing content: negative size %d", size)
	}
	if size <= int64(t.inlineMax) {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return Content{}, fmt.Errorf("storing %d bytes: %w", size, unexpected(err))
		}
		return Content{inline: b, size: size}, nil
	}
	off := t.spoolEnd.Add(size) - size
	n, err := io.Copy(io.NewOffsetWriter(t.spool, off), io.LimitReader(r, size))
	if err != nil {
		return Content{}, fmt.Errorf("storing %d bytes in the spool: %w", size, err)
	}
	if n != size {
		return Content{}, fmt.Errorf("storing %d bytes: got %d: %w", size, n, io.ErrUnexpectedEOF)
	}
	return Content{file: t.spool, off: off, size: size}, nil
}

// StoreBytes keeps b as a content (copied). Safe for concurrent use.
func (t *Tree) StoreBytes(b []byte) (Content, error) {
	return t.Store(bytes.NewReader(b), int64(len(b)))
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// splitPath cuts a path into its components, dropping empty ones and ".".
func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

// Clean returns the canonical form of a tree path: "/" followed by the
// components, "." dropped, ".." applied and clamped at the root.
func Clean(p string) string {
	var out []string
	for _, c := range splitPath(p) {
		if c == ".." {
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, c)
	}
	return "/" + strings.Join(out, "/")
}

// resolved is where a lookup ended.
type resolved struct {
	parent *Node  // directory holding name; nil when the path names the root or ends in "." or ".."
	name   string // last component
	node   *Node  // nil when parent has no entry name
}

// resolve walks p from the root. Symbolic links met before the last
// component are followed; the last one is followed when followFinal is set.
// A missing last component is not an error (node is nil); a missing
// intermediate one is.
func (t *Tree) resolve(p string, followFinal bool) (resolved, error) {
	comps := splitPath(p)
	stack := []*Node{t.root}
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		if c == ".." {
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			if len(comps) == 0 {
				return resolved{node: stack[len(stack)-1]}, nil
			}
			continue
		}
		cur := stack[len(stack)-1]
		if cur.Type != TypeDir {
			return resolved{}, ErrNotDir
		}
		child := cur.children[c]
		last := len(comps) == 0
		if child == nil {
			if last {
				return resolved{parent: cur, name: c}, nil
			}
			return resolved{}, fs.ErrNotExist
		}
		if child.Type == TypeSymlink && (!last || followFinal) {
			links++
			if links > MaxSymlinks {
				return resolved{}, ErrLoop
			}
			tc := splitPath(child.Target)
			if strings.HasPrefix(child.Target, "/") {
				stack = stack[:1]
			}
			if len(tc) == 0 && len(comps) == 0 {
				// A link to "/" or ".": it names the directory it lands on.
				return resolved{node: stack[len(stack)-1]}, nil
			}
			comps = append(tc, comps...)
			continue
		}
		if last {
			return resolved{parent: cur, name: c, node: child}, nil
		}
		stack = append(stack, child)
	}
	return resolved{node: stack[len(stack)-1]}, nil
}

func pathErr(op, p string, err error) error {
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// Lookup returns the node p names, following every symbolic link.
func (t *Tree) Lookup(p string) (*Node, error) {
	r, err := t.resolve(p, true)
	if err != nil {
		return nil, pathErr("lookup", p, err)
	}
	if r.node == nil {
		return nil, pathErr("lookup", p, fs.ErrNotExist)
	}
	return r.node, nil
}

// Lstat returns the node p names without following a final symbolic link.
func (t *Tree) Lstat(p string) (*Node, error) {
	r, err := t.resolve(p, false)
	if err != nil {
		return nil, pathErr("lstat", p, err)
	}
	if r.node == nil {
		return nil, pathErr("lstat", p, fs.ErrNotExist)
	}
	return r.node, nil
}

// Resolve returns the canonical path (see Clean) that p leads to once every
// symbolic link is followed, including a final one when followFinal is set.
// The last component need not exist.
func (t *Tree) Resolve(p string, followFinal bool) (string, error) {
	comps := splitPath(p)
	var names []string
	stack := []*Node{t.root}
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		if c == ".." {
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
				names = names[:len(names)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if cur.Type != TypeDir {
			return "", pathErr("resolve", p, ErrNotDir)
		}
		child := cur.children[c]
		last := len(comps) == 0
		if child == nil {
			if last {
				names = append(names, c)
				break
			}
			return "", pathErr("resolve", p, fs.ErrNotExist)
		}
		if child.Type == TypeSymlink && (!last || followFinal) {
			links++
			if links > MaxSymlinks {
				return "", pathErr("resolve", p, ErrLoop)
			}
			if strings.HasPrefix(child.Target, "/") {
				stack, names = stack[:1], names[:0]
			}
			comps = append(splitPath(child.Target), comps...)
			continue
		}
		stack = append(stack, child)
		names = append(names, c)
	}
	return "/" + strings.Join(names, "/"), nil
}

// create resolves p's parent (following links) and returns it with the last
// component. The last component is not followed.
func (t *Tree) parentOf(op, p string) (resolved, error) {
	r, err := t.resolve(p, false)
	if err != nil {
		return r, pathErr(op, p, err)
	}
	if r.parent == nil {
		return r, pathErr(op, p, ErrRoot)
	}
	return r, nil
}

// put enters n under r.parent, replacing a non-directory entry (as tar and
// dpkg do: unlink, then create). An existing directory is an error.
func (t *Tree) put(op, p string, r resolved, n *Node) error {
	if old := r.node; old != nil {
		if old.Type == TypeDir {
			return pathErr(op, p, ErrIsDir)
		}
		old.nlink--
	}
	n.nlink++
	r.parent.children[r.name] = n
	return nil
}

// Mkdir creates directory p. Its parent must exist.
func (t *Tree) Mkdir(p string, m Meta) error {
	r, err := t.parentOf("mkdir", p)
	if err != nil {
		return err
	}
	if r.node != nil {
		return pathErr("mkdir", p, fs.ErrExist)
	}
	n := &Node{Type: TypeDir, children: map[string]*Node{}}
	n.setMeta(m)
	return t.put("mkdir", p, r, n)
}

// MkdirAll creates p and its missing parents with metadata m. Existing
// directories (and links to directories) are left as they are.
func (t *Tree) MkdirAll(p string, m Meta) error {
	comps := splitPath(p)
	for i := range comps {
		sub := "/" + strings.Join(comps[:i+1], "/")
		n, err := t.Lookup(sub)
		if err == nil {
			if n.Type != TypeDir {
				return pathErr("mkdir", sub, ErrNotDir)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := t.Mkdir(sub, m); err != nil {
			return err
		}
	}
	return nil
}

// Create makes p a regular file holding c, replacing a file, link or node
// that was there.
func (t *Tree) Create(p string, m Meta, c Content) (*Node, error) {
	r, err := t.parentOf("create", p)
	if err != nil {
		return nil, err
	}
	n := &Node{Type: TypeRegular, content: c}
	n.setMeta(m)
	if err := t.put("create", p, r, n); err != nil {
		return nil, err
	}
	return n, nil
}

// WriteFile makes p a regular file holding a copy of data.
func (t *Tree) WriteFile(p string, m Meta, data []byte) error {
	c, err := t.StoreBytes(data)
	if err != nil {
		return pathErr("write", p, err)
	}
	_, err = t.Create(p, m, c)
	return err
}

// Symlink makes p a symbolic link to target (kept verbatim).
func (t *Tree) Symlink(target, p string, m Meta) error {
	r, err := t.parentOf("symlink", p)
	if err != nil {
		return err
	}
	n := &Node{Type: TypeSymlink, Target: target}
	n.setMeta(m)
	if m.Mode == 0 {
		n.Mode = 0o777
	}
	return t.put("symlink", p, r, n)
}

// Mknod makes p a device node, FIFO or socket.
func (t *Tree) Mknod(p string, typ Type, m Meta, major, minor uint32) error {
	switch typ {
	case TypeChar, TypeBlock, TypeFifo, TypeSocket:
	default:
		return pathErr("mknod", p, fmt.Errorf("tree: mknod of a %s", typ))
	}
	r, err := t.parentOf("mknod", p)
	if err != nil {
		return err
	}
	n := &Node{Type: typ, Major: major, Minor: minor}
	n.setMeta(m)
	return t.put("mknod", p, r, n)
}

// Link makes newpath a second name of the node oldpath names (a final
// symbolic link in oldpath is not followed, as link(2)). Directories cannot
// be linked.
func (t *Tree) Link(oldpath, newpath string) error {
	old, err := t.Lstat(oldpath)
	if err != nil {
		return pathErr("link", oldpath, errors.Unwrap(err))
	}
	if old.Type == TypeDir {
		return pathErr("link", oldpath, ErrIsDir)
	}
	r, err := t.parentOf("link", newpath)
	if err != nil {
		return err
	}
	if r.node == old {
		return nil
	}
	return t.put("link", newpath, r, old)
}

// Remove deletes the name p (a final link is not followed). A directory
// must be empty.
func (t *Tree) Remove(p string) error {
	r, err := t.parentOf("remove", p)
	if err != nil {
		return err
	}
	if r.node == nil {
		return pathErr("remove", p, fs.ErrNotExist)
	}
	if r.node.Type == TypeDir && len(r.node.children) > 0 {
		return pathErr("remove", p, ErrNotEmpty)
	}
	delete(r.parent.children, r.name)
	r.node.nlink--
	return nil
}

// RemoveAll deletes p and everything below it. A missing p is no error.
func (t *Tree) RemoveAll(p string) error {
	r, err := t.parentOf("remove", p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if r.node == nil {
		return nil
	}
	var drop func(n *Node)
	drop = func(n *Node) {
		n.nlink--
		for _, c := range n.children {
			drop(c)
		}
	}
	delete(r.parent.children, r.name)
	drop(r.node)
	return nil
}

// Rename moves oldpath to newpath, replacing a non-directory or an empty
// directory there. A directory cannot move below itself.
func (t *Tree) Rename(oldpath, newpath string) error {
	ro, err := t.parentOf("rename", oldpath)
	if err != nil {
		return err
	}
	if ro.node == nil {
		return pathErr("rename", oldpath, fs.ErrNotExist)
	}
	rn, err := t.parentOf("rename", newpath)
	if err != nil {
		return err
	}
	if rn.node == ro.node {
		return nil
	}
	if ro.node.Type == TypeDir {
		// newpath's parent must not be ro.node or below it.
		if below(ro.node, rn.parent) {
			return pathErr("rename", newpath, fmt.Errorf("tree: %s would move below itself", oldpath))
		}
	}
	if old := rn.node; old != nil {
		if old.Type == TypeDir {
			if ro.node.Type != TypeDir {
				return pathErr("rename", newpath, ErrIsDir)
			}
			if len(old.children) > 0 {
				return pathErr("rename", newpath, ErrNotEmpty)
			}
		} else if ro.node.Type == TypeDir {
			return pathErr("rename", newpath, ErrNotDir)
		}
		old.nlink--
	}
	delete(ro.parent.children, ro.name)
	rn.parent.children[rn.name] = ro.node
	return nil
}

// below reports whether d is n or inside n.
func below(n, d *Node) bool {
	if n == d {
		return true
	}
	for _, c := range n.children {
		if c.Type == TypeDir && below(c, d) {
			return true
		}
	}
	return false
}

// Chmod sets the permission bits of the node p leads to.
func (t *Tree) Chmod(p string, mode uint32) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	n.Mode = mode & 07777
	return nil
}

// Chown sets the owner of the node p leads to.
func (t *Tree) Chown(p string, uid, gid int) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	n.UID, n.GID = uid, gid
	return nil
}

// Chtimes sets the modification time, in seconds, of the node p leads to.
func (t *Tree) Chtimes(p string, mtime int64) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	n.Mtime = mtime
	return nil
}

// Open returns a reader of the regular file p leads to.
func (t *Tree) Open(p string) (io.ReadCloser, error) {
	n, err := t.Lookup(p)
	if err != nil {
		return nil, err
	}
	if n.Type != TypeRegular {
		return nil, pathErr("open", p, fmt.Errorf("tree: not a regular file (%s)", n.Type))
	}
	if t.closed.Load() && n.content.file != nil {
		return nil, pathErr("open", p, ErrClosed)
	}
	return n.content.Open()
}

// ReadFile returns the content of the regular file p leads to.
func (t *Tree) ReadFile(p string) ([]byte, error) {
	rc, err := t.Open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, pathErr("read", p, err)
	}
	return b, nil
}

// WalkFunc is called for every name in the tree. p is the canonical path
// ("/" for the root). A hard-linked node is met once per name. Returning
// fs.SkipDir on a directory skips its entries; fs.SkipAll stops the walk.
type WalkFunc func(p string, n *Node) error

// Walk visits the tree depth first, a directory before its entries, entries
// in byte order of their names. The tree must not change during the walk.
func (t *Tree) Walk(fn WalkFunc) error {
	err := walk("/", t.root, fn)
	if err == fs.SkipAll || err == fs.SkipDir {
		return nil
	}
	return err
}

func walk(p string, n *Node, fn WalkFunc) error {
	if err := fn(p, n); err != nil {
		return err
	}
	if n.Type != TypeDir {
		return nil
	}
	for _, name := range n.Names() {
		cp := p + "/" + name
		if p == "/" {
			cp = "/" + name
		}
		err := walk(cp, n.children[name], fn)
		if err == fs.SkipDir {
			if n.children[name].Type == TypeDir {
				continue
			}
			return nil // skip the rest of this directory
		}
		if err != nil {
			return err
		}
	}
	return nil
}
