package main

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/swap"
	"github.com/xenimg/xenimg/internal/testenv"
)

// recipesDir is found before tests change directory.
var recipesDir, _ = filepath.Abs("../../recipes")

// cloneTemplate writes a minimal template directory under parent/name:
// root.img from mke2fs -d, swap.img, recipe.toml and manifest.json.
func cloneTemplate(t *testing.T, parent, name string) string {
	t.Helper()
	mke2fs := testenv.Tool(t, "mke2fs")
	dir := filepath.Join(parent, name)
	src := filepath.Join(t.TempDir(), "src")
	for p, data := range map[string]string{
		"etc/hostname":           "template\n",
		"etc/hosts":              "127.0.0.1\tlocalhost\n10.0.0.11\ttemplate\n",
		"etc/network/interfaces": "auto eth0\niface eth0 inet static\n  address 10.0.0.11/24\n  gateway 10.0.0.1\n",
		"etc/ssh/sshd_config":    "\n",
	} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-d", src, filepath.Join(dir, "root.img"), "16M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	f, err := os.Create(filepath.Join(dir, "swap.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := swap.Write(f, 1<<20, swap.Options{Label: "swap"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := os.ReadFile(filepath.Join(recipesDir, "bookworm-pvm.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(r), `size       = "1GiB"`, `size       = "16MiB"`, 1)
	s = strings.Replace(s, `swap       = "64MiB"`, `swap       = "1MiB"`, 1)
	os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte(s), 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"name":"bookworm-pvm","epoch":1700000000,"configure":"none"}`), 0o644)
	return dir
}

func TestClone(t *testing.T) {
	testenv.Tool(t, "ssh-keygen")
	work := t.TempDir()
	tmpl := cloneTemplate(t, filepath.Join(work, "out"), "bookworm-pvm")
	t.Chdir(work)

	// Dry run: the plan, nothing written.
	code, out, errOut := run(t, "clone", "--n", "3", "--dry-run")
	if code != exitOK {
		t.Fatalf("dry run: code %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "slave3\t10.0.0.13\t00:16:3e:") || !strings.HasSuffix(lines[2], "\tnew") ||
		!strings.Contains(lines[0], "root="+filepath.Join(tmpl, "slaves/slave1/root.img")) {
		t.Errorf("dry run printed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(tmpl, "cluster")); err == nil {
		t.Errorf("--dry-run wrote cluster/")
	}

	// A real run with a seed file and a user's key.
	seedFile := filepath.Join(work, "seed")
	os.WriteFile(seedFile, []byte(hex.EncodeToString(make([]byte, 32))+"\n"), 0o600)
	userKey := filepath.Join(work, "user")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@desk", "-f", userKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	code, out, errOut = run(t, "clone", "--n", "2", "--seed-file", seedFile, "--ssh-key", userKey+".pub", "--jobs", "2")
	if code != exitOK || !strings.Contains(out, "made slave1\nmade slave2\n") {
		t.Fatalf("clone: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(tmpl, "cluster/ssh/seed")); err == nil {
		t.Errorf("--seed-file given, yet cluster/ssh/seed was written")
	}
	code, out, _ = run(t, "cat", filepath.Join(tmpl, "slaves/slave2/root.img"), "/root/.ssh/authorized_keys")
	pub, _ := os.ReadFile(userKey + ".pub")
	master, _ := os.ReadFile(filepath.Join(tmpl, "cluster/ssh/id_ed25519.pub"))
	if code != exitOK || out != string(master)+string(pub) {
		t.Errorf("authorized_keys:\n%s\nwant the master's key, then\n%s", out, pub)
	}
	code, out, _ = run(t, "cat", filepath.Join(tmpl, "slaves/slave2/root.img"), "/etc/network/interfaces")
	if code != exitOK || !strings.Contains(out, "address 10.0.0.12/24\n") {
		t.Errorf("interfaces:\n%s", out)
	}
	// Again, larger: slave1 and 2 are kept.
	code, out, _ = run(t, "clone", "--n", "3", "--seed-file", seedFile)
	if code != exitOK || !strings.Contains(out, "made slave3\nkept slave1\nkept slave2\n") {
		t.Errorf("grow: code %d\n%s", code, out)
	}
	code, out, _ = run(t, "clone", "--n", "3", "--dry-run")
	if code != exitOK || strings.Count(out, "\texists\n") != 3 {
		t.Errorf("dry run after: %s", out)
	}
}

func TestCloneUsage(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"clone"}, exitUsage, "--n N is required"},
		{[]string{"clone", "--n", "2"}, exitUsage, "run xenimg build first or pass --from"},
		{[]string{"clone", "--n", "2", "extra"}, exitUsage, "expected arguments"},
		{[]string{"clone", "--help"}, exitOK, "Examples:"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	testenv.Tool(t, "mke2fs")
	a := cloneTemplate(t, filepath.Join(work, "out"), "a")
	cloneTemplate(t, filepath.Join(work, "out"), "b")
	code, _, errOut := run(t, "clone", "--n", "2")
	if code != exitUsage || !strings.Contains(errOut, "2 templates under out/: out/a, out/b") {
		t.Errorf("two templates: code %d, stderr %q", code, errOut)
	}
	bad := filepath.Join(work, "bad.pub")
	os.WriteFile(bad, []byte("ssh-ed25519 AAAA\n"), 0o644)
	code, _, errOut = run(t, "clone", "--n", "1", "--from", a, "--ssh-key", bad)
	if code != exitFail || !strings.Contains(errOut, bad+":1") {
		t.Errorf("bad --ssh-key: code %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, "clone", "--n", "1", "--from", a, "--seed-file", bad)
	if code != exitFail || !strings.Contains(errOut, "32 bytes or 64 hex digits") {
		t.Errorf("bad --seed-file: code %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, "clone", "--n", "999", "--from", a, "--dry-run")
	if code != exitFail || !strings.Contains(errOut, "too small for 999 slaves") {
		t.Errorf("subnet too small: code %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(a, "cluster")); err == nil {
		t.Errorf("a refused run wrote cluster/")
	}
}
