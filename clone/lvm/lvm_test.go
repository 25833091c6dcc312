package lvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// testVG makes a VG named name on npv loop devices of 16 MiB each, with
// 1 MiB extents, and a Client that sees only those devices. Everything is
// torn down in t.Cleanup.
func testVG(t testing.TB, name string, npv int) (*Client, []string) {
	t.Helper()
	testenv.Root(t)
	lvmBin := testenv.Tool(t, "lvm")
	losetup := testenv.Tool(t, "losetup")
	testenv.Tool(t, "lvcreate")

	dir := t.TempDir()
	var devs []string
	for i := range npv {
		img := filepath.Join(dir, fmt.Sprintf("pv%d.img", i))
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 16<<20); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
		if err != nil {
			if !testenv.InCI() {
				t.Skipf("no loop device: losetup: %v\n%s", err, out)
			}
			t.Fatalf("losetup: %v\n%s", err, out)
		}
		dev := strings.TrimSpace(string(out))
		devs = append(devs, dev)
		t.Cleanup(func() {
			if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
			}
		})
	}
	var accept []string
	for _, d := range devs {
		accept = append(accept, fmt.Sprintf(`"a|^%s$|"`, d))
	}
	c := &Client{Path: lvmBin, Config: fmt.Sprintf("devices { use_devicesfile = 0 filter = [ %s, \"r|.*|\" ] }", strings.Join(accept, ", "))}
	ctx := context.Background()
	if _, err := c.run(ctx, "pvcreate", devs...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run(ctx, "vgcreate", append([]string{"--physicalextentsize", "1m", name}, devs...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.run(ctx, "vgremove", "--force", name); err != nil {
			t.Errorf("vgremove: %v", err)
		}
		if _, err := c.run(ctx, "pvremove", devs...); err != nil {
			t.Errorf("pvremove: %v", err)
		}
	})
	return c, devs
}

