package secondstage

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestFirstboot installs the firstboot script into a real bookworm minbase
// tree, checks it is there and the packages stay unpacked, then boots it
// the way a kernel would (as PID 1 of a fresh PID namespace, chrooted) with
// a stand-in /sbin/init, and judges the result with dpkg.
func TestFirstboot(t *testing.T) {
	u := firstStage(t, "minbase")
	nt, mode, err := Run(context.Background(), u.tree, Options{
		Mode: Firstboot, Arch: "amd64", Codename: "bookworm", Epoch: u.epoch,
		Required: u.required, WorkDir: t.TempDir(), Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != Firstboot || nt != u.tree {
		t.Fatalf("mode %s, same tree %v", mode, nt == u.tree)
	}
	n, err := nt.Lookup(FirstbootPath)
	if err != nil || n.Type != tree.TypeRegular || n.Mode&0o111 != 0o111 || n.UID != 0 {
		t.Fatalf("%s: %v %+v", FirstbootPath, err, n)
	}
	script, _ := nt.ReadFile(FirstbootPath)
	for _, sh := range []string{"sh", "dash", "bash"} {
		p, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		cmd := exec.Command(p, "-n")
		cmd.Stdin = bytes.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
	}
	st, _ := nt.ReadFile(statusPath)
	if c := bytes.Count(st, []byte("Status: install ok unpacked\n")); c != u.packages || bytes.Contains(st, []byte("ok installed")) {
		t.Errorf("status: %d unpacked of %d", c, u.packages)
	}
	if n, err := nt.Lookup("/var/cache/apt/archives"); err == nil {
		for _, name := range n.Names() {
			if strings.HasSuffix(name, ".deb") {
				t.Errorf("cached .deb left: %s", name)
			}
		}
	}
	if n, err := nt.Lstat("/dev/null"); err != nil || n.Type != tree.TypeChar || n.Major != 1 || n.Minor != 3 {
		t.Errorf("/dev/null: %v", err)
	}

	// Boot it.
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	dir := filepath.Join(t.TempDir(), "root")
	if err := nt.Materialize(dir, tree.MaterializeOptions{Owners: true, Devices: true}); err != nil {
		t.Fatal(err)
	}
	// No init in minbase: a stand-in that proves the exec happened.
	fakeInit := "#!/bin/sh\necho \"init reached: $*\" >/init-reached\n"
	if err := os.WriteFile(filepath.Join(dir, "sbin/init"), []byte(fakeInit), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &runner{root: dir, log: testLog(t)} // the kernel's empty environment
	if err := r.run(context.Background(), "", nil, FirstbootPath, "single"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "init-reached")); err != nil || string(b) != "init reached: single\n" {
		t.Errorf("init not reached: %v %q", err, b)
	}
	os.Remove(filepath.Join(dir, "init-reached"))
	stub, err := os.ReadFile(filepath.Join(dir, FirstbootPath))
	if err != nil || !bytes.Contains(stub, []byte("exec /sbin/init")) || bytes.Contains(stub, []byte("dpkg")) {
		t.Errorf("firstboot did not replace itself by the stub: %v\n%s", err, stub)
	}
	for _, p := range []string{"usr/sbin/policy-rc.d", "usr/sbin/start-stop-daemon.REAL"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	dpkgQuery := testenv.Tool(t, "dpkg-query")
	out, err := exec.Command(dpkgQuery, "--admindir="+filepath.Join(dir, "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev} ${Package}\n").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "ii ") {
			t.Errorf("not installed after first boot: %q", l)
		}
	}
	out, err = exec.Command("chroot", dir, "dpkg", "--audit").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("dpkg --audit: %v\n%s", err, out)
	}
	// The second boot goes straight to init.
	if err := r.run(context.Background(), "", nil, FirstbootPath); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "init-reached")); err != nil || string(b) != "init reached: \n" {
		t.Errorf("second boot: init not reached: %v %q", err, b)
	}
}
