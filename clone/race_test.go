package clone_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/xenimg/xenimg/clone"
)

// TestOverlappingRuns: a job validated before another run made its
// slaves (two overlapping clones) looks again under the lock and keeps
// them, instead of making the same slaves twice and swapping the other
// run's away without --force.
func TestOverlappingRuns(t *testing.T) {
	dir := makeTemplate(t, tmplOptions{})
	ctx := context.Background()
	late, err := clone.New(ctx, clone.Options{From: dir, N: 2, Seed: testSeed(8)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, clone.Options{From: dir, N: 2, Seed: testSeed(8)}); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, dir)
	res, err := late.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Made) != 0 || len(res.Kept) != 2 {
		t.Errorf("the late run made %v and kept %v, want it to keep both", res.Made, res.Kept)
	}
	sameState(t, "after the late run", before, treeState(t, dir))
	// A foreign volume appearing after New is refused under the lock.
	dir2 := makeTemplate(t, tmplOptions{})
	late, err = clone.New(ctx, clone.Options{From: dir2, N: 1, Seed: testSeed(8)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir2, "slaves", "slave1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "slaves", "slave1", "root.img"), []byte("not mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Run(ctx); !errors.Is(err, clone.ErrExists) {
		t.Errorf("a foreign slave1 after New: got %v, want ErrExists", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir2, "slaves", "slave1", "root.img")); string(data) != "not mine" {
		t.Errorf("the foreign root.img was replaced")
	}
}