func pattern(seed uint64, n int64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ddLV reads an LV's bytes with dd from its PVs, at the offsets lvs and pvs
// report (JSON reports, parsed independently of the package).
func ddLV(t *testing.T, c *Client, vg, lv string) []byte {
	t.Helper()
	dd := testenv.Tool(t, "dd")
	ctx := context.Background()
	out, err := c.run(ctx, "pvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "pv_name,pe_start")
	if err != nil {
		t.Fatal(err)
	}
	var pvs struct {
		Report []struct {
			PV []struct {
				Name    string `json:"pv_name"`
				PEStart string `json:"pe_start"`
			} `json:"pv"`
		} `json:"report"`
	}
	if err := json.Unmarshal(out, &pvs); err != nil {
		t.Fatalf("pvs json: %v\n%s", err, out)
	}
	peStart := map[string]int64{}
	for _, p := range pvs.Report[0].PV {
		peStart[p.Name], _ = strconv.ParseInt(p.PEStart, 10, 64)
	}
	out, err = c.run(ctx, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--segments",
		"-o", "seg_pe_ranges,seg_start_pe,vg_extent_size", vg+"/"+lv)
	if err != nil {
		t.Fatal(err)
	}
	var segs struct {
		Report []struct {
			Seg []struct {
				Ranges string `json:"seg_pe_ranges"`
				Start  string `json:"seg_start_pe"`
				Extent string `json:"vg_extent_size"`
			} `json:"seg"`
		} `json:"report"`
	}
	if err := json.Unmarshal(out, &segs); err != nil {
		t.Fatalf("lvs json: %v\n%s", err, out)
	}
	var all []byte
	for _, s := range segs.Report[0].Seg {
		var dev string
		var first, last int64
		if _, err := fmt.Sscanf(strings.Replace(s.Ranges, ":", " ", 1), "%s %d-%d", &dev, &first, &last); err != nil {
			t.Fatalf("seg_pe_ranges %q: %v", s.Ranges, err)
		}
		ext, _ := strconv.ParseInt(s.Extent, 10, 64)
		off := peStart[dev] + first*ext
		cnt := (last - first + 1) * ext
		b, err := exec.Command(dd, "if="+dev, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off), fmt.Sprintf("count=%d", cnt), "bs=1M", "status=none").Output()
		if err != nil {
			t.Fatalf("dd %s: %v", dev, err)
		}
		if int64(len(b)) != cnt {
			t.Fatalf("dd %s returned %d bytes, want %d", dev, len(b), cnt)
		}
		all = append(all, b...)
	}
	return all
}

func TestProvisionAndWriteThroughPV(t *testing.T) {
	vg := fmt.Sprintf("xenimgtest%d", os.Getpid())
	c, devs := testVG(t, vg, 2)
	ctx := context.Background()

	info, err := c.VG(ctx, vg)
	if err != nil {
		t.Fatal(err)
	}
	if info.ExtentSize != 1<<20 || len(info.PVs) != 2 || info.Free != info.Size || info.Size < 28<<20 {
		t.Fatalf("VG info %+v", info)
	}
	for _, pv := range info.PVs {
		if pv.PEStart <= 0 || (pv.Device != devs[0] && pv.Device != devs[1]) {
			t.Errorf("PV %+v", pv)
		}
	}

	// a: 6 MiB, b: 3.5 MiB rounded up to 4, then a grows by 16 MiB so it
	// has a second segment after b and crosses onto the second PV.
	if err := c.Create(ctx, vg, "Debian_Slave1_Root", 6<<20); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, vg, "Debian_Slave1_Swap", 7<<19); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run(ctx, "lvextend", "--extents", "+16", vg+"/Debian_Slave1_Root"); err != nil {
		t.Fatal(err)
	}

	segs, _, err := c.Segments(ctx, vg, "Debian_Slave1_Root")
	if err != nil {
		t.Fatal(err)
	}
	onDevs := map[string]bool{}
	for _, s := range segs {
		onDevs[s.Device] = true
	}
	if len(segs) < 3 || len(onDevs) != 2 {
		t.Fatalf("root LV segments %+v: want three or more across both PVs", segs)
	}

	// lvs sees both LVs with the right sizes.
	out, err := c.run(ctx, "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size", vg)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(string(out)), " ")
	if got != fmt.Sprintf("Debian_Slave1_Root %d Debian_Slave1_Swap %d", 22<<20, 4<<20) {
		t.Errorf("lvs -o lv_name,lv_size: %q", got)
	}

	// Write both LVs in uneven chunks, so writes straddle extents,
	// segments and PVs.
	want := map[string][]byte{}
	for i, name := range []string{"Debian_Slave1_Swap", "Debian_Slave1_Root"} {
		v, err := c.Open(ctx, vg, name, os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		data := pattern(uint64(i+1), v.Size())
		for off := int64(0); off < v.Size(); {
			n := min(int64(777777), v.Size()-off)
			if m, err := v.WriteAt(data[off:off+n], off); err != nil || int64(m) != n {
				t.Fatalf("WriteAt(%d, %d) = %d, %v", n, off, m, err)
			}
			off += n
		}
		if _, err := v.WriteAt([]byte{1}, v.Size()); err == nil {
			t.Error("WriteAt past the end succeeded")
		}
		if err := v.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}

	// The reference: dd from the PVs at the offsets lvm2 reports.
	for name, data := range want {
		if got := ddLV(t, c, vg, name); !bytes.Equal(got, data) {
			t.Errorf("%s: dd from the PVs differs from what was written (%d vs %d bytes)", name, len(got), len(data))
		}
		v, err := c.Open(ctx, vg, name, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(io.NewSectionReader(v, 0, v.Size()+100))
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("%s: ReadAt gives other bytes (%d, %v)", name, len(back), err)
		}
		if n, err := v.ReadAt(make([]byte, 10), v.Size()-5); n != 5 || err != io.EOF {
			t.Errorf("%s: ReadAt across the end = %d, %v", name, n, err)
		}
		v.Close()
	}

	// Bad input: existing LV, missing VG, no room, missing LV.
	err = c.Create(ctx, vg, "Debian_Slave1_Root", 1<<20)
	if !errors.Is(err, ErrLVExists) || !strings.Contains(err.Error(), vg+"/Debian_Slave1_Root") {
		t.Errorf("Create existing: %v", err)
	}
	err = c.Create(ctx, "xenimg-no-such-vg", "x", 1<<20)
	if !errors.Is(err, ErrVGNotFound) || !strings.Contains(err.Error(), `"xenimg-no-such-vg"`) {
		t.Errorf("Create on missing VG: %v", err)
	}
	err = c.Create(ctx, vg, "big", 1<<30)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "1 GiB needed") {
		t.Errorf("Create too big: %v", err)
	}
	if _, err := c.Open(ctx, vg, "nope", os.O_RDONLY); !errors.Is(err, ErrLVNotFound) {
		t.Errorf("Open missing LV: %v", err)
	}

	// Zero: a range across segments and PVs reads back as zeros, the
	// rest is untouched.
	{
		v, err := c.Open(ctx, vg, "Debian_Slave1_Root", os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		off, n := int64(3<<20+512), int64(14<<20)
		if err := v.Zero(off, n); err != nil {
			t.Fatal(err)
		}
		if err := v.Zero(1, 512); err == nil {
			t.Error("Zero at an unaligned offset succeeded")
		}
		v.Close()
		w := bytes.Clone(want["Debian_Slave1_Root"])
		clear(w[off : off+n])
		if got := ddLV(t, c, vg, "Debian_Slave1_Root"); !bytes.Equal(got, w) {
			t.Errorf("after Zero, dd from the PVs shows other bytes")
		}
		want["Debian_Slave1_Root"] = w
	}

	// Rename keeps the data (metadata only, no device-mapper needed).
	if err := c.Rename(ctx, vg, "Debian_Slave1_Swap", "Debian_Slave1_Swap.new"); err != nil {
		t.Fatal(err)
	}
	if got := ddLV(t, c, vg, "Debian_Slave1_Swap.new"); !bytes.Equal(got, want["Debian_Slave1_Swap"]) {
		t.Errorf("renamed LV: other bytes")
	}
	if names, err := c.List(ctx, vg); err != nil || strings.Join(names, " ") != "Debian_Slave1_Root Debian_Slave1_Swap.new" {
		t.Errorf("List after Rename = %q, %v", names, err)
	}
	if err := c.Rename(ctx, vg, "Debian_Slave1_Swap.new", "Debian_Slave1_Root"); !errors.Is(err, ErrLVExists) {
		t.Errorf("Rename onto an existing LV: %v", err)
	}
	if err := c.Rename(ctx, vg, "nope", "nope2"); !errors.Is(err, ErrLVNotFound) {
		t.Errorf("Rename of a missing LV: %v", err)
	}
	if err := c.Rename(ctx, vg, "Debian_Slave1_Swap.new", "Debian_Slave1_Swap"); err != nil {
		t.Fatal(err)
	}

	// Remove.
	if err := c.Remove(ctx, vg, "Debian_Slave1_Swap"); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists(ctx, vg, "Debian_Slave1_Swap"); ok || err != nil {
		t.Errorf("Exists after Remove = %v, %v", ok, err)
	}
	if ok, err := c.Exists(ctx, vg, "Debian_Slave1_Root"); !ok || err != nil {
		t.Errorf("Exists(root) = %v, %v", ok, err)
	}
	if err := c.Remove(ctx, vg, "Debian_Slave1_Swap"); !errors.Is(err, ErrLVNotFound) {
		t.Errorf("second Remove: %v", err)
	}
}

