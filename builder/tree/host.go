package tree

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// MaterializeOptions tune Materialize.
type MaterializeOptions struct {
	// Owners sets each node's uid and gid (needs root).
	Owners bool
	// Devices creates character and block device nodes (needs root);
	// without it they are skipped.
	Devices bool
	// Skip, if set, leaves out the entries it returns true for (and, for
	// a directory, everything below it).
	Skip func(p string, n *Node) bool
	// Merge writes over what dir already holds, the way dpkg unpacks over
	// an installed system: a directory that exists (or a symbolic link to
	// one, as merged /usr has) is entered and keeps its metadata, a
	// symbolic link with the same target is kept, other entries are
	// replaced. A directory over a non-directory is an error.
	Merge bool
}

// Materialize writes the tree into the host directory dir, which must be
// empty or missing unless opts.Merge: directories, files, symbolic links,
// hard links, device nodes, FIFOs and sockets (as bound-less socket
// nodes), with their permission bits and modification times, and their
// owners when asked.
func (t *Tree) Materialize(dir string, opts MaterializeOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("materializing tree: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("materializing tree: %w", err)
	}
	if len(ents) > 0 && !opts.Merge {
		return fmt.Errorf("materializing tree into %s: directory not empty", dir)
	}
	type pending struct {
		host string
		n    *Node
	}
	var dirs []pending
	type keptDir struct {
		host  string
		mtime time.Time
	}
	var kept []keptDir
	first := map[*Node]string{}
	buf := make([]byte, 1<<20)
	err = t.Walk(func(p string, n *Node) error {
		if opts.Skip != nil && p != "/" && opts.Skip(p, n) {
			if n.Type == TypeDir {
				return fs.SkipDir
			}
			return nil
		}
		host := filepath.Join(dir, filepath.FromSlash(p))
		if n.Type == TypeDir {
			if p == "/" {
				if !opts.Merge {
					dirs = append(dirs, pending{host, n})
				}
				return nil
			}
			if opts.Merge {
				if st, err := os.Stat(host); err == nil {
					if !st.IsDir() {
						return fmt.Errorf("%s: a directory over a %v", p, st.Mode().Type())
					}
					// It exists: it keeps its metadata, its time too
					// once its new entries are in.
					kept = append(kept, keptDir{host, st.ModTime()})
					return nil
				}
			}
			if err := os.Mkdir(host, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, pending{host, n})
			return nil
		}
		if opts.Merge {
			if done, err := mergeOver(host, n); done || err != nil {
				return err
			}
		}
		if n.nlink > 1 {
			if f, ok := first[n]; ok {
				return os.Link(f, host)
			}
			first[n] = host
		}
		switch n.Type {
		case TypeRegular:
			if err := writeHost(host, n, buf); err != nil {
				return err
			}
		case TypeSymlink:
			if err := os.Symlink(n.Target, host); err != nil {
				return err
			}
		case TypeChar, TypeBlock:
			if !opts.Devices {
				delete(first, n)
				return nil
			}
			mode := uint32(unix.S_IFCHR)
			if n.Type == TypeBlock {
				mode = unix.S_IFBLK
			}
			if err := unix.Mknod(host, mode|n.Mode&0o777, int(unix.Mkdev(n.Major, n.Minor))); err != nil {
				return &fs.PathError{Op: "mknod", Path: host, Err: err}
			}
		case TypeFifo:
			if err := unix.Mkfifo(host, n.Mode&0o777); err != nil {
				return &fs.PathError{Op: "mkfifo", Path: host, Err: err}
			}
		case TypeSocket:
			if err := unix.Mknod(host, unix.S_IFSOCK|n.Mode&0o777, 0); err != nil {
				return &fs.PathError{Op: "mknod", Path: host, Err: err}
			}
		}
		return setHostMeta(host, n, opts)
	})
	if err != nil {
		return fmt.Errorf("materializing tree into %s: %w", dir, err)
	}
	// Directories last, deepest first, so that read-only modes and times
	// survive the creation of their entries.
	for _, d := range slices.Backward(dirs) {
		if err := setHostMeta(d.host, d.n, opts); err != nil {
			return fmt.Errorf("materializing tree into %s: %w", dir, err)
		}
	}
	for _, d := range slices.Backward(kept) {
		if err := os.Chtimes(d.host, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("materializing tree into %s: %w", dir, err)
		}
	}
	return nil
}

// mergeOver makes way for n at host in Merge mode: it reports done when
// host already is the same symbolic link, and removes any other
// non-directory there.
func mergeOver(host string, n *Node) (done bool, err error) {
	st, err := os.Lstat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.IsDir() {
		return false, fmt.Errorf("%s: a %v over a directory", host, n.Type)
	}
	if n.Type == TypeSymlink && st.Mode().Type() == fs.ModeSymlink {
		if target, err := os.Readlink(host); err == nil && target == n.Target {
			return true, nil
		}
	}
	return false, os.Remove(host)
}

