package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/debootstrap"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
)

func init() {
	register(&command{
		name:    "fetch",
		args:    "RECIPE",
		summary: "Fill the cache with everything the recipe needs (signed indexes and .debs), for --offline builds.",
		examples: []string{
			"xenimg fetch recipes/bookworm-pvm.toml && xenimg build --offline recipes/bookworm-pvm.toml",
			"xenimg fetch --cache /media/usb/xenimg-cache recipes/sarge-pvm.toml",
		},
		nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var cache cacheFlags
			cache.register(fs)
			return func(ctx context.Context, e *env, args []string) error {
				defer startProgress(e, &cache)()
				plan, _, debs, err := planAndFetch(ctx, e, &cache, args[0])
				if err != nil {
					return err
				}
				cache.progress.done()
				fmt.Fprintf(e.stdout, "%d packages and %d index files in %s\n", len(debs), len(plan.Archive.IndexFiles()), cache.dir)
				return nil
			}
		},
	})
	register(&command{
		name:    "mirror",
		args:    "RECIPE DIR",
		summary: "Write a partial Debian mirror (signed indexes verbatim + the recipe's .debs) that apt, debootstrap and xenimg accept as file://DIR.",
		examples: []string{
			"xenimg mirror recipes/bookworm-pvm.toml /srv/mirror/debian",
			"python3 -m http.server -d /srv/mirror 8080   # serve it to the slaves from dom0",
		},
		nargs: [2]int{2, 2},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var cache cacheFlags
			cache.register(fs)
			return func(ctx context.Context, e *env, args []string) error {
				defer startProgress(e, &cache)()
				plan, f, debs, err := planAndFetch(ctx, e, &cache, args[0])
				if err != nil {
					return err
				}
				dir := filepath.Clean(args[1])
				if err := writeMirror(ctx, plan, f, debs, dir); err != nil {
					return err
				}
				abs, _ := filepath.Abs(dir)
				fmt.Fprintf(e.stdout, "file://%s\n", abs)
				return nil
			}
		},
	})
}

// mirrorMarker marks a directory written by xenimg mirror: only such a
// directory is ever replaced.
const mirrorMarker = ".xenimg-mirror"

// writeMirror writes the mirror beside dir, then swaps it in; an existing
// dir is replaced only if xenimg wrote it.
func writeMirror(ctx context.Context, plan *debootstrap.Plan, f *fetch.Fetcher, debs []string, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, mirrorMarker)); err != nil {
			return fmt.Errorf("%s exists and is not a mirror xenimg wrote (no %s): not replacing it", dir, mirrorMarker)
		}
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := plan.Mirror(ctx, f, debs, tmp); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, mirrorMarker), []byte("written by xenimg mirror\n"), 0o644); err != nil {
		return err
	}
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// planRecipe loads a recipe and resolves its package set.
func planRecipe(ctx context.Context, e *env, cache *cacheFlags, recipe string) (*debootstrap.Plan, *fetch.Fetcher, error) {
	r, err := builder.LoadRecipe(recipe)
	if err != nil {
		return nil, nil, err
	}
	f, err := cache.fetcher()
	if err != nil {
		return nil, nil, err
	}
	o, err := firstStage(r, time.Now())
	if err != nil {
		return nil, nil, err
	}
	o.Log = e.log
	plan, err := debootstrap.Resolve(ctx, f, o)
	if err != nil {
		return nil, nil, err
	}
	return plan, f, nil
}

// planAndFetch resolves a recipe and makes sure its .debs are cached.
func planAndFetch(ctx context.Context, e *env, cache *cacheFlags, recipe string) (*debootstrap.Plan, *fetch.Fetcher, []string, error) {
	plan, f, err := planRecipe(ctx, e, cache, recipe)
	if err != nil {
		return nil, nil, nil, err
	}
	debs, err := plan.Fetch(ctx, f)
	if err != nil {
		return nil, nil, nil, err
	}
	return plan, f, debs, nil
}
