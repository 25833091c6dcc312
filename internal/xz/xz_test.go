package xz

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// arMembers returns the members of an ar archive (a .deb) by name.
func arMembers(b []byte) (map[string][]byte, error) {
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		return nil, fmt.Errorf("not an ar archive")
	}
	out := map[string][]byte{}
	b = b[8:]
	for len(b) >= 60 {
		name := strings.TrimRight(strings.TrimSpace(string(b[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(b[48:58])))
		if err != nil || size < 0 || 60+size > len(b) {
			return nil, fmt.Errorf("bad ar header %q", b[:60])
		}
		out[name] = b[60 : 60+size]
		b = b[60+size:]
		if size%2 == 1 && len(b) > 0 {
			b = b[1:]
		}
	}
	return out, nil
}

// xzMembers returns the .xz members of the .deb at path, named deb/member.
func xzMembers(t testing.TB, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := arMembers(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string][]byte{}
	for name, data := range m {
		if strings.HasSuffix(name, ".xz") {
			out[filepath.Base(path)+"/"+name] = data
		}
	}
	return out
}

// xzTool decodes b with xz(1).
func xzTool(t testing.TB, xz string, b []byte) []byte {
	t.Helper()
	cmd := exec.Command(xz, "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz -dc: %v", err)
	}
	return out
}

func decode(b []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// compareWithXZ decodes b with Reader and with xz(1).
func compareWithXZ(t *testing.T, xz, name string, b []byte) {
	t.Helper()
	want := xzTool(t, xz, b)
	got, err := decode(b)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes (sha256 %x), xz -dc gives %d (sha256 %x)", name,
			len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

// TestPool compares every xz member of the .debs under $XENIMG_XZ_POOL
// (e.g. a mirror's pool/) with xz -dc.
func TestPool(t *testing.T) {
	dir := os.Getenv("XENIMG_XZ_POOL")
	if dir == "" {
		t.Skip("XENIMG_XZ_POOL not set")
	}
	xz := testenv.Tool(t, "xz")
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".deb") {
			return err
		}
		for name, b := range xzMembers(t, p) {
			compareWithXZ(t, xz, name, b)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d members compared", n)
}
