package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/qemutest"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestPublishedDiskBoots publishes the bookworm-pvm template and boots the
// whole-disk image (partition table, root on partition 1) like the root
// image boots.
func TestPublishedDiskBoots(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	out := bookwormPVM(t)
	pub := filepath.Join(t.TempDir(), "pub")
	run(t, xenimg, "publish", "-o", pub, out)
	run(t, xenimg, "verify", pub)
	disk := filepath.Join(pub, "bookworm-pvm.disk.img")
	if sf, err := exec.LookPath("sfdisk"); err == nil {
		if d := run(t, sf, "-d", disk); !strings.Contains(d, disk+"1") || !strings.Contains(d, disk+"2") {
			t.Errorf("sfdisk -d shows no root and swap partitions:\n%s", d)
		}
	}
	vm := qemutest.Boot(t, qemutest.Options{Image: disk, Root: "/dev/vda1", Snapshot: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, regexp.MustCompile(`template login:`)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(vm.Output(), "Timed out waiting for device") {
		t.Errorf("a device in fstab (the swap partition?) was not found:\n%s", vm.Tail(4000))
	}
}

// TestMirrorServesApt writes a lab mirror with one package more than the
// template has, and apt inside a copy of the template installs it from
// there: the verbatim signed indexes verify with the guest's own keyring.
func TestMirrorServesApt(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	out := bookwormPVM(t)
	data, err := os.ReadFile("../recipes/bookworm-pvm.toml")
	if err != nil {
		t.Fatal(err)
	}
	withHello := strings.Replace(string(data), `include    = [`, `include    = ["hello", `, 1)
	recipe := filepath.Join(t.TempDir(), "bookworm-pvm.toml")
	if err := os.WriteFile(recipe, []byte(withHello), 0o644); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(t.TempDir(), "mirror")
	run(t, xenimg, "mirror", "--cache", cacheDir(), recipe, mirror)

	root := filepath.Join(t.TempDir(), "root")
	run(t, "cp", "-a", mounted(t, filepath.Join(out, "root.img")), root)
	if err := os.MkdirAll(filepath.Join(root, "srv/mirror"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "--bind", mirror, filepath.Join(root, "srv/mirror"))
	defer exec.Command("umount", filepath.Join(root, "srv/mirror")).Run()
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte("deb file:///srv/mirror bookworm main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	for _, args := range [][]string{
		{"apt-get", "update"},
		{"apt-get", "install", "-y", "--no-install-recommends", "hello"},
	} {
		cmd := exec.Command("chroot", append([]string{root}, args...)...)
		cmd.Env = env
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chroot apt: %s: %v\n%s", strings.Join(args, " "), err, o)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/hello")); err != nil {
		t.Errorf("hello was not installed from the mirror: %v", err)
	}
}
