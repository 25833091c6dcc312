package ext3

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// AddDir copies a host directory tree into the image under prefix ("" for
// the root), keeping owners, modes, times, device numbers and hard links
// (by device and inode number). The root of dir sets the attributes of
// prefix. Entries are added in lexical order (filepath.WalkDir), so the
// image does not depend on the host's directory order. Small files are read
// ahead by two goroutines while the image is written.
func (w *Writer) AddDir(dir, prefix string) error {
	type devIno struct{ dev, ino uint64 }
	type item struct {
		h    Header
		path string
		data []byte
		err  error
		done chan struct{}
	}
	seen := map[devIno]string{}
	var items []*item
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
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
				items = append(items, &item{h: Header{Name: name, Hardlink: first}})
				return nil
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
		items = append(items, &item{h: h, path: p})
		return nil
	})
	if err != nil {
		return err
	}

	// Read-ahead of small files, bounded in bytes, in order.
	const small = 1 << 20
	const window = 64 << 20
	for _, it := range items {
		if it.h.Mode.IsRegular() && it.h.Hardlink == "" && it.h.Size > 0 && it.h.Size <= small {
			it.done = make(chan struct{})
		}
	}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inflight := int64(0)
	stop := false
	work := make(chan *item)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				it.data, it.err = readSmall(it.path, it.h.Size)
				close(it.done)
			}
		}()
	}
	go func() {
		defer close(work)
		for _, it := range items {
			if it.done == nil {
				continue
			}
			mu.Lock()
			for inflight > window && !stop {
				cond.Wait()
			}
			if stop {
				mu.Unlock()
				return
			}
			inflight += it.h.Size
			mu.Unlock()
			work <- it
		}
	}()
	finish := func() {
		mu.Lock()
		stop = true
		cond.Broadcast()
		mu.Unlock()
		wg.Wait() // the producer stops, the readers drain
	}
	buf := make([]byte, 1<<20)
	for _, it := range items {
		if err := w.WriteHeader(&it.h); err != nil {
			finish()
			return err
		}
		if it.done != nil {
			<-it.done
			if it.err == nil {
				_, it.err = w.Write(it.data)
			}
			mu.Lock()
			inflight -= it.h.Size
			it.data = nil
			cond.Broadcast()
			mu.Unlock()
			if it.err != nil {
				finish()
				return fmt.Errorf("copying %s: %w", it.path, it.err)
			}
		} else if it.h.Size > 0 && it.h.Hardlink == "" {
			f, err := os.Open(it.path)
			if err != nil {
				finish()
				return err
			}
			_, err = io.CopyBuffer(w, io.LimitReader(f, it.h.Size), buf)
			f.Close()
			if err != nil {
				finish()
				return fmt.Errorf("copying %s: %w", it.path, err)
			}
		}
	}
	wg.Wait()
	return nil
}

func readSmall(p string, size int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading %s (%d bytes): %w", p, size, err)
	}
	return b, nil
}
