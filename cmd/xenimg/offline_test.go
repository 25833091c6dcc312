package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testarchive"
	"github.com/xenimg/xenimg/internal/testenv"
)

// sargeSetup serves the tests' sarge-format archive over HTTP and writes a
// recipe (recipes/sarge-pvm.toml pointed at it) into a temp dir.
func sargeSetup(t *testing.T) (recipe string) {
	t.Helper()
	dir := t.TempDir()
	a := &testarchive.Archive{Codename: "sarge", Suite: "stable", Style: testarchive.Sarge,
		Key: testarchive.SargeKey(t), Packages: testarchive.SargeUniverse()}
	if err := a.Write(dir); err != nil {
		t.Fatal(err)
	}
	url := testarchive.Serve(t, dir)
	data, err := os.ReadFile("../../recipes/sarge-pvm.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		`mirror     = "http://archive.debian.org/debian"`, `mirror     = "`+url+`"`,
		`keyring    = ""`, `keyring    = "`+testarchive.PublicKeyring(t, testarchive.KeySarge, false)+`"`,
		`configure  = "auto"`, `configure  = "none"`,
		`size       = "1GiB"`, `size       = "64MiB"`,
	).Replace(string(data))
	recipe = filepath.Join(t.TempDir(), "sarge-pvm.toml")
	if err := os.WriteFile(recipe, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return recipe
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestFetchThenOfflineBuild(t *testing.T) {
	recipe := sargeSetup(t)
	cache := t.TempDir()

	// Offline with an empty cache: an error that lists what is missing.
	code, _, errOut := run(t, "build", "--offline", "--cache", cache, "-o", filepath.Join(t.TempDir(), "x"), recipe)
	if code != exitFail || !strings.Contains(errOut, "Release") {
		t.Fatalf("offline build with empty cache: code %d, stderr %s", code, errOut)
	}

	code, out, errOut := run(t, "fetch", "--cache", cache, recipe)
	if code != exitOK || !strings.Contains(out, "packages") {
		t.Fatalf("fetch: code %d, out %q, err %s", code, out, errOut)
	}
	online := filepath.Join(t.TempDir(), "online")
	if code, _, errOut := run(t, "build", "--cache", t.TempDir(), "-o", online, recipe); code != exitOK {
		t.Fatalf("online build: %s", errOut)
	}
	offline := filepath.Join(t.TempDir(), "offline")
	if code, _, errOut := run(t, "build", "--offline", "--cache", cache, "-o", offline, recipe); code != exitOK {
		t.Fatalf("offline build: %s", errOut)
	}
	for _, f := range []string{"root.img", "swap.img", "manifest.json"} {
		if a, b := fileSum(t, filepath.Join(online, f)), fileSum(t, filepath.Join(offline, f)); a != b {
			t.Errorf("%s differs between the online and the offline build", f)
		}
	}
}

// TestOfflineBuildWithoutNetwork runs the real binary in a network
// namespace with no interfaces but lo: nothing can be downloaded.
func TestOfflineBuildWithoutNetwork(t *testing.T) {
	testenv.Root(t)
	unshare := testenv.Tool(t, "unshare")
	recipe := sargeSetup(t)
	cache := t.TempDir()
	if code, _, errOut := run(t, "fetch", "--cache", cache, recipe); code != exitOK {
		t.Fatalf("fetch: %s", errOut)
	}
	bin := filepath.Join(t.TempDir(), "xenimg")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	online := filepath.Join(t.TempDir(), "online")
	if code, _, errOut := run(t, "build", "--cache", cache, "-o", online, recipe); code != exitOK {
		t.Fatalf("online build: %s", errOut)
	}
	offline := filepath.Join(t.TempDir(), "offline")
	cmd := exec.Command(unshare, "--net", bin, "build", "--offline", "--cache", cache, "-o", offline, recipe)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("offline build under unshare --net: %v\n%s", err, out)
	}
	// And without --offline the same namespace cannot reach the mirror.
	cmd = exec.Command(unshare, "--net", bin, "resolve", "--cache", t.TempDir(), recipe)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("resolve under unshare --net succeeded without a cache: the namespace has network?\n%s", out)
	}
	if a, b := fileSum(t, filepath.Join(online, "root.img")), fileSum(t, filepath.Join(offline, "root.img")); a != b {
		t.Errorf("root.img differs between the online build and the offline one")
	}
}