func TestNamesAndMessages(t *testing.T) {
	ctx := context.Background()
	c := &Client{Path: "/nonexistent/lvm"}
	for _, n := range []string{"", "-x", "a/b", "a b"} {
		if _, err := c.VG(ctx, n); err == nil || !strings.Contains(err.Error(), "volume group name") {
			t.Errorf("VG(%q): %v", n, err)
		}
	}
	msg := messages([]byte("  WARNING: Activation disabled. No device-mapper interaction will be attempted.\n  /dev/mapper/control: open failed: No such device\n  Volume group \"x\" not found\n  Cannot process volume group x\n"))
	if msg != `Volume group "x" not found; Cannot process volume group x` {
		t.Errorf("messages: %q", msg)
	}
	if _, err := c.VG(ctx, "xen"); err == nil || !strings.Contains(err.Error(), "lvm: vgs") {
		t.Errorf("VG with a missing binary: %v", err)
	}
}

// BenchmarkWriteThroughPV measures Volume.WriteAt on a loop-device PV in
// 1 MiB writes (page cache: what a clone onto an inactive LV costs before
// the final sync).
func BenchmarkWriteThroughPV(b *testing.B) {
	vg := fmt.Sprintf("xenimgbench%d", os.Getpid())
	c, _ := testVG(b, vg, 2)
	ctx := context.Background()
	if err := c.Create(ctx, vg, "bench", 30<<20); err != nil {
		b.Fatal(err)
	}
	v, err := c.Open(ctx, vg, "bench", os.O_RDWR)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	buf := pattern(1, 1<<20)
	b.SetBytes(v.Size())
	b.ResetTimer()
	for range b.N {
		for off := int64(0); off < v.Size(); off += int64(len(buf)) {
			if _, err := v.WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := v.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateRemove measures the lvm2 metadata round trips of one
// Create and one Remove (three lvm2 runs each).
func BenchmarkCreateRemove(b *testing.B) {
	vg := fmt.Sprintf("xenimgbench%d", os.Getpid())
	c, _ := testVG(b, vg, 1)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := c.Create(ctx, vg, "bench", 1<<20); err != nil {
			b.Fatal(err)
		}
		if err := c.Remove(ctx, vg, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
