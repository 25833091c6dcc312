package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows download progress on stderr: a bar redrawn in place on a
// terminal, nothing extra otherwise (the log lines say what happens).
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	bytes int64
	last  time.Time
	start time.Time
	shown bool
}

// newProgress returns nil when w is not a terminal.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{w: w, start: time.Now()}
}

// add is a fetch.Options.Progress callback.
func (p *progress) add(_ string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	rate := float64(p.bytes) / now.Sub(p.start).Seconds() / (1 << 20)
	bar := int(now.Sub(p.start).Seconds()*4) % 20
	fmt.Fprintf(p.w, "\r\x1b[Kdownloading [%-20s] %7.1f MiB  %5.1f MiB/s", spaces(bar)+"=", float64(p.bytes)/(1<<20), rate)
	p.shown = true
}

// Write passes a log line through, clearing the meter first so the line
// starts at the left margin; the next update redraws the meter.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
	return p.w.Write(b)
}

// start shows progress for one command: e's logger then writes through
// the meter. It returns the meter's done function.
func startProgress(e *env, c *cacheFlags) func() {
	c.progress = newProgress(e.stderr)
	if c.progress == nil {
		return func() {}
	}
	e.log = newLogger(c.progress)
	return c.progress.done
}

// done clears the bar.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func spaces(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	return string(b)
}
