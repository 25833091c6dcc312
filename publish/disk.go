package publish

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// TableType is a partition table layout.
type TableType string

const (
	MBR TableType = "mbr"
	GPT TableType = "gpt"
)

const (
	sector   = 512
	alignMiB = 1 << 20
)

// DiskLayout is where the partitions of a whole-disk image lie, in bytes.
type DiskLayout struct {
	Table                TableType
	RootOffset, RootSize int64
	SwapOffset, SwapSize int64 // SwapSize 0: no swap partition
	Size                 int64
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// NewDiskLayout places root at 1 MiB and swap at the next MiB boundary
// after it; GPT keeps 1 MiB at the end for the backup table.
func NewDiskLayout(t TableType, rootSize, swapSize int64) DiskLayout {
	l := DiskLayout{Table: t, RootOffset: alignMiB, RootSize: alignUp(rootSize, sector), SwapSize: alignUp(swapSize, sector)}
	end := alignUp(l.RootOffset+l.RootSize, alignMiB)
	if swapSize > 0 {
		l.SwapOffset = end
		end = alignUp(l.SwapOffset+l.SwapSize, alignMiB)
	}
	if t == GPT {
		end += alignMiB
	}
	l.Size = end
	return l
}

// derivedGUID is a version-4-shaped GUID from seed: deterministic, and
// different for every seed.
func derivedGUID(seed string) string {
	h := sha256.Sum256([]byte("xenimg publish " + seed))
	h[6] = h[6]&0x0F | 0x40
	h[8] = h[8]&0x3F | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// WriteDisk writes a sparse whole-disk image to path: the partition table,
// root's used blocks in partition 1 (unused blocks stay holes, read as
// zeros) and swap's non-zero 4 KiB blocks in partition 2 (swap may be
// ""). seed (the image's SHA256) makes the disk identifier and GPT GUIDs.
func WriteDisk(ctx context.Context, path string, t TableType, root *Source, swap, seed string) (DiskLayout, error) {
	var swapSize int64
	if swap != "" {
		st, err := os.Stat(swap)
		if err != nil {
			return DiskLayout{}, fmt.Errorf("writing disk image: %w", err)
		}
		swapSize = st.Size()
	}
	l := NewDiskLayout(t, root.Size, swapSize)
	f, err := os.Create(path)
	if err != nil {
		return l, fmt.Errorf("writing disk image: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(l.Size); err != nil {
		return l, fmt.Errorf("writing disk image %s: %w", path, err)
	}
	if err := writeTable(f, l, seed); err != nil {
		return l, fmt.Errorf("writing the partition table of %s: %w", path, err)
	}
	if err := copyUsed(ctx, root, io.NewOffsetWriter(f, l.RootOffset)); err != nil {
		return l, fmt.Errorf("writing partition 1 of %s: %w", path, err)
	}
	if swap != "" {
		if err := copyNonZero(ctx, swap, io.NewOffsetWriter(f, l.SwapOffset)); err != nil {
			return l, fmt.Errorf("writing partition 2 of %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return l, fmt.Errorf("writing disk image %s: %w", path, err)
	}
	return l, nil
}

func writeTable(f *os.File, l DiskLayout, seed string) error {
	switch l.Table {
	case MBR:
		parts := []*mbr.Partition{{Index: 1, Bootable: true, Type: mbr.Linux,
			Start: uint32(l.RootOffset / sector), Size: uint32(l.RootSize / sector)}}
		if l.SwapSize > 0 {
			parts = append(parts, &mbr.Partition{Index: 2, Type: mbr.LinuxSwap,
				Start: uint32(l.SwapOffset / sector), Size: uint32(l.SwapSize / sector)})
		}
		if l.Size/sector > 0xFFFFFFFF {
			return fmt.Errorf("disk of %d bytes is too big for MBR (2 TiB); use GPT", l.Size)
		}
		for _, p := range parts { // CHS: "use LBA" as fdisk writes for big disks
			p.StartHead, p.StartSector, p.StartCylinder = 0xFE, 0xFF, 0xFF
			p.EndHead, p.EndSector, p.EndCylinder = 0xFE, 0xFF, 0xFF
		}
		tbl := &mbr.Table{Partitions: parts, LogicalSectorSize: sector, PhysicalSectorSize: sector}
		if err := tbl.Write(f, l.Size); err != nil {
			return err
		}
		// The disk identifier (root=PARTUUID=xxxxxxxx-01).
		h := sha256.Sum256([]byte("xenimg publish disk id " + seed))
		var id [4]byte
		binary.LittleEndian.PutUint32(id[:], binary.LittleEndian.Uint32(h[:4])|1)
		_, err := f.WriteAt(id[:], 440)
		return err
	case GPT:
		parts := []*gpt.Partition{{Index: 1, Type: gpt.LinuxFilesystem, Name: "root", GUID: derivedGUID(seed + " root"),
			Start: uint64(l.RootOffset / sector), End: uint64((l.RootOffset+l.RootSize)/sector - 1), Size: uint64(l.RootSize)}}
		if l.SwapSize > 0 {
			parts = append(parts, &gpt.Partition{Index: 2, Type: gpt.LinuxSwap, Name: "swap", GUID: derivedGUID(seed + " swap"),
				Start: uint64(l.SwapOffset / sector), End: uint64((l.SwapOffset+l.SwapSize)/sector - 1), Size: uint64(l.SwapSize)})
		}
		tbl := &gpt.Table{Partitions: parts, LogicalSectorSize: sector, PhysicalSectorSize: sector,
			ProtectiveMBR: true, GUID: derivedGUID(seed + " disk")}
		return tbl.Write(f, l.Size)
	}
	return fmt.Errorf("unknown partition table %q (mbr or gpt)", l.Table)
}

// copyUsed writes the used ranges of src to w at the same offsets.
func copyUsed(ctx context.Context, src *Source, w io.WriterAt) error {
	buf := make([]byte, 1<<20)
	for _, sp := range src.spans {
		for off := sp.Off; off < sp.Off+sp.Len; off += int64(len(buf)) {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := buf[:min(int64(len(buf)), sp.Off+sp.Len-off)]
			if _, err := src.f.ReadAt(b, off); err != nil {
				return fmt.Errorf("reading %s at byte %d: %w", src.Path, off, err)
			}
			if _, err := w.WriteAt(b, off); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyNonZero writes the 4 KiB blocks of the file at path that are not all
// zeros to w at the same offsets.
func copyNonZero(ctx context.Context, path string, w io.WriterAt) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(f, buf)
		for i := 0; i < n; i += 4096 {
			b := buf[i:min(i+4096, n)]
			if !allZero(b) {
				if _, err := w.WriteAt(b, off+int64(i)); err != nil {
					return err
				}
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
