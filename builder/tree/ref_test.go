package tree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromDirRefAndSkip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "var/cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 4096)
	for name, body := range map[string]string{"a": big, "var/cache/p.deb": "deb", "var/cache/keep": "k"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := FromDirRef(src, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.SpoolSize() != 0 {
		t.Errorf("FromDirRef copied %d bytes into the spool", tr.SpoolSize())
	}
	if got, err := tr.ReadFile("/a"); err != nil || string(got) != big {
		t.Fatalf("ReadFile through the reference: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	err = tr.Materialize(out, MaterializeOptions{Skip: func(p string, n *Node) bool {
		return strings.HasSuffix(p, ".deb")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "var/cache/p.deb")); !os.IsNotExist(err) {
		t.Errorf("skipped entry was written (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "var/cache/keep")); err != nil || string(b) != "k" {
		t.Errorf("kept entry: %q, %v", b, err)
	}
}
