package clone_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/clone"
)

// TestSmallerN: a rerun with a smaller N (plain or --force) keeps the
// complete slaves beyond it, untouched and still in every cluster file.
func TestSmallerN(t *testing.T) {
	dir := makeTemplate(t, tmplOptions{})
	if _, err := run(t, clone.Options{From: dir, N: 3, Seed: testSeed(9)}); err != nil {
		t.Fatal(err)
	}
	cluster := filepath.Join(dir, "cluster")
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(cluster, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	files := []string{"hosts", "pvm_hosts", "mpi_hosts", "known_hosts", "ssh_config", "inventory.json"}
	want := map[string]string{}
	for _, f := range files {
		want[f] = read(f)
		if !strings.Contains(want[f], "slave3") {
			t.Fatalf("cluster/%s of the first run lacks slave3:\n%s", f, want[f])
		}
	}
	slave3 := fileHash(t, filepath.Join(dir, "slaves", "slave3", "root.img"))
	for _, force := range []bool{false, true} {
		res, err := run(t, clone.Options{From: dir, N: 2, Seed: testSeed(9), Force: force})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Kept, "slave3") || slices.Contains(res.Made, "slave3") {
			t.Errorf("force=%v: made %v, kept %v; want slave3 kept", force, res.Made, res.Kept)
		}
		for _, f := range files {
			if got := read(f); got != want[f] {
				t.Errorf("force=%v: cluster/%s changed:\n%s\nwant:\n%s", force, f, got, want[f])
			}
		}
		if got := fileHash(t, filepath.Join(dir, "slaves", "slave3", "root.img")); got != slave3 {
			t.Errorf("force=%v: slave3 was touched", force)
		}
	}
}
