package publish

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/xenimg/xenimg/builder/ext3"
)

// node is one file of the root tree, in walk order.
type node struct {
	Path string // slash-separated, relative to the root; "." is the root
	Info *ext3.FileInfo
}

// walkTree lists the tree depth first, entries of a directory sorted by
// name, without /lost+found.
func walkTree(fsys *ext3.FS) ([]node, error) {
	var out []node
	var walk func(dir string) error
	walk = func(p string) error {
		fi, err := fsys.Lstat(p)
		if err != nil {
			return fmt.Errorf("reading tree: %w", err)
		}
		xi, ok := fi.Sys().(*ext3.FileInfo)
		if !ok {
			return fmt.Errorf("reading tree: %s: no inode information", p)
		}
		out = append(out, node{Path: p, Info: xi})
		if !fi.IsDir() {
			return nil
		}
		ents, err := fsys.ReadDir(p)
		if err != nil {
			return fmt.Errorf("reading tree: %w", err)
		}
		for _, e := range ents {
			if p == "." && e.Name() == "lost+found" {
				continue
			}
			if err := walk(path.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	return out, nil
}

// fileType is the S_IFMT part of a raw mode.
func fileType(raw uint16) uint16 { return raw & 0xF000 }

const (
	sIFSOCK = 0xC000
	sIFLNK  = 0xA000
	sIFREG  = 0x8000
	sIFBLK  = 0x6000
	sIFDIR  = 0x4000
	sIFCHR  = 0x2000
	sIFIFO  = 0x1000
)

var _ fs.FileInfo = (*ext3.FileInfo)(nil)
