package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name     string
	args     string // synopsis of the positional arguments
	summary  string
	examples []string
	// setup registers flags; run does the work with the positional args.
	setup func(fs *flag.FlagSet) func(ctx context.Context, env *env, args []string) error
	nargs [2]int // min, max positional args (max -1: any)
}

// env is what a command may use: output streams and a logger.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// Run runs xenimg with args (without the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		mainUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "xenimg: unknown command %q\n\n", args[0])
		mainUsage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("xenimg "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := c.setup(fs)
	fs.Usage = func() { commandUsage(stderr, c, fs) }
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) < c.nargs[0] || (c.nargs[1] >= 0 && len(pos) > c.nargs[1]) {
		fmt.Fprintf(stderr, "xenimg %s: expected arguments: %s\n", c.name, c.args)
		commandUsage(stderr, c, fs)
		return exitUsage
	}
	e := &env{stdout: stdout, stderr: stderr, log: newLogger(stderr)}
	if err := run(ctx, e, pos); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "xenimg %s: %v\n", c.name, err)
			return exitUsage
		}
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "xenimg %s: interrupted: %v\n", c.name, err)
			return exitFail
		}
		fmt.Fprintf(stderr, "xenimg %s: %v\n", c.name, err)
		return exitFail
	}
	return exitOK
}

// logLevel is Info, or Debug with XENIMG_DEBUG=1 (the guest's dpkg output
// of a second stage, every download).
var logLevel = func() slog.Level {
	if os.Getenv("XENIMG_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}()

// newLogger logs plain text lines to w, without times: the terminal has
// a clock, and tests compare logs.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: logLevel,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// parseInterspersed lets flags follow positional arguments
// (xenimg build recipe.toml -o out).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "xenimg builds Xen guest images from Debian, without root, and clones them into cluster slaves.\n\nUsage: xenimg COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'xenimg COMMAND --help' for a command's flags and examples.\n")
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: xenimg %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
	fs.PrintDefaults()
	if len(c.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n  %s\n", strings.Join(c.examples, "\n  "))
	}
}