func writeHost(host string, n *Node, buf []byte) error {
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	rc, err := n.content.Open()
	if err != nil {
		f.Close()
		return err
	}
	_, err = io.CopyBuffer(f, rc, buf)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", host, err)
	}
	return nil
}

func setHostMeta(host string, n *Node, opts MaterializeOptions) error {
	if opts.Owners {
		if err := os.Lchown(host, n.UID, n.GID); err != nil {
			return err
		}
	}
	if n.Type != TypeSymlink {
		// After chown, which clears setuid and setgid.
		if err := unix.Fchmodat(unix.AT_FDCWD, host, n.Mode&07777, 0); err != nil {
			return &fs.PathError{Op: "chmod", Path: host, Err: err}
		}
	}
	ts := []unix.Timespec{{Sec: n.Mtime}, {Sec: n.Mtime}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "utimes", Path: host, Err: err}
	}
	return nil
}

// FromDir builds a tree from the host directory dir: every entry's type,
// permission bits, owner, modification time (seconds), link target and
// device numbers; files sharing an inode become hard links. File contents
// are copied into the new tree's spool, so dir may go away afterwards.
func FromDir(dir string, opts Options) (*Tree, error) {
	return fromDir(dir, opts, false)
}

// FromDirRef is FromDir without the copy: file contents stay in dir and
// the tree refers to them (HostFile), so dir must stay unchanged while the
// tree is used. It saves writing every file a second time.
func FromDirRef(dir string, opts Options) (*Tree, error) {
	return fromDir(dir, opts, true)
}

func fromDir(dir string, opts Options, ref bool) (*Tree, error) {
	t, err := New(opts)
	if err != nil {
		return nil, err
	}
	t.refHost = ref
	if err := t.addHost(dir); err != nil {
		t.Close()
		return nil, fmt.Errorf("reading tree from %s: %w", dir, err)
	}
	return t, nil
}

type inodeKey struct{ dev, ino uint64 }

func (t *Tree) addHost(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &fs.PathError{Op: "read", Path: dir, Err: ErrNotDir}
	}
	statMeta(t.root, &st)
	seen := map[inodeKey]*Node{}
	var add func(host string, d *Node) error
	add = func(host string, d *Node) error {
		ents, err := os.ReadDir(host) // sorted by name
		if err != nil {
			return err
		}
		for _, e := range ents {
			hp := filepath.Join(host, e.Name())
			var st unix.Stat_t
			if err := unix.Lstat(hp, &st); err != nil {
				return &fs.PathError{Op: "lstat", Path: hp, Err: err}
			}
			key := inodeKey{uint64(st.Dev), st.Ino}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
				if n, ok := seen[key]; ok {
					n.nlink++
					d.children[e.Name()] = n
					continue
				}
			}
			n := &Node{nlink: 1}
			statMeta(n, &st)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				n.Type = TypeDir
				n.children = map[string]*Node{}
				d.children[e.Name()] = n
				if err := add(hp, n); err != nil {
					return err
				}
				continue
			case unix.S_IFREG:
				n.Type = TypeRegular
				if t.refHost {
					n.content = HostFile(hp, 0, st.Size)
					break
				}
				f, err := os.Open(hp)
				if err != nil {
					return err
				}
				n.content, err = t.Store(f, st.Size)
				f.Close()
				if err != nil {
					return fmt.Errorf("reading %s: %w", hp, err)
				}
			case unix.S_IFLNK:
				n.Type = TypeSymlink
				n.Target, err = os.Readlink(hp)
				if err != nil {
					return err
				}
			case unix.S_IFCHR, unix.S_IFBLK:
				n.Type = TypeChar
				if st.Mode&unix.S_IFMT == unix.S_IFBLK {
					n.Type = TypeBlock
				}
				n.Major, n.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
			case unix.S_IFIFO:
				n.Type = TypeFifo
			case unix.S_IFSOCK:
				n.Type = TypeSocket
			default:
				return fmt.Errorf("%s: unknown file type %#o", hp, st.Mode&unix.S_IFMT)
			}
			if st.Nlink > 1 {
				seen[key] = n
			}
			d.children[e.Name()] = n
		}
		return nil
	}
	return add(dir, t.root)
}

func statMeta(n *Node, st *unix.Stat_t) {
	n.Mode = st.Mode & 07777
	n.UID, n.GID = int(st.Uid), int(st.Gid)
	n.Mtime = st.Mtim.Sec
}
