package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/xenimg/xenimg/builder/ext3"
)

func init() {
	register(&command{
		name:    "ls",
		args:    "IMAGE [PATH]",
		summary: "List a directory (or one file) inside an ext2/ext3 image, like ls -l, without mounting it.",
		examples: []string{
			"xenimg ls out/bookworm-pvm/root.img /etc/ssh",
			"xenimg ls out/bookworm-pvm/slaves/slave1/root.img /root/.ssh",
		},
		nargs: [2]int{1, 2},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, args []string) error {
				p := "/"
				if len(args) == 2 {
					p = args[1]
				}
				return withImage(args[0], func(img *ext3.FS) error {
					if err := listPath(e.stdout, img, p); err != nil {
						return fmt.Errorf("%s: %s: %w", args[0], p, err)
					}
					return nil
				})
			}
		},
	})
	register(&command{
		name:    "cat",
		args:    "IMAGE PATH",
		summary: "Print a file from an ext2/ext3 image to stdout, without mounting it.",
		examples: []string{
			"xenimg cat out/bookworm-pvm/root.img /etc/hostname",
			"xenimg cat out/bookworm-pvm/root.img /etc/fstab",
		},
		nargs: [2]int{2, 2},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(ctx context.Context, e *env, args []string) error {
				return withImage(args[0], func(img *ext3.FS) error {
					data, err := img.ReadFile(imagePath(args[1]))
					if err != nil {
						return fmt.Errorf("%s: %s: %w", args[0], args[1], err)
					}
					_, err = e.stdout.Write(data)
					return err
				})
			}
		},
	})
}

// withImage opens an image read-only for fn.
func withImage(name string, fn func(*ext3.FS) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer img.Close()
	return fn(img)
}

// imagePath turns "/etc/hosts" into the io/fs name "etc/hosts".
func imagePath(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

func listPath(w io.Writer, img *ext3.FS, p string) error {
	name := imagePath(p)
	fi, err := img.Lstat(name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		_, err := fmt.Fprintln(w, ext3.FormatLong(fi))
		return err
	}
	ents, err := img.ReadDir(name)
	if err != nil {
		return err
	}
	for _, de := range ents {
		info, err := de.Info()
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w, ext3.FormatLong(info)); err != nil {
			return err
		}
	}
	return nil
}
