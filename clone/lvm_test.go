package clone_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/clone"
	"github.com/xenimg/xenimg/clone/lvm"
	"github.com/xenimg/xenimg/internal/testenv"
)

// oldData fills a test PV before lvm2 sees it: a slave that shows it
// exposes what its disk held before.
var oldData = []byte("OLD PV DATA MARK")

// loopVG makes a volume group on a loop device backed by a sparse file of
// size bytes, and a client that sees only that device.
func loopVG(t *testing.T, name string, size int64) *lvm.Client {
	t.Helper()
	testenv.Root(t)
	lvmBin := testenv.Tool(t, "lvm")
	losetup := testenv.Tool(t, "losetup")
	img := filepath.Join(t.TempDir(), "pv.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Old data everywhere, as on a used disk: lvcreate does not zero
	// (-Zn), so clone must write every used block, zeros included.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat(oldData, (1<<20)/len(oldData))
	for off := int64(0); off < size; off += int64(len(junk)) {
		if _, err := f.WriteAt(junk, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
	if err != nil {
		if !testenv.InCI() {
			t.Skipf("no loop device: losetup: %v\n%s", err, out)
		}
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	})
	cfg := fmt.Sprintf(`devices { use_devicesfile = 0 filter = [ "a|^%s$|", "r|.*|" ] }`, dev)
	lvmRun := func(args ...string) string {
		t.Helper()
		full := append([]string{args[0], "--driverloaded", "n", "--config", cfg}, args[1:]...)
		c := exec.Command(lvmBin, full...)
		c.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1", "LC_ALL=C")
		out, err := c.Output()
		if err != nil {
			t.Fatalf("lvm %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	lvmRun("pvcreate", dev)
	lvmRun("vgcreate", "--physicalextentsize", "4m", name, dev)
	t.Cleanup(func() {
		lvmRun("vgremove", "--force", name)
		lvmRun("pvremove", dev)
	})
	return &lvm.Client{Path: lvmBin, Config: cfg}
}

// TestCloneLVM clones 4 slaves into a VG on a loop device (no
// device-mapper: written through the PV), checks lvs, and reads every LV
// back through the PV for e2fsck and its host name.
func TestCloneLVM(t *testing.T) {
	testenv.Tool(t, "e2fsck")
	testenv.Tool(t, "debugfs")
	testenv.Tool(t, "blkid")
	vg := "xenimg_clone_test"
	client := loopVG(t, vg, 740<<20)
	dir := makeTemplate(t, tmplOptions{filler: 4 << 20})
	ctx := context.Background()
	c, err := clone.New(ctx, clone.Options{From: dir, N: 4, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// lvs: names and sizes.
	out, err := exec.Command(client.Path, "lvs", "--driverloaded", "n", "--config", client.Config, "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size", vg).Output()
	if err != nil {
		t.Fatalf("lvs: %v", err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		got[f[0]] = f[1]
	}
	if len(got) != 8 {
		t.Errorf("lvs lists %v, want 8 volumes", got)
	}
	for n := 1; n <= 4; n++ {
		h := fmt.Sprintf("slave%d", n)
		rootLV, swapLV := fmt.Sprintf("Debian_Slave%d_Root", n), fmt.Sprintf("Debian_Slave%d_Swap", n)
		if got[rootLV] != fmt.Sprint(64<<20) || got[swapLV] != fmt.Sprint(16<<20) {
			t.Errorf("%s: lvs sizes %s=%s %s=%s", h, rootLV, got[rootLV], swapLV, got[swapLV])
		}
		root := copyLV(t, client, vg, rootLV)
		e2fsck(t, root)
		if hn := debugfsCat(t, root, "/etc/hostname"); hn != h+"\n" {
			t.Errorf("%s: /etc/hostname %q", h, hn)
		}
		if s := debugfsCat(t, root, "/etc/network/interfaces"); !strings.Contains(s, fmt.Sprintf("address 10.0.0.%d\n", 10+n)) {
			t.Errorf("%s: interfaces:\n%s", h, s)
		}
		if f := debugfsCat(t, root, "/usr/share/filler/f0003"); len(f) != 1<<20 {
			t.Errorf("%s: filler file has %d bytes", h, len(f))
		}
		sw := copyLV(t, client, vg, swapLV)
		for _, p := range []string{root, sw} {
			if data, err := os.ReadFile(p); err != nil || bytes.Contains(data, oldData) {
				t.Errorf("%s: %s shows what the PV held before (%v)", h, filepath.Base(p), err)
			}
		}
		if out, err := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", sw).Output(); err != nil || strings.TrimSpace(string(out)) != "swap" {
			t.Errorf("%s: swap LV: blkid %v %q", h, err, out)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "xen", h+".cfg"))
		if !strings.Contains(string(cfg), "/dev/"+vg+"/"+rootLV) {
			t.Errorf("%s: domain config:\n%s", h, cfg)
		}
	}
	// No room for six more slaves (480 MiB, 420 free): refused before any
	// volume is made.
	_, err = clone.New(ctx, clone.Options{From: dir, N: 10, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client})
	if !errors.Is(err, lvm.ErrNoSpace) {
		t.Errorf("10 slaves in a full VG: got %v, want ErrNoSpace", err)
	}
	// --force makes the new volumes before it drops the old ones: 6
	// slaves need 480 MiB even though 4 of them exist.
	_, err = clone.New(ctx, clone.Options{From: dir, N: 6, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client, Force: true})
	if !errors.Is(err, lvm.ErrNoSpace) {
		t.Errorf("--force of 6 slaves in a VG with room for 5: got %v, want ErrNoSpace", err)
	}
	// A --force run stopped after its first slave leaves every slave as
	// it was: the old volumes go only once all new ones are made.
	before := lvState(t, client, vg)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err = clone.New(cctx, clone.Options{From: dir, N: 4, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client, Force: true, Jobs: 1,
		Log: slog.New(cancelOn{"made slave", cancel})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled --force run: got %v, want context.Canceled", err)
	}
	sameLVs(t, "after a cancelled --force run", before, lvState(t, client, vg))
	// An existing LV that is not a slave is refused without --force.
	if err := client.Remove(ctx, vg, "Debian_Slave4_Swap"); err != nil {
		t.Fatal(err)
	}
	_, err = clone.New(ctx, clone.Options{From: dir, N: 4, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client})
	if !errors.Is(err, clone.ErrExists) || !strings.Contains(err.Error(), "slave4") || !strings.Contains(err.Error(), "Debian_Slave4_Root") {
		t.Errorf("half a slave: got %v", err)
	}
	// --force remakes it.
	c, err = clone.New(ctx, clone.Options{From: dir, N: 4, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	before = lvState(t, client, vg)
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e2fsck(t, copyLV(t, client, vg, "Debian_Slave4_Root"))
	after := lvState(t, client, vg)
	if len(after) != 8 {
		t.Errorf("after --force, lvs lists %d volumes, want 8 (no staging or old ones left)", len(after))
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("after --force, %s is missing", name)
		}
	}
	// A run killed between its renames left slave2's root under its old
	// name and a staged volume: the next run puts the one back, removes
	// the other, and keeps every slave.
	if err := client.Rename(ctx, vg, "Debian_Slave2_Root", "Debian_Slave2_Root.xenimg-old"); err != nil {
		t.Fatal(err)
	}
	if err := client.Create(ctx, vg, "Debian_Slave3_Swap.xenimg-new", 1<<20); err != nil {
		t.Fatal(err)
	}
	c, err = clone.New(ctx, clone.Options{From: dir, N: 4, Target: "lvm:" + vg, Seed: testSeed(5), LVM: client})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Made) != 0 || len(res.Kept) != 4 {
		t.Errorf("after a killed run: made %v, kept %v; want all 4 kept", res.Made, res.Kept)
	}
	sameLVs(t, "after recovering a killed run", after, lvState(t, client, vg))
}

// cancelOn is a log handler that cancels a context on a given message.
type cancelOn struct {
	msg    string
	cancel context.CancelFunc
}

func (h cancelOn) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.cancel()
	}
	return nil
}
func (h cancelOn) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOn) WithGroup(string) slog.Handler      { return h }

// lvState returns a hash of every LV of vg, by name.
func lvState(t *testing.T, c *lvm.Client, vg string) map[string]string {
	t.Helper()
	names, err := c.List(context.Background(), vg)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, n := range names {
		p := copyLV(t, c, vg, n)
		st[n] = fileHash(t, p)
		os.Remove(p)
	}
	return st
}

func sameLVs(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: LV %s changed or went", what, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s: LV %s appeared", what, k)
		}
	}
}

// copyLV reads an LV through its PV into a file.
func copyLV(t *testing.T, c *lvm.Client, vg, lv string) string {
	t.Helper()
	v, err := c.Open(context.Background(), vg, lv, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	p := filepath.Join(t.TempDir(), lv+".img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, io.NewSectionReader(v, 0, v.Size())); err != nil {
		t.Fatal(err)
	}
	return p
}
