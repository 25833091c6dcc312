package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/internal/testenv"
)

// publishTemplate writes a small template directory (root.img by mke2fs -d,
// swap.img, manifest.json).
func publishTemplate(t *testing.T) string {
	t.Helper()
	mke2fs := testenv.Tool(t, "mke2fs")
	tree, dir := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "etc/hostname"), []byte("template\n"), 0o644)
	img := filepath.Join(dir, "root.img")
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-d", tree, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "swap.img"), make([]byte, 1<<20), 0o644)
	m := builder.Manifest{Name: "cli", Epoch: 1700000000, Images: map[string]builder.Image{}}
	m.Suite.Codename, m.Suite.Arch = "trixie", "arm64"
	data, _ := os.ReadFile(img)
	s := sha256.Sum256(data)
	m.Images["root.img"] = builder.Image{Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])}
	j, _ := json.Marshal(&m)
	os.WriteFile(filepath.Join(dir, "manifest.json"), j, 0o644)
	return dir
}

func TestPublishVerifyCLI(t *testing.T) {
	dir := publishTemplate(t)
	code, out, errOut := run(t, "publish", dir, "--gpt")
	if code != exitOK {
		t.Fatalf("publish: code %d\n%s", code, errOut)
	}
	pub := filepath.Join(dir, "publish")
	for _, w := range []string{pub, "cli.img.xz", "cli.disk.img", "disk-raw+gpt"} {
		if !strings.Contains(out, w) {
			t.Errorf("publish stdout lacks %q:\n%s", w, out)
		}
	}
	code, out, errOut = run(t, "verify", pub)
	if code != exitOK || !strings.Contains(out, "OK") {
		t.Fatalf("verify: code %d\n%s%s", code, out, errOut)
	}
	// A tampered artifact: exit 1, the file named on stderr.
	p := filepath.Join(pub, "cli.tar.gz")
	data, _ := os.ReadFile(p)
	data[len(data)-10] ^= 1
	os.WriteFile(p, data, 0o644)
	if code, _, errOut := run(t, "verify", pub); code != exitFail || !strings.Contains(errOut, "cli.tar.gz: checksum mismatch") {
		t.Errorf("verify tampered: code %d, stderr %q", code, errOut)
	}
	// Bad input.
	if code, _, errOut := run(t, "publish"); code != exitUsage || !strings.Contains(errOut, "DIR") {
		t.Errorf("publish without DIR: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "publish", t.TempDir()); code != exitFail || !strings.Contains(errOut, "manifest") {
		t.Errorf("publish of an empty dir: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "publish", "--sign-key", filepath.Join(dir, "manifest.json"), dir); code != exitFail || !strings.Contains(errOut, "key ring") {
		t.Errorf("publish with a bad key: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "verify", t.TempDir()); code != exitFail || !strings.Contains(errOut, "SHA256SUMS") {
		t.Errorf("verify of an empty dir: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "publish", "--help"); code != exitOK || !strings.Contains(errOut, "Examples:") {
		t.Errorf("publish --help: code %d", code)
	}
}
