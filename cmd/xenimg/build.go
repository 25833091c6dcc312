package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/secondstage"
)

func init() {
	register(&command{
		name:    "build",
		args:    "RECIPE",
		summary: "Build the recipe's template: root.img, swap.img, NAME.cfg and manifest.json in out/NAME/.",
		examples: []string{
			"xenimg build recipes/bookworm-pvm.toml",
			"xenimg build -o /srv/xen/template --cache /var/cache/xenimg recipes/trixie-mpi.toml",
			"SOURCE_DATE_EPOCH=1700000000 xenimg build --configure none recipes/minbase.toml",
		},
		nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var (
				cache     cacheFlags
				out, work string
				configure string
			)
			cache.register(fs)
			fs.StringVar(&out, "o", "", "output `DIR` (default out/NAME)")
			fs.StringVar(&work, "work", "", "scratch `DIR` (default: a temporary directory)")
			fs.StringVar(&configure, "configure", "", "override image.configure: auto, chroot, firstboot or none")
			return func(ctx context.Context, e *env, args []string) error {
				defer startProgress(e, &cache)()
				if _, err := secondstage.ParseMode(configure); err != nil {
					return usageError{fmt.Sprintf("--configure: %v", err)}
				}
				r, err := builder.LoadRecipe(args[0])
				if err != nil {
					return err
				}
				epoch, _, err := sourceDateEpoch()
				if err != nil {
					return err
				}
				f, err := cache.fetcher()
				if err != nil {
					return err
				}
				first, err := firstStage(r, time.Now())
				if err != nil {
					return err
				}
				if out == "" {
					out = filepath.Join("out", r.Name)
				}
				res, err := builder.Build(ctx, r, builder.Options{
					OutDir: out, Fetcher: f, First: first, Epoch: epoch, WorkDir: work,
					Configure: configure, SecondStage: secondStage{e.log}, Log: e.log,
				})
				if err != nil {
					return err
				}
				cache.progress.done()
				fmt.Fprintln(e.stdout, res.Dir)
				return nil
			}
		},
	})
}
