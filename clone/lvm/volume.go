package lvm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Segment is a run of an LV's logical extents on one PV.
type Segment struct {
	StartLE int64  // first logical extent
	Extents int64  // length in extents
	Device  string // PV device
	StartPE int64  // first physical extent on Device
	PEStart int64  // bytes from the start of Device to its extent 0
}

// Volume reads and writes an LV's contents through its PVs. It is an
// io.ReaderAt and io.WriterAt over [0, Size()).
type Volume struct {
	VG, Name   string
	ExtentSize int64 // bytes
	Segments   []Segment
	size       int64
	devs       map[string]*os.File
}

// Segments returns the extent map of vg/name from lvs --segments.
func (c *Client) Segments(ctx context.Context, vg, name string) ([]Segment, *VGInfo, error) {
	info, err := c.VG(ctx, vg)
	if err != nil {
		return nil, nil, err
	}
	if err := checkName("logical volume", name); err != nil {
		return nil, nil, err
	}
	rows, err := c.report(ctx, "lvs", "lv_name,segtype,stripes,seg_start_pe,seg_size_pe,seg_pe_ranges", "--segments", vg)
	if err != nil {
		return nil, nil, fmt.Errorf("reading segments of %s/%s: %w", vg, name, err)
	}
	pestart := map[string]int64{}
	for _, pv := range info.PVs {
		pestart[pv.Device] = pv.PEStart
	}
	var segs []Segment
	for _, r := range rows {
		if r[0] != name {
			continue
		}
		if r[1] != "linear" || r[2] != "1" {
			return nil, nil, fmt.Errorf("lvm: %s/%s has a %s segment with %s stripes: only linear LVs are supported", vg, name, r[1], r[2])
		}
		var s Segment
		if s.StartLE, err = parseInt("lvs", "seg_start_pe", r[3]); err != nil {
			return nil, nil, err
		}
		if s.Extents, err = parseInt("lvs", "seg_size_pe", r[4]); err != nil {
			return nil, nil, err
		}
		// seg_pe_ranges of a linear segment: "/dev/loop3:12-15".
		colon := strings.LastIndexByte(r[5], ':')
		dash := strings.LastIndexByte(r[5], '-')
		if colon < 0 || dash < colon {
			return nil, nil, fmt.Errorf("lvm: parsing seg_pe_ranges %q of %s/%s", r[5], vg, name)
		}
		s.Device = r[5][:colon]
		first, err := parseInt("lvs", "seg_pe_ranges", r[5][colon+1:dash])
		if err != nil {
			return nil, nil, err
		}
		last, err := parseInt("lvs", "seg_pe_ranges", r[5][dash+1:])
		if err != nil {
			return nil, nil, err
		}
		if last-first+1 != s.Extents {
			return nil, nil, fmt.Errorf("lvm: %s/%s segment %q spans %d extents, lvs says %d", vg, name, r[5], last-first+1, s.Extents)
		}
		s.StartPE = first
		var ok bool
		if s.PEStart, ok = pestart[s.Device]; !ok {
			return nil, nil, fmt.Errorf("lvm: %s/%s lies on %s, which is not a visible PV of %s", vg, name, s.Device, vg)
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return nil, nil, fmt.Errorf("reading segments of %s/%s: %w", vg, name, ErrLVNotFound)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].StartLE < segs[j].StartLE })
	var next int64
	for _, s := range segs {
		if s.StartLE != next {
			return nil, nil, fmt.Errorf("lvm: %s/%s has a hole at logical extent %d", vg, name, next)
		}
		next += s.Extents
	}
	return segs, info, nil
}

// Open maps vg/name and opens its PV devices with flag (os.O_RDONLY or
// os.O_RDWR).
func (c *Client) Open(ctx context.Context, vg, name string, flag int) (*Volume, error) {
	segs, info, err := c.Segments(ctx, vg, name)
	if err != nil {
		return nil, fmt.Errorf("opening %s/%s: %w", vg, name, err)
	}
	v := &Volume{VG: vg, Name: name, ExtentSize: info.ExtentSize, Segments: segs, devs: map[string]*os.File{}}
	for _, s := range segs {
		v.size += s.Extents * info.ExtentSize
		if v.devs[s.Device] != nil {
			continue
		}
		f, err := os.OpenFile(s.Device, flag, 0)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("opening %s/%s: %w", vg, name, err)
		}
		v.devs[s.Device] = f
	}
	return v, nil
}

