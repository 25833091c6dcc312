package ext3

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// AddDir copies a host directory tree into the image under prefix ("" for
// the root), keeping owners, modes, times, device numbers and hard links
// (by device and inode number). The root of dir sets the attributes of
// prefix. Entries are added in lexical order (filepath.WalkDir).
func (w *Writer) AddDir(dir, prefix string) error {
	type devIno struct{ dev, ino uint64 }
	seen := map[devIno]string{}
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat information", p)
		}
		h := Header{
			Name: name, Mode: fi.Mode(), Uid: st.Uid, Gid: st.Gid,
			ModTime:    time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
			AccessTime: time.Unix(st.Atim.Sec, st.Atim.Nsec),
			ChangeTime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec),
		}
		if !fi.IsDir() && st.Nlink > 1 {
			k := devIno{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := seen[k]; ok {
				return w.WriteHeader(&Header{Name: name, Hardlink: first})
			}
			seen[k] = name
		}
		switch fi.Mode().Type() {
		case 0:
			h.Size = fi.Size()
		case fs.ModeSymlink:
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
			rdev := uint64(st.Rdev)
			h.Devmajor = uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff)
			h.Devminor = uint32(rdev&0xff | (rdev>>12)&^0xff)
		}
		if err := w.WriteHeader(&h); err != nil {
			return err
		}
		if h.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(w, io.LimitReader(f, h.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("copying %s: %w", p, err)
			}
		}
		return nil
	})
}
