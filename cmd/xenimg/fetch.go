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
				plan, debs, err := planAndFetch(ctx, e, &cache, args[0])
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
				plan, debs, err := planAndFetch(ctx, e, &cache, args[0])
				if err != nil {
					return err
				}
				dir := args[1]
				tmp := dir + ".tmp"
				os.RemoveAll(tmp)
				f, err := cache.fetcher()
				if err != nil {
					return err
				}
				if err := plan.Mirror(ctx, f, debs, tmp); err != nil {
					os.RemoveAll(tmp)
					return err
				}
				if err := os.RemoveAll(dir); err != nil {
					return err
				}
				if err := os.Rename(tmp, dir); err != nil {
					return err
				}
				abs, _ := filepath.Abs(dir)
				fmt.Fprintf(e.stdout, "file://%s\n", abs)
				return nil
			}
		},
	})
}

// planAndFetch resolves a recipe and makes sure its .debs are cached.
func planAndFetch(ctx context.Context, e *env, cache *cacheFlags, recipe string) (*debootstrap.Plan, []string, error) {
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
	debs, err := plan.Fetch(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	return plan, debs, nil
}
