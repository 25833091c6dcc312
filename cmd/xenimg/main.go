// Command xenimg builds Xen guest images from Debian and clones them into
// cluster slaves. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

func main() { os.Exit(mainCode()) }

func mainCode() int {
	// Peak memory matters more than a few GC cycles (DESIGN: under 300 MB):
	// parsing a current suite's indexes makes a lot of short-lived garbage.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(200 << 20)
	}
	if p := os.Getenv("XENIMG_CPUPROFILE"); p != "" { // for developers
		if f, err := os.Create(p); err == nil {
			defer f.Close() // runs after StopCPUProfile
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the command cleans up; a second one kills.
		<-ctx.Done()
		stop()
	}()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