// Size returns the LV's size in bytes.
func (v *Volume) Size() int64 { return v.size }

// locate returns the device, device offset and contiguous length for LV
// offset off (0 <= off < size).
func (v *Volume) locate(off int64) (*os.File, int64, int64) {
	le := off / v.ExtentSize
	i := sort.Search(len(v.Segments), func(i int) bool {
		s := v.Segments[i]
		return s.StartLE+s.Extents > le
	})
	s := v.Segments[i]
	segOff := off - s.StartLE*v.ExtentSize
	devOff := s.PEStart + s.StartPE*v.ExtentSize + segOff
	return v.devs[s.Device], devOff, s.Extents*v.ExtentSize - segOff
}

// ReadAt reads from the LV at off.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("lvm: reading %s/%s at negative offset %d", v.VG, v.Name, off)
	}
	n := 0
	for len(p) > 0 {
		if off >= v.size {
			return n, io.EOF
		}
		f, devOff, run := v.locate(off)
		chunk := p[:min(int64(len(p)), run)]
		m, err := f.ReadAt(chunk, devOff)
		n += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the PV is shorter than its metadata says
			}
			return n, fmt.Errorf("reading %s/%s at %d (%s at %d): %w", v.VG, v.Name, off, f.Name(), devOff, err)
		}
		p = p[m:]
		off += int64(m)
	}
	return n, nil
}

// WriteAt writes to the LV at off; writing past Size() is an error.
func (v *Volume) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > v.size {
		return 0, fmt.Errorf("lvm: writing %d bytes at %d to %s/%s of %d bytes: out of range", len(p), off, v.VG, v.Name, v.size)
	}
	n := 0
	for len(p) > 0 {
		f, devOff, run := v.locate(off)
		chunk := p[:min(int64(len(p)), run)]
		m, err := f.WriteAt(chunk, devOff)
		n += m
		if err != nil {
			return n, fmt.Errorf("writing %s/%s at %d (%s at %d): %w", v.VG, v.Name, off, f.Name(), devOff, err)
		}
		p = p[m:]
		off += int64(m)
	}
	return n, nil
}

// Sync flushes the PV devices.
func (v *Volume) Sync() error {
	for _, name := range v.devNames() {
		if err := v.devs[name].Sync(); err != nil {
			return fmt.Errorf("syncing %s/%s (%s): %w", v.VG, v.Name, name, err)
		}
	}
	return nil
}

// Close closes the PV devices.
func (v *Volume) Close() error {
	var first error
	for _, name := range v.devNames() {
		if err := v.devs[name].Close(); err != nil && first == nil {
			first = fmt.Errorf("closing %s/%s (%s): %w", v.VG, v.Name, name, err)
		}
	}
	v.devs = map[string]*os.File{}
	return first
}

func (v *Volume) devNames() []string {
	var names []string
	for n := range v.devs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrZeroUnsupported reports a PV that cannot zero a range by ioctl (a
// regular file, an old kernel): the caller writes zeros itself.
var ErrZeroUnsupported = errors.New("lvm: the physical volume cannot zero a range (BLKZEROOUT)")

// Zero sets [off, off+n) of the LV to zeros with BLKZEROOUT on its PVs:
// the kernel discards where the device guarantees zeroes after a
// discard, sends write-zeroes otherwise (a loop device turns either into
// fallocate on its backing file) or writes zero pages itself. The range
// must be 512-byte aligned. A device without the ioctl gives
// ErrZeroUnsupported.
func (v *Volume) Zero(off, n int64) error {
	if off < 0 || n < 0 || off+n > v.size || off%512 != 0 || n%512 != 0 {
		return fmt.Errorf("lvm: zeroing %d bytes at %d of %s/%s of %d bytes: out of range or not 512-byte aligned", n, off, v.VG, v.Name, v.size)
	}
	for n > 0 {
		f, devOff, run := v.locate(off)
		chunk := min(n, run)
		r := [2]uint64{uint64(devOff), uint64(chunk)}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&r)))
		if errno != 0 {
			if errno == unix.ENOTTY || errno == unix.EOPNOTSUPP || errno == unix.EINVAL {
				return fmt.Errorf("zeroing %s/%s (%s): %w: %v", v.VG, v.Name, f.Name(), ErrZeroUnsupported, errno)
			}
			return fmt.Errorf("zeroing %s/%s at %d (%s at %d): %w", v.VG, v.Name, off, f.Name(), devOff, errno)
		}
		off += chunk
		n -= chunk
	}
	return nil
}
