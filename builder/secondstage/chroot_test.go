package secondstage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/debootstrap"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/resolve"
	"github.com/xenimg/xenimg/builder/debootstrap/unpack"
	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/internal/testenv"
)

// unpacked is a first stage ready for Run.
type unpacked struct {
	tree     *tree.Tree
	epoch    int64
	required []string
	packages int
	// split unpacks the required packages and the rest into two trees.
	split func(t testing.TB) (req, rest *tree.Tree)
}

// firstStage resolves, fetches (cached under os.TempDir()) and unpacks a
// bookworm amd64 tree with the project's own first stage.
func firstStage(t testing.TB, variant string, include ...string) unpacked {
	t.Helper()
	testenv.Network(t)
	ctx := context.Background()
	f, err := fetch.New(fetch.Options{CacheDir: filepath.Join(os.TempDir(), "xenimg-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := debootstrap.Resolve(ctx, f, debootstrap.Options{
		Mirror: testenv.Mirror(), Codename: "bookworm", Arch: "amd64",
		Components: []string{"main"}, Variant: variant, Include: include,
		Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	debs, err := plan.Fetch(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	epoch := plan.Archive.Date().Unix()
	unpackTree := func(t testing.TB, debs []string) *tree.Tree {
		tr, err := tree.New(tree.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		if _, err := unpack.Unpack(ctx, tr, debs, unpack.Options{Arch: "amd64", MergedUsr: true, ArchiveCopies: true, Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	var req []string
	for _, p := range plan.Set.List(resolve.Required) {
		req = append(req, p.Name)
	}
	split := func(t testing.TB) (*tree.Tree, *tree.Tree) {
		var a, b []string
		for i, p := range plan.Set.Packages {
			if p.List == resolve.Required {
				a = append(a, debs[i])
			} else {
				b = append(b, debs[i])
			}
		}
		return unpackTree(t, a), unpackTree(t, b)
	}
	return unpacked{tree: unpackTree(t, debs), epoch: epoch, required: req, packages: len(debs), split: split}
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fingerprint lists every entry of a tree: path, type, mode, owner, mtime,
// link target, device numbers, hard-link count and content SHA-256.
func fingerprint(t testing.TB, tr *tree.Tree) []string {
	t.Helper()
	var out []string
	err := tr.Walk(func(p string, n *tree.Node) error {
		line := fmt.Sprintf("%s %s %04o %d:%d %d %q %d,%d links=%d", p, n.Type, n.Mode, n.UID, n.GID, n.Mtime, n.Target, n.Major, n.Minor, n.Links())
		if n.Type == tree.TypeRegular {
			rc, err := n.Content().Open()
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", h.Sum(nil))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkConfigured judges a configured tree with dpkg itself.
func checkConfigured(t *testing.T, nt *tree.Tree, epoch int64, wantPkgs int) string {
	t.Helper()
	if n, err := nt.Lstat("/dev/shm"); err != nil || n.Type != tree.TypeDir || n.Mode != 0o1777 {
		t.Errorf("/dev/shm: %+v, %v; want a directory 1777", n, err)
	}
	dpkgQuery := testenv.Tool(t, "dpkg-query")
	chroot := testenv.Tool(t, "chroot")
	dir := filepath.Join(t.TempDir(), "root")
	if err := nt.Materialize(dir, tree.MaterializeOptions{Owners: true, Devices: true}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dpkgQuery, "--admindir="+filepath.Join(dir, "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev} ${Package}\n").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != wantPkgs {
		t.Errorf("dpkg-query lists %d packages, want %d", len(lines), wantPkgs)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ii ") {
			t.Errorf("not installed: %q", l)
		}
	}
	out, err = exec.Command(chroot, dir, "dpkg", "--audit").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("dpkg --audit: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(dir, "etc/passwd"))
	if err != nil || !strings.HasPrefix(string(passwd), "root:x:0:0:") {
		t.Errorf("/etc/passwd: %v\n%s", err, passwd)
	}
	if ms, _ := filepath.Glob(filepath.Join(dir, "etc/ssh/ssh_host_*")); len(ms) > 0 {
		t.Errorf("host keys left: %v", ms)
	}
	for _, p := range []string{"usr/sbin/policy-rc.d", "sbin/start-stop-daemon.REAL", "var/lib/dpkg/status-old", "var/log/dpkg.log", "var/cache/ldconfig/aux-cache"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s left in the template", p)
		}
	}
	if debs, _ := filepath.Glob(filepath.Join(dir, "var/cache/apt/archives/*.deb")); len(debs) > 0 {
		t.Errorf("%d .debs left in the template", len(debs))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usr/sbin/start-stop-daemon")); err != nil || bytes.Contains(b, []byte("Fake start-stop-daemon")) {
		t.Errorf("start-stop-daemon not restored: %v", err)
	}
	if err := nt.Walk(func(p string, n *tree.Node) error {
		if n.Mtime > epoch {
			return fmt.Errorf("%s: mtime %d after the epoch %d", p, n.Mtime, epoch)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	return dir
}

// TestChrootMinbase configures a real bookworm minbase twice and checks
// the result with dpkg and that both runs give the same tree.
func TestChrootMinbase(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	u := firstStage(t, "minbase")
	var fps [2][]string
	var trees [2]*tree.Tree
	// Run 1 names its work directory relative to the current one, as
	// "xenimg build -o out" does.
	t.Chdir(t.TempDir())
	var tmpfsWork string
	for i := range 2 {
		start := time.Now()
		// Run 1 configures on the work dir's disk, run 2 on a tmpfs and
		// returning a tree that refers to files: the results must agree.
		work := "work"
		if i == 1 {
			work = t.TempDir()
			tmpfsWork = work
		}
		nt, mode, err := Run(context.Background(), u.tree, Options{
			Mode: Chroot, Arch: "amd64", Codename: "bookworm", Epoch: u.epoch,
			Required: u.required, WorkDir: work, Log: testLog(t),
			Tmpfs: i == 1, Reference: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nt.Close() })
		t.Logf("run %d: %d packages configured in %v", i+1, u.packages, time.Since(start))
		if mode != Chroot {
			t.Errorf("mode %s, want chroot", mode)
		}
		fps[i], trees[i] = fingerprint(t, nt), nt
	}
	if !slices.Equal(fps[0], fps[1]) {
		a, b := fps[0], fps[1]
		n := 0
		for _, l := range a {
			if !slices.Contains(b, l) && n < 30 {
				t.Errorf("only in run 1: %s", l)
				n++
			}
		}
		for _, l := range b {
			if !slices.Contains(a, l) && n < 60 {
				t.Errorf("only in run 2: %s", l)
				n++
			}
		}
	}
	checkConfigured(t, trees[0], u.epoch, u.packages)
	// Run 2's tree reads its files from the tmpfs, which stays mounted
	// until the tree is closed.
	mounted := func() bool {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(mi, []byte(tmpfsWork+"/"))
	}
	if !mounted() {
		t.Error("the configuring tmpfs is gone while its tree is open")
	}
	if err := trees[1].Close(); err != nil {
		t.Error(err)
	}
	if mounted() {
		t.Error("the configuring tmpfs is still mounted after its tree is closed")
	}
	// The input tree is untouched: still unpacked.
	st, err := u.tree.ReadFile(statusPath)
	if err != nil || bytes.Contains(st, []byte("install ok installed")) {
		t.Errorf("input status changed: %v", err)
	}
}

// TestChrootReinstall configures a real bookworm minbase the debootstrap
// way (dpkg --install of every .deb again) and checks it with dpkg.
func TestChrootReinstall(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	u := firstStage(t, "minbase")
	nt, _, err := Run(context.Background(), u.tree, Options{
		Mode: Chroot, Arch: "amd64", Codename: "bookworm", Epoch: u.epoch,
		Required: u.required, WorkDir: t.TempDir(), Reinstall: true, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	checkConfigured(t, nt, u.epoch, u.packages)
}

// TestGuestIsChroot: the guest's own ischroot(1) says "chroot", as it does
// under debootstrap, so maintainer scripts neither re-exec init nor wait
// for it.
func TestGuestIsChroot(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	u := firstStage(t, "minbase")
	dir := filepath.Join(t.TempDir(), "root")
	if err := u.tree.Materialize(dir, tree.MaterializeOptions{Owners: true, Devices: true}); err != nil {
		t.Fatal(err)
	}
	r := &runner{root: dir, env: guestEnv(u.epoch), log: testLog(t)}
	if err := r.run(context.Background(), "", nil, "ischroot"); err != nil {
		t.Errorf("ischroot in the guest: %v", err)
	}
}

// TestChrootRest configures the required packages first and adds the rest
// once they are configured (what xenimg build does, unpacking the rest
// meanwhile): the result is the one-tree result, but for the times of
// directories both added to, and dpkg says every package is installed.
func TestChrootRest(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	u := firstStage(t, "minbase", "openssh-server", "ifupdown")
	req, rest := u.split(t)
	opts := Options{
		Mode: Chroot, Arch: "amd64", Codename: "bookworm", Epoch: u.epoch,
		Required: u.required, WorkDir: t.TempDir(), Log: testLog(t), Tmpfs: true,
	}
	whole, _, err := Run(context.Background(), u.tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	restCalls := 0
	opts.WorkDir = t.TempDir()
	opts.Rest = func(ctx context.Context) (*tree.Tree, error) {
		restCalls++
		return rest, nil
	}
	split, _, err := Run(context.Background(), req, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer split.Close()
	if restCalls != 1 {
		t.Errorf("Rest called %d times, want 1", restCalls)
	}
	noDirTimes := func(fp []string) []string {
		out := make([]string, 0, len(fp))
		for _, l := range fp {
			if f := strings.Fields(l); len(f) > 4 && f[1] == "dir" {
				f[4] = "-"
				l = strings.Join(f, " ")
			}
			out = append(out, l)
		}
		return out
	}
	a, b := noDirTimes(fingerprint(t, whole)), noDirTimes(fingerprint(t, split))
	n := 0
	for _, l := range a {
		if !slices.Contains(b, l) && n < 20 {
			t.Errorf("only configured as one tree: %s", l)
			n++
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) && n < 40 {
			t.Errorf("only configured in two steps: %s", l)
			n++
		}
	}
	checkConfigured(t, split, u.epoch, u.packages)

	// An error of the rest is returned as it is, and nothing is left.
	bad := errors.New("a bad .deb in the rest")
	opts.WorkDir = t.TempDir()
	opts.Rest = func(context.Context) (*tree.Tree, error) { return nil, bad }
	req2, _ := u.split(t)
	if _, _, err := Run(context.Background(), req2, opts); !errors.Is(err, bad) {
		t.Errorf("Run with a failing rest: %v, want %v", err, bad)
	}
	if ents, _ := os.ReadDir(opts.WorkDir); len(ents) > 0 {
		t.Errorf("work directory not removed: %v", ents)
	}
}
