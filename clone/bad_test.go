package clone_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/clone"
	"github.com/xenimg/xenimg/clone/lvm"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestBadInput: each mistake is refused by New with a message naming it,
// and nothing is written into the template directory.
func TestBadInput(t *testing.T) {
	testenv.Tool(t, "mke2fs")
	tests := []struct {
		name   string
		tmpl   tmplOptions
		opts   clone.Options
		damage func(t *testing.T, dir string)
		want   []string
		is     error
	}{
		{
			name: "invalid host name",
			tmpl: tmplOptions{edits: []string{`hostname    = "slave{n}"`, `hostname    = "debian_slave{n}"`}},
			opts: clone.Options{N: 2},
			want: []string{"recipe.toml:42", "clone.hostname", `"debian_slave1"`, "RFC 1123"},
		},
		{
			name: "subnet too small",
			opts: clone.Options{N: 300},
			want: []string{"10.0.0.0/24 is too small for 300 slaves", "at most 244 fit"},
		},
		{
			name: "IP collision with the gateway",
			tmpl: tmplOptions{edits: []string{`first_ip    = "10.0.0.11"`, `first_ip    = "10.0.0.2"`, `gateway     = "10.0.0.1"`, `gateway     = "10.0.0.5"`}},
			opts: clone.Options{N: 8},
			want: []string{"slave 4", "IP collision", "network.gateway"},
		},
		{
			name: "bad target",
			opts: clone.Options{N: 1, Target: "nfs:/srv"},
			want: []string{"clone.target", `"nfs:/srv"`},
		},
		{
			name: "corrupt template: bad superblock magic",
			opts: clone.Options{N: 1},
			damage: func(t *testing.T, dir string) {
				f, err := os.OpenFile(filepath.Join(dir, "root.img"), os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte{0, 0}, 1024+0x38)
				f.Close()
			},
			want: []string{"template", "root.img", "not a usable ext2/ext3 image"},
		},
		{
			name: "corrupt template: truncated",
			opts: clone.Options{N: 1},
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, "root.img"), 1<<20); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"root.img", "truncated"},
		},
		{
			name: "corrupt template: block bitmap disagrees with the superblock",
			opts: clone.Options{N: 1},
			damage: func(t *testing.T, dir string) {
				// Block 0 of a 4 KiB filesystem: superblock, then the group
				// descriptors in block 1; group 0's block bitmap block number
				// is the first field.
				f, err := os.OpenFile(filepath.Join(dir, "root.img"), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var gd [4]byte
				f.ReadAt(gd[:], 4096)
				bb := int64(gd[0]) | int64(gd[1])<<8 | int64(gd[2])<<16 | int64(gd[3])<<24
				f.WriteAt(make([]byte, 4096), bb*4096) // every block of group 0 "free"
			},
			want: []string{"root.img", "block bitmaps mark"},
		},
		{
			name: "swap is not a swap area",
			opts: clone.Options{N: 1},
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "swap.img"), make([]byte, 8192), 0o644)
			},
			want: []string{"swap.img", "SWAPSPACE2"},
		},
		{
			name:   "no manifest",
			opts:   clone.Options{N: 1},
			damage: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.json")) },
			want:   []string{"manifest", "xenimg build"},
		},
		{
			name: "unknown codename for ssh keys",
			tmpl: tmplOptions{codename: "hamm"},
			opts: clone.Options{N: 1},
			want: []string{"hamm"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeTemplate(t, tc.tmpl)
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			before := treeState(t, dir)
			o := tc.opts
			o.From, o.Seed = dir, testSeed(9)
			_, err := run(t, o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			sameState(t, "after the refused run", before, treeState(t, dir))
		})
	}
}

// TestMissingVG: a target VG that does not exist is an error before any
// work.
func TestMissingVG(t *testing.T) {
	testenv.Tool(t, "lvm")
	testenv.Root(t)
	dir := makeTemplate(t, tmplOptions{})
	before := treeState(t, dir)
	_, err := clone.New(context.Background(), clone.Options{From: dir, N: 2, Target: "lvm:xenimg_no_such_vg", Seed: testSeed(3)})
	if !errors.Is(err, lvm.ErrVGNotFound) || !strings.Contains(err.Error(), "xenimg_no_such_vg") {
		t.Errorf("got %v, want volume group not found naming it", err)
	}
	sameState(t, "after the refused run", before, treeState(t, dir))
}

// TestNoSeedNoRand: without a seed or a source of randomness Run refuses
// rather than derive keys from public data.
func TestNoSeedNoRand(t *testing.T) {
	dir := makeTemplate(t, tmplOptions{})
	before := treeState(t, dir)
	if _, err := clone.New(context.Background(), clone.Options{From: dir, N: 1}); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("got %v", err)
	}
	sameState(t, "after the refused run", before, treeState(t, dir))
}

// TestCancel: a cancelled run leaves no slave and no staging directory.
func TestCancel(t *testing.T) {
	dir := makeTemplate(t, tmplOptions{})
	c, err := clone.New(context.Background(), clone.Options{From: dir, N: 4, Seed: testSeed(4)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	for _, d := range []string{"slaves", "cluster", "xen"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			t.Errorf("a cancelled run wrote %s/", d)
		}
	}
}

// TestStaleStaging: what a killed run left under staging names is removed
// by the next run, and is never taken for a slave.
func TestStaleStaging(t *testing.T) {
	dir := makeTemplate(t, tmplOptions{})
	stale := filepath.Join(dir, "slaves", ".staging-slave1-123")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "root.img"), []byte("half"), 0o600)
	res, err := run(t, clone.Options{From: dir, N: 1, Seed: testSeed(6)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Made) != 1 {
		t.Errorf("made %v", res.Made)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale staging directory still there: %v", err)
	}
}
