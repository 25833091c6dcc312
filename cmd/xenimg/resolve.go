package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{
		name:    "resolve",
		args:    "RECIPE",
		summary: "Print the recipe's resolved package set, one `name version arch` a line, sorted.",
		examples: []string{
			"xenimg resolve recipes/bookworm-pvm.toml",
			"xenimg resolve --offline recipes/minbase.toml | wc -l",
		},
		nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var cache cacheFlags
			cache.register(fs)
			return func(ctx context.Context, e *env, args []string) error {
				defer startProgress(e, &cache)()
				plan, _, err := planRecipe(ctx, e, &cache, args[0])
				if err != nil {
					return err
				}
				for _, p := range plan.Set.Packages {
					fmt.Fprintf(e.stdout, "%s %s %s\n", p.Name, p.Version, p.Arch)
				}
				return nil
			}
		},
	})
}
