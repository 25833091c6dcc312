package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/crypt"
	"github.com/xenimg/xenimg/internal/qemutest"
	"github.com/xenimg/xenimg/internal/testenv"
)

var (
	xenimg  string // the binary under test, built by TestMain
	scratch string // outlives single tests: shared builds live here
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xenimg-e2e-bin-")
	if err != nil {
		panic(err)
	}
	xenimg = filepath.Join(dir, "xenimg")
	scratch = dir
	if out, err := exec.Command("go", "build", "-o", xenimg, "../cmd/xenimg").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cacheDir is shared by the tests (and by repeated runs on one machine).
func cacheDir() string { return filepath.Join(os.TempDir(), "xenimg-e2e-cache") }

// build runs `xenimg build` on recipe with the given edits applied.
func build(t *testing.T, recipe string, edits ...string) string {
	t.Helper()
	return buildIn(t, t.TempDir(), recipe, edits...)
}

var pvm struct {
	sync.Mutex
	out string
}

// bookwormPVM builds recipes/bookworm-pvm.toml once for every test that
// needs it.
func bookwormPVM(t *testing.T) string {
	t.Helper()
	pvm.Lock()
	defer pvm.Unlock()
	if pvm.out == "" {
		dir, err := os.MkdirTemp(scratch, "bookworm-pvm-")
		if err != nil {
			t.Fatal(err)
		}
		pvm.out = buildIn(t, dir, "../recipes/bookworm-pvm.toml")
	}
	return pvm.out
}

func buildIn(t *testing.T, dir, recipe string, edits ...string) string {
	t.Helper()
	data, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("edit %q does not apply to %s", edits[i], recipe)
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	if m := testenv.Mirror(); m != "http://deb.debian.org/debian" {
		s = strings.ReplaceAll(s, "http://deb.debian.org/debian", m)
	}
	p := filepath.Join(dir, filepath.Base(recipe))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(xenimg, "build", "--cache", cacheDir(), "-o", out, p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("xenimg build %s: %v\n%s", recipe, err, stderr.String())
	}
	t.Logf("built %s in %.1fs", recipe, time.Since(start).Seconds())
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mounted mounts img read-only on a fresh directory until the test ends.
func mounted(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "mount", "-o", "loop,ro", img, dir)
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// checkConfigured is issue 4's judge: e2fsck clean, every package "ii",
// dpkg --audit silent in a chroot of a copy.
func checkConfigured(t *testing.T, out string) string {
	t.Helper()
	img := filepath.Join(out, "root.img")
	run(t, testenv.Tool(t, "e2fsck"), "-fn", img)
	root := mounted(t, img)
	status := run(t, "dpkg-query", "--admindir="+root+"/var/lib/dpkg", "-W", "-f", "${db:Status-Abbrev} ${Package}\n")
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(status), "\n") {
		n++
		if !strings.HasPrefix(l, "ii ") {
			t.Errorf("package not configured: %q", l)
		}
	}
	if n < 50 {
		t.Errorf("only %d packages in the status file", n)
	}
	cp := filepath.Join(t.TempDir(), "copy")
	run(t, "cp", "-a", root, cp)
	if audit := run(t, "chroot", cp, "dpkg", "--audit"); strings.TrimSpace(audit) != "" {
		t.Errorf("dpkg --audit in the built tree:\n%s", audit)
	}
	return root
}

func contains(t *testing.T, root, path, want string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if !strings.Contains(string(data), want) {
		t.Errorf("/%s lacks %q:\n%s", path, want, data)
	}
}

func exists(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestBookwormPVM(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	testenv.Tool(t, "dpkg-query")
	out := bookwormPVM(t)
	root := checkConfigured(t, out)
	exists(t, root, "usr/bin/pvm", "usr/sbin/sshd", "usr/bin/make", "usr/bin/m4", "sbin/ifup")
	contains(t, root, "etc/hostname", "template")
	contains(t, root, "etc/network/interfaces", "address 10.0.0.11")
	contains(t, root, "etc/hosts", "10.0.0.1\tmaster")
	contains(t, root, "etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main")
	contains(t, root, "etc/apt/sources.list", "bookworm-security")
	uuid := regexp.MustCompile(`Filesystem UUID:\s+(\S+)`).FindStringSubmatch(run(t, "dumpe2fs", "-h", filepath.Join(out, "root.img")))
	if uuid == nil {
		t.Fatal("no UUID in dumpe2fs -h")
	}
	contains(t, root, "etc/fstab", "UUID="+uuid[1]+"\t/\text3")
	if m, err := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*")); err != nil || len(m) != 0 {
		t.Errorf("template carries SSH host keys %v: every clone must get its own", m)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/machine-id")); len(data) != 0 {
		t.Errorf("template carries a machine-id %q", data)
	}
	contains(t, filepath.Join(out), "bookworm-pvm.cfg", "vdev=xvda1")

	// The template boots to a login prompt, and sshd answers (its keys are
	// made at first boot).
	img := filepath.Join(t.TempDir(), "root.img")
	run(t, "cp", "--sparse=always", filepath.Join(out, "root.img"), img)
	port := qemutest.FreePort(t)
	vm := qemutest.Boot(t, qemutest.Options{
		Image: img, Swap: filepath.Join(out, "swap.img"), Snapshot: false,
		MAC: "00:16:3e:00:00:0b", Subnet: "10.0.0.0/24", Host: "10.0.0.1", GuestIP: "10.0.0.11", SSHPort: port,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, regexp.MustCompile(`template login:`)); err != nil {
		t.Fatal(err)
	}
	keyscan := testenv.Tool(t, "ssh-keyscan")
	var keys []byte
	for ctx.Err() == nil {
		keys, _ = exec.Command(keyscan, "-T", "5", "-p", itoa(port), "127.0.0.1").Output()
		if bytes.Contains(keys, []byte("ssh-ed25519")) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if !bytes.Contains(keys, []byte("ssh-ed25519")) {
		t.Errorf("sshd on the booted template did not answer with a host key")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// checkRootPassword reads root's hash from the image's /etc/shadow and
// checks that it matches password.
func checkRootPassword(t *testing.T, root, password string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "etc/shadow"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(l, ":")
		if f[0] != "root" || len(f) < 2 {
			continue
		}
		ok, err := crypt.Verify(password, f[1])
		if err != nil || !ok {
			t.Errorf("root's hash %q does not match the recipe's password (%v)", f[1], err)
		}
		return
	}
	t.Errorf("no root entry in /etc/shadow")
}

func TestTrixieMPI(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	out := build(t, "../recipes/trixie-mpi.toml")
	root := checkConfigured(t, out)
	for _, l := range []string{"bin", "sbin", "lib"} {
		target, err := os.Readlink(filepath.Join(root, l))
		if err != nil || target != "usr/"+l {
			t.Errorf("/%s -> %q (%v), want merged-/usr link usr/%s", l, target, err, l)
		}
	}
	exists(t, root, "usr/bin/mpirun.openmpi", "usr/sbin/sshd")
	// mpirun is an alternative: a link through /etc/alternatives, whose
	// absolute target only resolves inside the guest.
	if target, err := os.Readlink(filepath.Join(root, "etc/alternatives/mpirun")); err != nil || !strings.HasSuffix(target, "mpirun.openmpi") {
		t.Errorf("alternative mpirun -> %q (%v)", target, err)
	}
	contains(t, root, "etc/hostname", "template")
	contains(t, root, "etc/apt/sources.list", "trixie-security")
}

func TestTrixieI386(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	out := build(t, "../recipes/minbase.toml",
		`codename   = "bookworm"`, `codename   = "trixie"`,
		`arch       = "amd64"`, `arch       = "i386"`,
		`configure  = "auto"`, `configure  = "chroot"`,
		`hostname   = "minbase"`, `hostname   = "minbase"`+"\n"+`root_password = "pvm-2005"`)
	root := checkConfigured(t, out)
	checkRootPassword(t, root, "pvm-2005")
	if _, err := os.Stat(filepath.Join(root, "etc/xenimg")); err == nil {
		t.Errorf("/etc/xenimg (the password hand-over) is left in the image")
	}
	file := run(t, testenv.Tool(t, "file"), "-L", filepath.Join(root, "usr/bin/dpkg"))
	if !strings.Contains(file, "32-bit") || !strings.Contains(file, "80386") {
		t.Errorf("usr/bin/dpkg is not an i386 binary: %s", file)
	}
}

// TestReproducibleChroot builds the same recipe twice, configured in a
// chroot, and compares the bytes: the second stage must not leak the clock.
func TestReproducibleChroot(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	edits := []string{`configure  = "auto"`, `configure  = "chroot"`}
	a := build(t, "../recipes/minbase.toml", edits...)
	time.Sleep(1100 * time.Millisecond) // a different second for anything that reads the clock
	b := build(t, "../recipes/minbase.toml", edits...)
	for _, f := range []string{"root.img", "swap.img", "manifest.json"} {
		sa := run(t, "sha256sum", filepath.Join(a, f))[:64]
		sb := run(t, "sha256sum", filepath.Join(b, f))[:64]
		if sa != sb {
			t.Errorf("%s differs between two builds", f)
		}
	}
	if t.Failed() {
		ra, rb := mounted(t, filepath.Join(a, "root.img")), mounted(t, filepath.Join(b, "root.img"))
		out, _ := exec.Command("diff", "-r", "--no-dereference", ra, rb).CombinedOutput()
		t.Logf("diff -r:\n%.3000s", out)
	}
}

// TestArm64Binfmt configures a foreign (arm64) minbase in a chroot through
// the host's binfmt_misc emulator, which auto chooses by itself.
func TestArm64Binfmt(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	testenv.Binfmt(t, "qemu-aarch64")
	out := build(t, "../recipes/minbase.toml",
		`name = "minbase"`, `name = "minbase-arm64"`,
		`arch       = "amd64"`, `arch       = "arm64"`)
	m, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil || !strings.Contains(string(m), `"configure": "chroot"`) {
		t.Fatalf("auto did not configure in a chroot: %v\n%.400s", err, m)
	}
	root := checkConfigured(t, out) // dpkg --audit runs emulated
	file := run(t, testenv.Tool(t, "file"), "-L", filepath.Join(root, "usr/bin/dpkg"))
	if !strings.Contains(file, "ARM aarch64") {
		t.Errorf("usr/bin/dpkg is not an arm64 binary: %s", file)
	}
	contains(t, root, "var/lib/dpkg/arch", "arm64")
}
