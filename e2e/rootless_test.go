package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/internal/testenv"
)

// rootlessUser is the unprivileged user the rootless build runs as.
const rootlessUser = "xenimgtest"

// setupRootlessUser makes sure rootlessUser exists and has subordinate
// ids, and returns its uid and gid.
func setupRootlessUser(t *testing.T) (int, int) {
	t.Helper()
	if _, err := user.Lookup(rootlessUser); err != nil {
		run(t, testenv.Tool(t, "useradd"), "-m", rootlessUser)
	}
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(append([]byte("\n"), data...), []byte("\n"+rootlessUser+":")) {
			continue
		}
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		data = append(data, rootlessUser+":200000:65536\n"...)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// TestRootlessChroot builds minbase with configure = "chroot" as an
// unprivileged user with subordinate ids (the second stage runs in a user
// namespace), judges the image, and checks it is the very image a root
// build makes. "auto" as that user must choose the chroot too.
func TestRootlessChroot(t *testing.T) {
	testenv.Root(t)
	testenv.Network(t)
	testenv.Tool(t, "unshare")
	testenv.Tool(t, "newuidmap")
	setpriv := testenv.Tool(t, "setpriv")
	uid, gid := setupRootlessUser(t)

	dir, err := os.MkdirTemp("", "xenimg-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The user's own cache, kept between runs like the shared one.
	cache := filepath.Join(os.TempDir(), "xenimg-e2e-cache-"+rootlessUser)
	for _, d := range []string{dir, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "xenimg")
	data, err := os.ReadFile(xenimg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	recipe, err := os.ReadFile("../recipes/minbase.toml")
	if err != nil {
		t.Fatal(err)
	}
	// openssh-server and ifupdown come after the required packages
	// (secondstage's Rest), as most builds' packages do.
	s := strings.Replace(string(recipe), `configure  = "auto"`, `configure  = "chroot"`, 1)
	s = strings.Replace(s, `variant    = "minbase"`, `variant    = "minbase"`+"\n"+`include    = ["openssh-server", "ifupdown"]`, 1)
	if !strings.Contains(s, "openssh-server") {
		t.Fatal("recipes/minbase.toml has no variant line to edit")
	}
	if m := testenv.Mirror(); m != "http://deb.debian.org/debian" {
		s = strings.ReplaceAll(s, "http://deb.debian.org/debian", m)
	}
	if !strings.Contains(s, `configure  = "chroot"`) {
		t.Fatal("recipes/minbase.toml has no configure line to edit")
	}
	chrootRecipe := filepath.Join(dir, "minbase.toml")
	autoRecipe := filepath.Join(dir, "auto", "minbase.toml")
	if err := os.WriteFile(chrootRecipe, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(autoRecipe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Dir(autoRecipe), uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(autoRecipe, []byte(strings.Replace(s, `configure  = "chroot"`, `configure  = "auto"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	userCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(setpriv, append([]string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--init-groups", bin}, args...)...)
		cmd.Env = []string{"HOME=" + dir, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR=" + dir}
		cmd.Dir = dir
		return cmd
	}
	asUser := func(args ...string) (string, error) {
		cmd := userCmd(args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}

	out := filepath.Join(dir, "out")
	start := time.Now()
	logs, err := asUser("build", "--cache", cache, "-o", out, chrootRecipe)
	if err != nil {
		t.Fatalf("xenimg build as %s: %v\n%s", rootlessUser, err, logs)
	}
	t.Logf("built minbase as %s in %.1fs", rootlessUser, time.Since(start).Seconds())
	leftovers, _ := filepath.Glob(filepath.Join(out, ".[wb]*-*"))
	if len(leftovers) > 0 {
		t.Errorf("work directories left behind: %v", leftovers)
	}
	if ps := userProcesses(t, uid, 0); ps != "" {
		t.Errorf("processes of %s left behind:\n%s", rootlessUser, ps)
	}
	if !strings.Contains(logs, "configuring on a tmpfs") {
		t.Errorf("the rootless build did not configure on a tmpfs:\n%s", logs)
	}

	root := checkConfigured(t, out)
	checkOwner := func(p string, uid, gid int, mode uint32) {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Error(err)
			return
		}
		if int(st.Uid) != uid || int(st.Gid) != gid || st.Mode&07777 != mode {
			t.Errorf("%s: %d:%d %04o, want %d:%d %04o", p, st.Uid, st.Gid, st.Mode&07777, uid, gid, mode)
		}
	}
	checkOwner("etc/shadow", 0, 42, 0o640) // root:shadow
	checkOwner("usr/bin/passwd", 0, 0, 0o4755)
	checkOwner("usr/bin/chage", 0, 42, 0o2755)
	checkOwner("var/mail", 0, 8, 0o2775) // root:mail
	checkOwner("etc/passwd", 0, 0, 0o644)
	checkOwner("usr/lib/openssh/ssh-keysign", 0, 0, 0o4755)
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "dev/null"), &st); err != nil {
		t.Error(err)
	} else if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
		t.Errorf("/dev/null is %#o %d,%d, want a character device 1,3 0666", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	// Nothing may belong to the user or its subordinate ids.
	if found := run(t, "find", root, "-xdev", "(", "-uid", strconv.Itoa(uid), "-o", "-gid", strconv.Itoa(gid), "-o", "-uid", "+65535", "-o", "-gid", "+65535", ")", "-print"); strings.TrimSpace(found) != "" {
		t.Errorf("files owned by ids from outside the guest:\n%s", found)
	}

	// Auto as that user picks the chroot in a user namespace.
	logs, err = asUser("build", "--cache", cache, "-o", filepath.Join(dir, "auto", "out"), autoRecipe)
	if err != nil {
		t.Fatalf("xenimg build (auto) as %s: %v\n%s", rootlessUser, err, logs)
	}
	if !strings.Contains(logs, "user namespace") || !strings.Contains(logs, "configure=chroot") {
		t.Errorf("auto as %s did not choose a chroot in a user namespace:\n%s", rootlessUser, logs)
	}

	// A root build of the same recipe gives the same bytes.
	rootOut := filepath.Join(dir, "root-out")
	cmd := exec.Command(xenimg, "build", "--cache", cache, "-o", rootOut, chrootRecipe)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xenimg build as root: %v\n%s", err, b)
	}
	if a, b := sha256File(t, filepath.Join(out, "root.img")), sha256File(t, filepath.Join(rootOut, "root.img")); a != b {
		t.Errorf("the rootless root.img differs from the root build's (%s != %s)", a, b)
	}

	// Killed while it configures (SIGKILL: no cleanup runs), the build
	// leaves no process behind: the namespace holder and the guest
	// commands die with it. What stays on disk is the user's own.
	killOut := filepath.Join(dir, "kill-out")
	logFile := filepath.Join(dir, "kill.log")
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd = userCmd("build", "--cache", cache, "-o", killOut, chrootRecipe)
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	configuring := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(logFile)
		if bytes.Contains(b, []byte("tree written for configuring")) {
			configuring = true
			break
		}
		if bytes.Contains(b, []byte("built")) {
			break
		}
	}
	running := userProcesses(t, uid, 0)
	cmd.Process.Kill()
	cmd.Wait()
	if !configuring {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("the build to kill never started configuring:\n%s", b)
	}
	if !strings.Contains(running, "sleep") {
		t.Errorf("no namespace holder (sleep) ran while configuring:\n%s", running)
	}
	if ps := userProcesses(t, uid, 10*time.Second); ps != "" {
		t.Errorf("processes of %s left behind by a killed build:\n%s", rootlessUser, ps)
	}
	if found := run(t, "find", killOut, "!", "-user", rootlessUser, "-print"); strings.TrimSpace(found) != "" {
		t.Errorf("a killed build left files %s cannot remove:\n%s", rootlessUser, found)
	}
}

// userProcesses lists the live processes of uid (zombies aside), waiting
// up to wait for them to go.
func userProcesses(t *testing.T, uid int, wait time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		out, _ := exec.Command("ps", "-u", strconv.Itoa(uid), "-o", "pid=,stat=,args=").Output()
		var live []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && !strings.HasPrefix(f[1], "Z") {
				live = append(live, l)
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return strings.Join(live, "\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
