// Package qemutest boots a root image in qemu-system-x86_64 (TCG) with the
// host's Debian kernel and initrd, for tests that prove an image comes up.
//
// The image is the whole disk (/dev/vda, no partition table), as xenimg
// writes it. The guest's serial console is captured; a test waits for lines
// on it. Networking is qemu's user mode: the guest sees a private subnet and
// the host reaches one guest port through a forwarded loopback port. No
// traffic leaves the machine.
package qemutest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

// Options describe one guest.
type Options struct {
	Image   string // raw root image, booted as /dev/vda
	Root    string // root= device; default /dev/vda (a whole-disk image: /dev/vda1)
	Swap    string // optional second disk, /dev/vdb
	MemMiB  int    // default 512
	Append  string // extra kernel command line
	MAC     string // guest NIC MAC; empty: no NIC
	Subnet  string // user-mode net, e.g. 10.0.0.0/24
	Host    string // the host's address in it, e.g. 10.0.0.1
	GuestIP string // where to forward SSHPort to
	SSHPort int    // host loopback port forwarded to GuestIP:22 (0: none)
	// Snapshot boots with -snapshot so the image file is not changed.
	Snapshot bool
}

// VM is a running guest.
type VM struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	err    error
	Serial string // path of the console log
}

// Kernel finds the newest host kernel and its initrd under /boot.
func Kernel(t testing.TB) (kernel, initrd string) {
	t.Helper()
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(ks)
	for i := len(ks) - 1; i >= 0; i-- {
		ver := strings.TrimPrefix(filepath.Base(ks[i]), "vmlinuz-")
		ird := "/boot/initrd.img-" + ver
		if _, err := os.Stat(ird); err == nil {
			return ks[i], ird
		}
	}
	if testenv.InCI() {
		t.Fatal("no /boot/vmlinuz-* with an initrd: install linux-image-amd64")
	}
	t.Skip("no /boot/vmlinuz-* with an initrd: install linux-image-amd64")
	return "", ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Boot starts the guest; it is killed at the end of the test.
func Boot(t testing.TB, o Options) *VM {
	t.Helper()
	qemu := testenv.Tool(t, "qemu-system-x86_64")
	kernel, initrd := Kernel(t)
	if o.MemMiB == 0 {
		o.MemMiB = 512
	}
	if o.Root == "" {
		o.Root = "/dev/vda"
	}
	args := []string{
		"-machine", "q35,accel=tcg", "-cpu", "max", "-m", fmt.Sprint(o.MemMiB), "-smp", "1",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", strings.TrimSpace("root=" + o.Root + " rw console=ttyS0 panic=-1 net.ifnames=0 " + o.Append),
		"-drive", "file=" + o.Image + ",format=raw,if=virtio,cache=unsafe",
	}
	if o.Swap != "" {
		args = append(args, "-drive", "file="+o.Swap+",format=raw,if=virtio,cache=unsafe")
	}
	if o.Snapshot {
		args = append(args, "-snapshot")
	}
	if o.MAC != "" {
		netdev := "user,id=n0"
		if o.Subnet != "" {
			netdev += ",net=" + o.Subnet
		}
		if o.Host != "" {
			netdev += ",host=" + o.Host
		}
		if o.SSHPort != 0 {
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-%s:22", o.SSHPort, o.GuestIP)
		}
		args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,mac="+o.MAC)
	} else {
		args = append(args, "-nic", "none")
	}
	vm := &VM{done: make(chan struct{}), Serial: filepath.Join(t.TempDir(), "console.log")}
	vm.cmd = exec.Command(qemu, args...)
	vm.cmd.Stdout = (*vmWriter)(vm)
	vm.cmd.Stderr = (*vmWriter)(vm)
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	go func() {
		vm.err = vm.cmd.Wait()
		close(vm.done)
	}()
	t.Cleanup(func() {
		_ = vm.cmd.Process.Kill()
		<-vm.done
		vm.mu.Lock()
		_ = os.WriteFile(vm.Serial, vm.out.Bytes(), 0o644)
		vm.mu.Unlock()
		if t.Failed() {
			t.Logf("guest console (last 3000 bytes):\n%s", vm.Tail(3000))
		}
	})
	return vm
}

type vmWriter VM

func (w *vmWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// Stop kills the guest and waits for qemu to exit (like pulling the plug:
// the guest's filesystems may need their journal replayed).
func (vm *VM) Stop() {
	_ = vm.cmd.Process.Kill()
	<-vm.done
}

// Output is everything the guest printed so far.
func (vm *VM) Output() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.out.String()
}

// Tail is the last n bytes of the console.
func (vm *VM) Tail(n int) string {
	s := vm.Output()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// WaitFor waits until the console matches re, the guest exits, or the
// context ends.
func (vm *VM) WaitFor(ctx context.Context, re *regexp.Regexp) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if re.MatchString(vm.Output()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q on the guest console: %w", re, ctx.Err())
		case <-vm.done:
			if re.MatchString(vm.Output()) {
				return nil
			}
			return fmt.Errorf("guest exited (%v) before printing %q", vm.err, re)
		case <-tick.C:
		}
	}
}
