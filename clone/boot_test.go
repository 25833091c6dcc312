package clone_test

import (
	"bytes"
	"context"
	"fmt"
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

// TestBootSlave is the end-to-end proof: xenimg build bookworm-pvm
// (configured in a chroot, real archive), xenimg clone --n 2, boot slave2
// in qemu (TCG, the host's kernel, the slave's MAC, user-mode network on
// the recipe's subnet), then the master's ssh_config logs in with the
// master's key and no prompt: hostname prints slave2 and ip addr shows
// 10.0.0.12.
func TestBootSlave(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a configured bookworm template and boots it: minutes")
	}
	testenv.Root(t)
	testenv.Network(t)
	sshBin := testenv.Tool(t, "ssh")
	testenv.Tool(t, "qemu-system-x86_64")
	qemutest.Kernel(t)

	bin := filepath.Join(t.TempDir(), "xenimg")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/xenimg").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../recipes/bookworm-pvm.toml")
	if err != nil {
		t.Fatal(err)
	}
	recipe := strings.ReplaceAll(string(data), "http://deb.debian.org/debian", testenv.Mirror())
	rp := filepath.Join(t.TempDir(), "bookworm-pvm.toml")
	os.WriteFile(rp, []byte(recipe), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	xenimg := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		c := exec.Command(bin, args...)
		c.Stdout, c.Stderr = &stdout, &stderr
		start := time.Now()
		if err := c.Run(); err != nil {
			t.Fatalf("xenimg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		t.Logf("xenimg %s: %.1fs", args[0], time.Since(start).Seconds())
		return stdout.String()
	}
	// The e2e tests' download cache, shared across runs on one machine.
	xenimg("build", "--cache", filepath.Join(os.TempDir(), "xenimg-e2e-cache"), "-o", out, rp)
	xenimg("clone", "--n", "2", "--from", out)

	slave := filepath.Join(out, "slaves/slave2")
	port := qemutest.FreePort(t)
	vm := qemutest.Boot(t, qemutest.Options{
		Image: filepath.Join(slave, "root.img"), Swap: filepath.Join(slave, "swap.img"),
		MAC: inventoryMAC(t, out, "slave2"), Subnet: "10.0.0.0/24", Host: "10.0.0.1", GuestIP: "10.0.0.12", SSHPort: port,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, regexp.MustCompile(`slave2 login:`)); err != nil {
		t.Fatal(err)
	}
	ssh := func(cmd string) (string, error) {
		c := exec.CommandContext(ctx, sshBin, "-F", filepath.Join(out, "cluster/ssh_config"),
			"-o", "HostName=127.0.0.1", "-o", fmt.Sprintf("Port=%d", port), "-o", "HostKeyAlias=slave2",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "slave2", cmd)
		o, err := c.CombinedOutput()
		return string(o), err
	}
	var got string
	for ctx.Err() == nil {
		if got, err = ssh("hostname"); err == nil {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err != nil || strings.TrimSpace(got) != "slave2" {
		t.Fatalf("ssh slave2 hostname: %v\n%s", err, got)
	}
	addr, err := ssh("ip addr")
	if err != nil || !strings.Contains(addr, "inet 10.0.0.12/24") {
		t.Errorf("ip addr on slave2: %v\n%s", err, addr)
	}
}
