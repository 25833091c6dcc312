package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/internal/testarchive"
)

// recordingStage stands in for the chroot second stage to check what Build
// hands it: the required packages in t, the others through Rest. It
// configures nothing (builder/secondstage's tests run the real one).
type recordingStage struct {
	wait    bool // block until the build stops it, as a long dpkg run would
	stopped bool // it was
	gotT    []string
	gotRest []string
	restErr error
}

func (s *recordingStage) Choose(mode, arch string) (string, string, error) {
	return "chroot", "test", nil
}

func installed(t *tree.Tree) []string {
	var names []string
	info, err := t.Lookup("/var/lib/dpkg/info")
	if err != nil {
		return nil
	}
	for _, e := range info.Names() {
		if n, ok := strings.CutSuffix(e, ".list"); ok {
			names = append(names, n)
		}
	}
	return names
}

func (s *recordingStage) Run(ctx context.Context, t *tree.Tree, in SecondStageInput) (*tree.Tree, error) {
	s.gotT = installed(t)
	if in.Rest == nil {
		return t, nil
	}
	if s.wait {
		select {
		case <-ctx.Done():
			s.stopped = true
			return nil, ctx.Err()
		case <-time.After(time.Minute):
			return nil, errors.New("the second stage was not stopped")
		}
	}
	rt, err := in.Rest(ctx)
	if err != nil {
		s.restErr = err
		return nil, err
	}
	s.gotRest = installed(rt)
	return t, rt.Close()
}

// TestBuildSplitsRequired: a chroot build hands the second stage the
// required packages unpacked and the rest through Rest; a bad .deb among
// the rest stops the second stage at once and is reported as itself.
func TestBuildSplitsRequired(t *testing.T) {
	mirror, _ := sargeMirror(t)
	key := testarchive.PublicKeyring(t, testarchive.KeySarge, false)
	r := sargeRecipe(t, mirror, key, `configure  = "none"`, `configure  = "chroot"`)

	s := &recordingStage{}
	o := buildOpts(t, r, filepath.Join(t.TempDir(), "out"), nil)
	o.SecondStage = s
	if _, err := Build(context.Background(), r, o); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.gotT, "base-files") || slices.Contains(s.gotT, "pvm") {
		t.Errorf("second stage's tree holds %v: want the required packages only", s.gotT)
	}
	if !slices.Contains(s.gotRest, "pvm") || slices.Contains(s.gotRest, "base-files") {
		t.Errorf("rest holds %v: want the others only", s.gotRest)
	}

	// A signed archive whose pvm would write outside the root: only
	// unpacking it finds out, after the required packages went on.
	pkgs := testarchive.SargeUniverse()
	for i := range pkgs {
		if pkgs[i].Name == "pvm" {
			pkgs[i].Files = []testarchive.File{{Path: "../escape", Body: []byte("x")}}
			pkgs[i].RawPaths = true
		}
	}
	bad := t.TempDir()
	a := &testarchive.Archive{
		Codename: "sarge", Suite: "stable", Version: "3.1r8", Style: testarchive.Sarge,
		Key: testarchive.SargeKey(t), Packages: pkgs,
	}
	if err := a.Write(bad); err != nil {
		t.Fatal(err)
	}
	r = sargeRecipe(t, "file://"+bad, key, `configure  = "none"`, `configure  = "chroot"`)
	s = &recordingStage{wait: true}
	out := filepath.Join(t.TempDir(), "out")
	o = buildOpts(t, r, out, nil)
	o.SecondStage = s
	_, err := Build(context.Background(), r, o)
	if err == nil || !strings.Contains(err.Error(), "pvm") || !strings.Contains(err.Error(), "escape") || strings.Contains(err.Error(), "second stage") {
		t.Errorf("a hostile .deb in the rest: %v, want an error naming pvm, not the second stage", err)
	}
	if !s.stopped {
		t.Error("the second stage went on after the rest failed")
	}
	if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("failed build left %s behind (%v)", out, serr)
	}
}
