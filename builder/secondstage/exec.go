package secondstage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// inNamespace is run by the host's /bin/sh as PID 1 of fresh mount and
// PID namespaces: it mounts /proc, /sys and /dev/pts under the root, then
// runs the chrooted command. When that command ends, the kernel kills
// every process left in the namespace and drops the mounts with it.
//
// PID 1 stays outside the chroot on purpose: ischroot(1) compares / with
// /proc/1/root, and maintainer scripts ask it whether they run in a chroot
// (libc6's postinst otherwise runs "telinit u; sleep 1").
const inNamespace = `set -e
r=$1; shift
mount --make-rprivate / 2>/dev/null || true
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts" 2>/dev/null || true
chroot "$r" "$@"
`

// tailLines is how many lines of a failing command's output an error shows.
const tailLines = 25

// contextLines is how many lines before dpkg's first error report an error
// shows.
const contextLines = 12

// runner runs commands inside the guest root.
type runner struct {
	root string
	env  []string // guest environment
	log  *slog.Logger
	// userns runs the commands in a user namespace (not root), the
	// holder's if ns is set.
	userns bool
	ns     *holder
}

// ExecError is a command of the second stage that failed: it names the
// package being configured (if any), the command and the last lines of its
// output.
type ExecError struct {
	Package string   // "" when the command was not about one package
	Command []string // as run inside the guest
	Tail    string   // last lines of the combined output
	Err     error
}

func (e *ExecError) Error() string {
	var b strings.Builder
	b.WriteString("secondstage: ")
	if e.Package != "" {
		fmt.Fprintf(&b, "package %s: ", e.Package)
	}
	fmt.Fprintf(&b, "running %q in the guest: %v", strings.Join(e.Command, " "), e.Err)
	if e.Tail != "" {
		b.WriteString("; last output:\n")
		b.WriteString(e.Tail)
	}
	return b.String()
}

func (e *ExecError) Unwrap() error { return e.Err }

// run runs argv chrooted into the guest root with the guest environment
// plus extra; the combined output goes to the log line by line, at debug
// level.
func (r *runner) run(ctx context.Context, pkgName string, extra []string, argv ...string) error {
	var cmd *exec.Cmd
	if r.userns {
		cmd = nsCommand(ctx, r.ns, inUserNamespace, append([]string{r.root}, argv...)...)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", inNamespace, "xenimg-secondstage", r.root}, argv...)...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:   syscall.CLONE_NEWPID,
			Unshareflags: syscall.CLONE_NEWNS,
			Setpgid:      true,
		}
	}
	cmd.Env = append(append([]string{}, r.env...), extra...)
	cmd.WaitDelay = 10 * time.Second
	out := &logWriter{log: r.log, pkg: pkgName}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	out.flush()
	if pkgName == "" {
		pkgName = out.failed
	}
	shown := strings.Join(argv, " ")
	if len(shown) > 200 {
		shown = shown[:200] + "..."
	}
	r.log.Debug("guest command", "cmd", shown, "package", pkgName, "took", time.Since(start).Round(time.Millisecond))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &ExecError{Package: pkgName, Command: argv, Tail: out.tail(), Err: err}
	}
	return nil
}

// logWriter splits output into lines, logs each and keeps the last ones.
type logWriter struct {
	mu      sync.Mutex
	log     *slog.Logger
	pkg     string
	partial []byte
	last    []string
	// failed is the first package dpkg reported an error for, and context
	// the lines up to that report.
	failed  string
	context []string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	w.log.Debug("guest", "package", w.pkg, "out", s)
	w.last = append(w.last, s)
	if w.failed == "" {
		if m := errorProcessing.FindStringSubmatch(s); m != nil {
			w.failed = m[1]
			w.context = append([]string{}, w.last[max(0, len(w.last)-contextLines):]...)
		}
	}
	if len(w.last) > tailLines {
		w.last = w.last[len(w.last)-tailLines:]
	}
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
}

// tail is the last lines of output, preceded by the lines that led to
// dpkg's first error report when that scrolled out of them.
func (w *logWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := strings.Join(w.last, "\n")
	if len(w.context) > 0 {
		ctx := strings.Join(w.context, "\n")
		if !strings.Contains(last, ctx) {
			return ctx + "\n[...]\n" + last
		}
	}
	return last
}
