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

// TestFirstboot builds an unconfigured image (configure = "firstboot"),
// boots it with the domain config's init=, and checks that the guest
// configured itself: every package "ii", as a chroot build leaves it.
func TestFirstboot(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	out := build(t, "../recipes/minbase.toml",
		`variant    = "minbase"`, `variant    = "minbase"`+"\n"+`include    = ["systemd-sysv"]`,
		`configure  = "auto"`, `configure  = "firstboot"`,
		`hostname   = "minbase"`, `hostname   = "minbase"`+"\n"+`root_password = "firstboot"`)
	cfg, err := os.ReadFile(filepath.Join(out, "minbase.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "init=/sbin/xenimg-firstboot") {
		t.Fatalf("domain config does not boot through the first-boot script:\n%s", cfg)
	}
	before := run(t, "dpkg-query", "--admindir="+mounted(t, filepath.Join(out, "root.img"))+"/var/lib/dpkg", "-W", "-f", "${db:Status-Abbrev}\n")
	if strings.Contains(before, "ii") {
		t.Fatalf("a firstboot image is configured before its first boot:\n%s", before)
	}

	img := filepath.Join(t.TempDir(), "root.img")
	run(t, "cp", "--sparse=always", filepath.Join(out, "root.img"), img)
	vm := qemutest.Boot(t, qemutest.Options{Image: img, Swap: filepath.Join(out, "swap.img"), Snapshot: false,
		Append: "init=/sbin/xenimg-firstboot"})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, regexp.MustCompile(`xenimg-firstboot: packages configured`)); err != nil {
		t.Fatal(err)
	}
	if err := vm.WaitFor(ctx, regexp.MustCompile(`Reached target .*Multi-User System`)); err != nil {
		t.Fatal(err)
	}
	vm.Stop()

	// The guest was killed, not shut down: replay the journal first.
	if out, err := exec.Command(testenv.Tool(t, "e2fsck"), "-fy", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck -fy after the first boot: %v\n%s", err, out)
		}
	}
	run(t, testenv.Tool(t, "e2fsck"), "-fn", img)
	root := mounted(t, img)
	status := run(t, "dpkg-query", "--admindir="+root+"/var/lib/dpkg", "-W", "-f", "${db:Status-Abbrev} ${Package}\n")
	for _, l := range strings.Split(strings.TrimSpace(status), "\n") {
		if !strings.HasPrefix(l, "ii ") {
			t.Errorf("not configured after the first boot: %q", l)
		}
	}
	contains(t, root, "etc/passwd", "root:x:0:0")
	checkRootPassword(t, root, "firstboot")
	stub, err := os.ReadFile(filepath.Join(root, "sbin/xenimg-firstboot"))
	if err != nil || !strings.Contains(string(stub), "exec /sbin/init") || strings.Contains(string(stub), "dpkg --configure") {
		t.Errorf("the first-boot script was not replaced by its stub (%v):\n%s", err, stub)
	}
}
