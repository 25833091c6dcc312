package builder

import (
	"path/filepath"
	"testing"
)

// TestShippedRecipes loads every recipe in recipes/: they must stay valid.
func TestShippedRecipes(t *testing.T) {
	paths, err := filepath.Glob("../recipes/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sarge-pvm.toml": true, "bookworm-pvm.toml": true, "trixie-mpi.toml": true, "minbase.toml": true}
	for _, p := range paths {
		r, err := LoadRecipe(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if r.Name+".toml" != filepath.Base(p) {
			t.Errorf("%s: name %q does not match the file name", p, r.Name)
		}
		delete(want, filepath.Base(p))
	}
	for name := range want {
		t.Errorf("recipes/%s is missing", name)
	}
}
