package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xenimg/xenimg/clone"
	"github.com/xenimg/xenimg/clone/plan"
	"github.com/xenimg/xenimg/clone/sshkey"
)

func init() {
	register(&command{
		name:    "clone",
		args:    "",
		summary: "Clone the template into slaves 1..N (image files or LVM), each with its own identity, plus the master's cluster files.",
		examples: []string{
			"xenimg clone --n 8",
			"xenimg clone --n 10 --from out/bookworm-pvm            # adds slaves 9 and 10",
			"xenimg clone --n 4 --target lvm:vg0 --dry-run",
			"xenimg clone --n 4 --ssh-key ~/.ssh/id_ed25519.pub",
			"ssh -F out/bookworm-pvm/cluster/ssh_config slave1 hostname",
		},
		nargs: [2]int{0, 0},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var (
				n             int
				from, target  string
				force, dryRun bool
				sshKeys       stringList
				seedFile      string
				jobs          int
			)
			fs.IntVar(&n, "n", 0, "number of slaves (required)")
			fs.StringVar(&from, "from", "", "template `DIR` made by xenimg build (default: the one directory under ./out)")
			fs.StringVar(&target, "target", "", "where volumes go: dir or lvm:VG (default: the recipe's clone.target)")
			fs.BoolVar(&force, "force", false, "replace existing slave volumes")
			fs.BoolVar(&dryRun, "dry-run", false, "print the plan and write nothing")
			fs.Var(&sshKeys, "ssh-key", "public key `FILE.pub` to authorize on every slave besides the master's (repeatable)")
			fs.StringVar(&seedFile, "seed-file", "", "secret seed `FILE` (32 bytes or 64 hex digits) for a reproducible run; default DIR/cluster/ssh/seed, created on the first run")
			fs.IntVar(&jobs, "jobs", 0, "slaves made at once (default: number of CPUs)")
			return func(ctx context.Context, e *env, args []string) error {
				if n < 1 {
					return usageError{"--n N is required (N >= 1)"}
				}
				if target != "" {
					if _, err := plan.ParseTarget(target); err != nil {
						return usageError{fmt.Sprintf("--target %q: %v", target, err)}
					}
				}
				if from == "" {
					var err error
					if from, err = defaultTemplate("out"); err != nil {
						return err
					}
				}
				o := clone.Options{From: from, N: n, Target: target, Force: force, Jobs: jobs, Rand: rand.Reader, Log: e.log}
				for _, p := range sshKeys {
					keys, err := readPublicKeys(p)
					if err != nil {
						return err
					}
					o.ExtraKeys = append(o.ExtraKeys, keys...)
				}
				if seedFile != "" {
					data, err := os.ReadFile(seedFile)
					if err != nil {
						return fmt.Errorf("reading --seed-file: %w", err)
					}
					s, err := clone.ParseSeed(data)
					if err != nil {
						return fmt.Errorf("--seed-file %s: %w", seedFile, err)
					}
					o.Seed = &s
				}
				c, err := clone.New(ctx, o)
				if err != nil {
					return err
				}
				if dryRun {
					return c.Describe(e.stdout)
				}
				res, err := c.Run(ctx)
				if err != nil {
					return err
				}
				for _, h := range res.Made {
					fmt.Fprintf(e.stdout, "made %s\n", h)
				}
				for _, h := range res.Kept {
					fmt.Fprintf(e.stdout, "kept %s\n", h)
				}
				fmt.Fprintf(e.stdout, "cluster %s\n", res.ClusterDir)
				return nil
			}
		},
	})
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// readPublicKeys reads the keys of a .pub or authorized_keys file.
func readPublicKeys(p string) ([]sshkey.PublicKey, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading --ssh-key: %w", err)
	}
	var keys []sshkey.PublicKey
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, err := sshkey.ParsePublicKey([]byte(l))
		if err != nil {
			return nil, fmt.Errorf("--ssh-key %s:%d: %w", p, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--ssh-key %s: no public key in the file", p)
	}
	return keys, nil
}

// defaultTemplate returns the one directory under out that holds a
// manifest.json.
func defaultTemplate(out string) (string, error) {
	ents, err := os.ReadDir(out)
	if err != nil {
		return "", usageError{fmt.Sprintf("no --from given and %s/ cannot be read (%v): run xenimg build first or pass --from DIR", out, err)}
	}
	var found []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, e.Name(), "manifest.json")); err == nil {
			found = append(found, filepath.Join(out, e.Name()))
		}
	}
	sort.Strings(found)
	switch len(found) {
	case 0:
		return "", usageError{fmt.Sprintf("no --from given and no template (a directory with manifest.json) under %s/", out)}
	case 1:
		return found[0], nil
	}
	return "", usageError{fmt.Sprintf("no --from given and %d templates under %s/: %s; pick one with --from", len(found), out, strings.Join(found, ", "))}
}
