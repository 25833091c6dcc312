package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/secondstage"
	"github.com/xenimg/xenimg/internal/testenv"
)

// run runs the CLI in process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsage(t *testing.T) {
	if code, _, errOut := run(t); code != exitUsage || !strings.Contains(errOut, "Commands:") {
		t.Errorf("no args: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "cat", "only-one-arg"); code != exitUsage || !strings.Contains(errOut, "IMAGE PATH") {
		t.Errorf("cat with one arg: code %d, stderr %q", code, errOut)
	}
	code, _, errOut := run(t, "ls", "--help")
	if code != exitOK || !strings.Contains(errOut, "Examples:") {
		t.Errorf("ls --help: code %d, stderr %q", code, errOut)
	}
}

func TestLsCat(t *testing.T) {
	mke2fs := testenv.Tool(t, "mke2fs")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("slave1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "root.img")
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-d", src, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}

	code, out, errOut := run(t, "cat", img, "/etc/hostname")
	if code != exitOK || out != "slave1\n" {
		t.Errorf("cat: code %d, out %q, err %q", code, out, errOut)
	}
	code, out, errOut = run(t, "ls", img)
	if code != exitOK || !strings.Contains(out, "link -> /etc/hostname") || !strings.Contains(out, " etc\n") {
		t.Errorf("ls /: code %d, out %q, err %q", code, out, errOut)
	}
	code, out, _ = run(t, "ls", img, "/etc/hostname")
	if code != exitOK || !strings.HasPrefix(out, "-rw-r--r-- 1 ") || !strings.HasSuffix(out, " hostname\n") {
		t.Errorf("ls file: code %d, out %q", code, out)
	}
	code, _, errOut = run(t, "cat", img, "/etc/nope")
	if code != exitFail || !strings.Contains(errOut, img+": /etc/nope:") {
		t.Errorf("cat missing: code %d, err %q", code, errOut)
	}
	// A file that is not an image.
	bad := filepath.Join(dir, "bad.img")
	if err := os.WriteFile(bad, bytes.Repeat([]byte{0xAA}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "ls", bad)
	if code != exitFail || !strings.Contains(errOut, "opening "+bad) {
		t.Errorf("ls corrupt: code %d, err %q", code, errOut)
	}
}

func TestResolveBadRecipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.toml")
	if err := os.WriteFile(p, []byte("name = \"x\"\n[suite]\ncodename = \"bookwrom\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "resolve", "--cache", t.TempDir(), p)
	if code != exitFail || out != "" || !strings.Contains(errOut, p+":3: suite.codename: unknown codename \"bookwrom\"") {
		t.Errorf("code %d, out %q, err %q", code, out, errOut)
	}
}

func TestRootHashFileAgrees(t *testing.T) {
	if builder.RootHashFile != secondstage.RootHashFile {
		t.Errorf("builder leaves the root hash at %s, the first-boot script reads %s", builder.RootHashFile, secondstage.RootHashFile)
	}
}

func TestCloneBadTargetIsUsage(t *testing.T) {
	code, _, errOut := run(t, "clone", "--n", "2", "--from", t.TempDir(), "--target", "nfs:/x")
	if code != exitUsage || !strings.Contains(errOut, `--target "nfs:/x"`) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}