func TestMirrorIsAMirror(t *testing.T) {
	recipe := sargeSetup(t)
	cache := t.TempDir()
	dir := filepath.Join(t.TempDir(), "mirror")
	code, out, errOut := run(t, "mirror", "--cache", cache, recipe, dir)
	if code != exitOK || !strings.HasPrefix(out, "file://") {
		t.Fatalf("mirror: code %d, out %q, err %s", code, out, errOut)
	}
	for _, f := range []string{"dists/sarge/Release", "dists/sarge/Release.gpg", "dists/sarge/main/binary-i386/Packages.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("mirror lacks %s", f)
		}
	}
	// Writing it again replaces it; a directory xenimg did not write is
	// never replaced.
	if code, _, errOut := run(t, "mirror", "--cache", cache, recipe, dir+"/"); code != exitOK {
		t.Errorf("mirror again (trailing slash): %s", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "dists/sarge/Release")); err != nil {
		t.Errorf("mirror lost its files when written again: %v", err)
	}
	precious := t.TempDir()
	if err := os.WriteFile(filepath.Join(precious, "thesis.tex"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "mirror", "--cache", cache, recipe, precious)
	if code != exitFail || !strings.Contains(errOut, "not a mirror xenimg wrote") {
		t.Errorf("mirror over a foreign directory: code %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(precious, "thesis.tex")); err != nil {
		t.Errorf("mirror destroyed a foreign directory: %v", err)
	}
	// xenimg builds from it as a file:// mirror.
	data, _ := os.ReadFile(recipe)
	s := string(data)
	i := strings.Index(s, `mirror     = "`)
	j := strings.Index(s[i:], "\n")
	s = s[:i] + `mirror     = "file://` + dir + `"` + s[i+j:]
	local := filepath.Join(t.TempDir(), "sarge-pvm.toml")
	if err := os.WriteFile(local, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "build", "--cache", t.TempDir(), "-o", filepath.Join(t.TempDir(), "o"), local); code != exitOK {
		t.Errorf("build from the mirror: %s", errOut)
	}
	// debootstrap accepts it too.
	if db, err := exec.LookPath("debootstrap"); err == nil && os.Geteuid() == 0 {
		cmd := exec.Command(db, "--print-debs", "--arch=i386", "--keyring="+testarchive.PublicKeyring(t, testarchive.KeySarge, false),
			"sarge", filepath.Join(t.TempDir(), "target"), "file://"+dir)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "base-files") {
			t.Errorf("debootstrap --print-debs from the mirror: %v\n%s", err, out)
		}
	} else if testenv.InCI() {
		t.Error("debootstrap (as root) is needed under CI")
	}
}

func TestResolvePrintsSortedSet(t *testing.T) {
	recipe := sargeSetup(t)
	code, out, errOut := run(t, "resolve", "--cache", t.TempDir(), recipe)
	if code != exitOK {
		t.Fatalf("resolve: %s", errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 100 {
		t.Fatalf("resolve printed %d lines", len(lines))
	}
	seen := map[string]bool{}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || (f[2] != "i386" && f[2] != "all") {
			t.Errorf("line %d %q is not `name version arch`", i+1, l)
		}
		if i > 0 && lines[i-1] >= l {
			t.Errorf("lines %d and %d out of order: %q, %q", i, i+1, lines[i-1], l)
		}
		seen[f[0]] = true
	}
	for _, want := range []string{"base-files", "libc6", "ssh", "pvm", "make", "m4", "dpkg"} {
		if !seen[want] {
			t.Errorf("resolved set lacks %s", want)
		}
	}
	if !strings.Contains(errOut, "expired") {
		t.Errorf("stderr does not warn about the expired archive key:\n%s", errOut)
	}
}
