package ext3

import (
	"fmt"
	"strings"
)

// maxSymlinkHops is the kernel's limit on symlinks followed in one lookup.
const maxSymlinkHops = 40

// maxPathDepth bounds the components of one lookup (symlink expansions
// included), so a corrupt image cannot make a lookup run forever.
const maxPathDepth = 4096

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// located is the result of a path lookup.
type located struct {
	parent uint32  // directory holding the final component (0 for the root)
	name   string  // final component ("" for the root)
	ino    uint32  // 0: the final component does not exist
	n      *xinode // the inode, when ino != 0
}

// locate resolves p from the root. Symlinks in the middle are always
// followed; the last one only when followLast is set. Absolute symlink
// targets are resolved from the image's root. A missing final component is
// not an error: ino is 0 and parent/name say where it would be.
func (f *FS) locate(p string, followLast bool) (*located, error) {
	comps := splitPath(p)
	cur := uint32(RootInode)
	curN, err := f.readInode(RootInode)
	if err != nil {
		return nil, err
	}
	if err := f.checkInode(RootInode, curN); err != nil {
		return nil, err
	}
	if !curN.isDir() {
		return nil, corruptf("root inode", "not a directory")
	}
	hops, steps := 0, 0
	var parent uint32
	var name string
	for len(comps) > 0 {
		steps++
		if steps > maxPathDepth {
			return nil, fmt.Errorf("resolving %s: %w", p, ErrSymlinkLoop)
		}
		c := comps[0]
		comps = comps[1:]
		if len(c) > 255 {
			return nil, fmt.Errorf("resolving %s: %w: component longer than 255 bytes", p, ErrInvalidPath)
		}
		if !curN.isDir() {
			return nil, fmt.Errorf("resolving %s: %w", p, ErrNotDir)
		}
		child, err := f.lookup(cur, curN, c)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", p, err)
		}
		if child == 0 {
			if len(comps) > 0 {
				return nil, fmt.Errorf("resolving %s: %w", p, ErrNotExist)
			}
			return &located{parent: cur, name: c}, nil
		}
		cn, err := f.readInode(child)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", p, err)
		}
		if err := f.checkInode(child, cn); err != nil {
			return nil, fmt.Errorf("resolving %s: %w", p, err)
		}
		if cn.ftype() == S_IFLNK && (len(comps) > 0 || followLast) {
			hops++
			if hops > maxSymlinkHops {
				return nil, fmt.Errorf("resolving %s: %w", p, ErrSymlinkLoop)
			}
			target, err := f.readlink(child, cn)
			if err != nil {
				return nil, fmt.Errorf("resolving %s: %w", p, err)
			}
			if strings.HasPrefix(target, "/") {
				cur = RootInode
				if curN, err = f.readInode(RootInode); err != nil {
					return nil, err
				}
			}
			comps = append(splitPath(target), comps...)
			if len(comps) == 0 {
				return f.locateDir(cur, curN)
			}
			continue
		}
		if len(comps) == 0 {
			parent, name = cur, c
			if c == ".." {
				// ".." as the last component: report the directory's
				// own location through its parent
				return f.locateDir(child, cn)
			}
			return &located{parent: parent, name: name, ino: child, n: cn}, nil
		}
		cur, curN = child, cn
	}
	if cur == RootInode {
		return &located{ino: RootInode, n: curN}, nil
	}
	return f.locateDir(cur, curN)
}

// locateDir finds the entry naming directory ino in its parent.
func (f *FS) locateDir(ino uint32, n *xinode) (*located, error) {
	if ino == RootInode {
		return &located{ino: RootInode, n: n}, nil
	}
	par, err := f.lookup(ino, n, "..")
	if err != nil {
		return nil, err
	}
	if par == 0 {
		return nil, corruptf(fmt.Sprintf("directory inode %d", ino), "no .. entry")
	}
	pn, err := f.readInode(par)
	if err != nil {
		return nil, err
	}
	ents, err := f.readDir(par, pn)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.ino == ino && e.name != "." && e.name != ".." {
			return &located{parent: par, name: e.name, ino: ino, n: n}, nil
		}
	}
	return nil, corruptf(fmt.Sprintf("directory inode %d", ino), "not found in its parent %d", par)
}

// readlink returns the target of symlink inode ino.
func (f *FS) readlink(ino uint32, n *xinode) (string, error) {
	if n.ftype() != S_IFLNK {
		return "", ErrNotSymlink
	}
	size := n.size()
	if size > uint64(f.bs) || size == 0 && !n.isFastSymlink() {
		return "", corruptf(fmt.Sprintf("symlink inode %d", ino), "target length %d", size)
	}
	if n.isFastSymlink() {
		return string(n.raw[inOffBlock : inOffBlock+size]), nil
	}
	b, err := f.bmap(ino, n, 0)
	if err != nil {
		return "", err
	}
	if b == 0 {
		return "", corruptf(fmt.Sprintf("symlink inode %d", ino), "no data block")
	}
	buf := make([]byte, size)
	if err := readFull(f.dev, buf, int64(b)*int64(f.bs)); err != nil {
		return "", fmt.Errorf("reading symlink inode %d: %w", ino, err)
	}
	return string(buf), nil
}
