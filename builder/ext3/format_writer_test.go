package ext3

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestFormatSizes(t *testing.T) {
	if n := binary.Size(&SuperBlock{}); n != SuperBlockSize {
		t.Errorf("SuperBlock encodes to %d bytes, want %d", n, SuperBlockSize)
	}
	if n := binary.Size(&JournalSuperBlock{}); n != JournalSuperBlockSize {
		t.Errorf("JournalSuperBlock encodes to %d bytes, want %d", n, JournalSuperBlockSize)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	sb := SuperBlock{InodesCount: 1, BlocksCount: 2, Magic: SuperMagic, InodeSize: 256, Flags: 7, WantExtraIsize: 32}
	sb.HashSeed[3] = 0xdeadbeef
	sb.UUID[15] = 9
	b, _ := sb.MarshalBinary()
	if le.Uint16(b[0x38:]) != SuperMagic || le.Uint16(b[0x58:]) != 256 || le.Uint32(b[0x160:]) != 7 || le.Uint32(b[0xEC+12:]) != 0xdeadbeef || b[0x68+15] != 9 || le.Uint16(b[0x15E:]) != 32 {
		t.Fatalf("superblock fields at wrong offsets")
	}
	var sb2 SuperBlock
	if err := sb2.UnmarshalBinary(b); err != nil || sb2 != sb {
		t.Fatalf("superblock round trip: %v", err)
	}
	if err := sb2.UnmarshalBinary(b[:100]); !errors.Is(err, ErrShort) {
		t.Fatalf("short superblock: %v", err)
	}

	in := Inode{Mode: S_IFREG | 0644, Size: 5, Block: [15]uint32{1, 2, 14: 15}, UidHigh: 3, ExtraIsize: 32, Crtime: 77, Projid: 5}
	ib := make([]byte, 256)
	in.Put(ib)
	if le.Uint32(ib[0x28+14*4:]) != 15 || le.Uint16(ib[0x78:]) != 3 || le.Uint32(ib[0x90:]) != 77 || le.Uint32(ib[0x9C:]) != 5 {
		t.Fatalf("inode fields at wrong offsets")
	}
	var in2 Inode
	if err := in2.UnmarshalBinary(ib); err != nil || in2 != in {
		t.Fatalf("inode round trip: %v %+v", err, in2)
	}
	if err := in2.UnmarshalBinary(ib[:127]); !errors.Is(err, ErrShort) {
		t.Fatalf("short inode: %v", err)
	}

	gd := GroupDesc{BlockBitmap: 1, InodeBitmap: 2, InodeTable: 3, FreeBlocksCount: 4, FreeInodesCount: 5, UsedDirsCount: 6, Checksum: 9}
	gb, _ := gd.MarshalBinary()
	var gd2 GroupDesc
	if err := gd2.UnmarshalBinary(gb); err != nil || gd2 != gd {
		t.Fatalf("group desc round trip: %v", err)
	}

	de := DirEntry{Inode: 12, RecLen: 16, NameLen: 3, FileType: EXT2_FT_DIR, Name: "abc"}
	db, _ := de.MarshalBinary()
	de2, err := UnmarshalDirEntry(db)
	if err != nil || de2 != de {
		t.Fatalf("dir entry round trip: %v %+v", err, de2)
	}
	if _, err := UnmarshalDirEntry(db[:12]); err == nil {
		t.Fatalf("dir entry with rec_len beyond buffer accepted")
	}

	js := JournalSuperBlock{Header: JournalHeader{Magic: JBD2_MAGIC_NUMBER, BlockType: JBD2_SUPERBLOCK_V2}, BlockSize: 4096, MaxLen: 1024, First: 1, NrUsers: 1}
	jb, _ := js.MarshalBinary()
	if binary.BigEndian.Uint32(jb[0x0C:]) != 4096 || binary.BigEndian.Uint32(jb[0x40:]) != 1 {
		t.Fatalf("journal superblock fields at wrong offsets")
	}
	var js2 JournalSuperBlock
	if err := js2.UnmarshalBinary(jb); err != nil || js2 != js {
		t.Fatalf("journal superblock round trip: %v", err)
	}
}

func TestDevEncoding(t *testing.T) {
	for _, c := range []struct{ maj, min uint32 }{{1, 3}, {8, 1}, {255, 255}, {259, 0}, {4095, 1048575}, {10, 300}} {
		var n Inode
		n.SetDevice(c.maj, c.min)
		if maj, min := n.Device(); maj != c.maj || min != c.min {
			t.Errorf("device %d:%d decoded as %d:%d", c.maj, c.min, maj, min)
		}
	}
}
