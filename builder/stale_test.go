package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/internal/testarchive"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestBuildCleansStale: what a SIGKILLed build leaves in the output
// directory (staging, work directories, the chroot's tmpfs still mounted)
// is removed by the next build there.
func TestBuildCleansStale(t *testing.T) {
	testenv.Root(t)
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false))
	out := filepath.Join(t.TempDir(), "out dir") // a space: mountinfo escapes it
	root := filepath.Join(out, ".work-123", "xenimg-secondstage-456", "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("xenimg-root", root, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(root, "etc-file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(out, ".build-789"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), r, buildOpts(t, r, out, nil)); err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), strings.ReplaceAll(root, " ", `\040`)) {
		t.Errorf("the stale tmpfs is still mounted:\n%s", mi)
	}
	for _, stale := range []string{".work-123", ".build-789"} {
		if _, err := os.Stat(filepath.Join(out, stale)); err == nil {
			t.Errorf("%s left in the output directory", stale)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Errorf("no template built: %v", err)
	}
}

// TestBuildLocked: a build into a directory another build holds is
// refused, and touches nothing there.
func TestBuildLocked(t *testing.T) {
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false))
	out := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(filepath.Join(out, ".work-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := lockOut(out)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = Build(context.Background(), r, buildOpts(t, r, out, nil))
	if err == nil || !strings.Contains(err.Error(), "another xenimg build is writing there") {
		t.Errorf("build into a locked directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, ".work-1")); err != nil {
		t.Errorf("the other build's work directory was touched: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/srv/out\040dir/.work-1`: "/srv/out dir/.work-1",
		`/a\134b`:                 `/a\b`,
		`/plain`:                  "/plain",
		`/odd\04`:                 `/odd\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
