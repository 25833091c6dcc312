package secondstage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/builder/tree"
)

// Without root, Chroot mode runs every command in a user namespace where
// the user is root and the user's subordinate ids (/etc/subuid,
// /etc/subgid) are the other ids, set up by util-linux unshare with
// newuidmap and newgidmap, as mmdebstrap's "unshare" mode does. With
// Tmpfs, one holder process keeps that user namespace and a mount
// namespace with a tmpfs for the root alive; every command enters them
// (nsenter) and gets its own PID and mount namespaces. Without a holder,
// each command gets a fresh user namespace and the root lives on disk.
// The root is written by this process as the user (so it is root's
// inside; through /proc/HOLDER/root when on the tmpfs), the owners other
// than root are set from inside, and the configured root is read back
// through the host's tar run inside, since files other ids made need not
// be readable from outside. Device nodes cannot be made there: empty files
// stand in for them and the host's nodes are bind-mounted over them while
// commands run; the tree read back gets the real nodes.

// usernsFlags make unshare enter a user namespace mapping root to the
// caller and 1..65535 to the caller's subordinate ids, with its own mount
// namespace.
var usernsFlags = []string{"--user", "--map-auto", "--map-root-user", "--mount"}

// inUserNamespace is inNamespace for a user namespace: sysfs cannot be
// mounted without a network namespace of its own, so the host's /sys is
// bound instead, and the device placeholders get the host's nodes.
const inUserNamespace = `set -e
r=$1; shift
mount --make-rprivate /
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts" 2>/dev/null || true
for d in null zero full random urandom tty console ptmx; do
	p="$r/dev/$d"
	[ -f "$p" ] && [ ! -L "$p" ] && [ ! -s "$p" ] || continue
	case $d in
	console) mount --bind /dev/null "$p" ;;
	ptmx) if [ -e "$r/dev/pts/ptmx" ]; then mount --bind "$r/dev/pts/ptmx" "$p"; fi ;;
	*) mount --bind "/dev/$d" "$p" ;;
	esac
done
chroot "$r" "$@"
`

// rootless reports whether Chroot mode works without root here.
func rootless() bool { return os.Geteuid() != 0 }

// usernsProbe says why no user namespace with subordinate ids can be made
// here, or "" if one can; it runs once.
var usernsProbe = sync.OnceValue(func() string {
	for _, tool := range []string{"unshare", "newuidmap", "newgidmap", "tar", "xargs"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "the host lacks " + tool
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{}, usernsFlags...), "--pid", "--fork", "--kill-child", "/bin/sh", "-c", `[ "$(id -u)" = 0 ] && chown 1:1 "$1"`, "probe")
	dir, err := os.MkdirTemp("", "xenimg-userns-probe-")
	if err != nil {
		return fmt.Sprintf("probing user namespaces: %v", err)
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		return fmt.Sprintf("probing user namespaces: %v", err)
	}
	out, err := exec.CommandContext(ctx, "unshare", append(args, f)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("no user namespace with subordinate ids (unshare %s: %v: %s)", strings.Join(usernsFlags, " "), err, bytes.TrimSpace(out))
	}
	return ""
})

// userName names the user this process runs as.
func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// nsCommand runs the host's /bin/sh with script as root of a user
// namespace (outside any chroot), in fresh PID and mount namespaces; args
// are $1... With a holder, the namespace is the holder's (its tmpfs is
// there); without one, a fresh one. The command dies with this process.
func nsCommand(ctx context.Context, h *holder, script string, args ...string) *exec.Cmd {
	var argv []string
	if h != nil {
		// nsenter sets uid and gid 0, the holder's root.
		argv = []string{"nsenter", "--target", strconv.Itoa(h.cmd.Process.Pid), "--user", "--mount", "unshare", "--mount"}
	} else {
		argv = append([]string{"unshare"}, usernsFlags...)
	}
	argv = append(argv, "--pid", "--fork", "--kill-child", "/bin/sh", "-c", script, "xenimg-userns")
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
	cmd.Env = []string{"PATH=" + guestPath, "LC_ALL=C"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// nsRun runs script in a user namespace; what is doing says in an error.
func nsRun(ctx context.Context, h *holder, doing, script string, args ...string) error {
	out, err := nsCommand(ctx, h, script, args...).CombinedOutput()
	if err != nil {
		if len(out) > 2000 {
			out = out[len(out)-2000:]
		}
		if out = bytes.TrimSpace(out); len(out) > 0 {
			return fmt.Errorf("%s in a user namespace: %w: %s", doing, err, out)
		}
		return fmt.Errorf("%s in a user namespace: %w", doing, err)
	}
	return nil
}

// holderScript mounts a tmpfs on $1 in the holder's namespaces, says so
// and waits to be killed.
const holderScript = `mount -t tmpfs -o mode=0755 xenimg-root "$1" && echo ready && exec sleep infinity`

// A holder is a process that keeps a user namespace (mmdebstrap's
// "unshare" mapping) and a mount namespace with a tmpfs alive while the
// root on it is configured: every command enters those namespaces, and
// this process writes the tmpfs through /proc/PID/root. Killing it (stop,
// or the kernel when this process dies: it is started with a parent-death
// signal) drops the tmpfs with everything on it.
type holder struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	// host is the root as this process reaches it: /proc/PID/root/ROOT.
	host string
}

// startHolder starts a holder with a tmpfs mounted on root, a directory
// that must exist, and checks this process reaches it.
func startHolder(ctx context.Context, root string) (_ *holder, err error) {
	if _, err := exec.LookPath("nsenter"); err != nil {
		return nil, errors.New("the host lacks nsenter")
	}
	h := &holder{}
	h.cmd = exec.Command("unshare", append(append([]string{}, usernsFlags...), "--propagation", "private", "/bin/sh", "-c", holderScript, "xenimg-holder", root)...)
	h.cmd.Env = []string{"PATH=" + guestPath, "LC_ALL=C"}
	h.cmd.Dir = "/"
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	h.cmd.Stderr = &h.stderr
	h.cmd.WaitDelay = 10 * time.Second
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the namespace holder: %w", err)
	}
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the namespace holder: %w", err)
	}
	defer func() {
		if err != nil {
			h.stop()
		}
	}()
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("it said %q", line)
		}
		ready <- err
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errors.New("it did not get ready in 30 s")
	}
	if err != nil {
		h.cmd.Process.Kill()
		if werr := h.cmd.Wait(); errors.Is(err, io.EOF) && werr != nil {
			err = fmt.Errorf("the holder ended: %w", werr)
		}
		if msg := bytes.TrimSpace(h.stderr.Bytes()); len(msg) > 0 {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return nil, fmt.Errorf("mounting a tmpfs in a user namespace: %w", err)
	}
	h.host = filepath.Join("/proc", strconv.Itoa(h.cmd.Process.Pid), "root", root)
	var st unix.Statfs_t
	if err := unix.Statfs(h.host, &st); err != nil {
		return nil, fmt.Errorf("reaching the user namespace's tmpfs: %w", err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return nil, fmt.Errorf("reaching the user namespace's tmpfs: %s is no tmpfs", h.host)
	}
	return h, nil
}

// stop kills the holder, which drops its tmpfs; it can be called again.
func (h *holder) stop() {
	if h == nil || h.cmd.Process == nil || h.cmd.ProcessState != nil {
		return
	}
	h.cmd.Process.Kill()
	h.cmd.Wait() // "signal: killed", as meant
}

// removeRoot removes a root written for a user namespace: from inside
// first (files of other ids cannot be removed from outside).
func removeRoot(ctx context.Context, root string) error {
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := nsRun(context.WithoutCancel(ctx), nil, "removing the configured root", `rm -rf -- "$1"`, root); err != nil {
		return err
	}
	return os.RemoveAll(root)
}

// owners lists what a Materialize without Owners leaves to be done from
// inside a user namespace: the owners other than root, and the setuid and
// setgid bits chown clears.
type owners struct {
	chown map[[2]int][]string // uid, gid -> paths relative to the root
	chmod map[uint32][]string // mode -> paths
}

// planOwners walks t as Materialize(root, mo) will and records the owners
// and modes to set afterwards. In Merge mode a directory that exists and a
// symbolic link already there keep theirs, as Materialize keeps them; call
// it before materializing.
func planOwners(t *tree.Tree, root string, mo tree.MaterializeOptions) (*owners, error) {
	o := &owners{chown: map[[2]int][]string{}, chmod: map[uint32][]string{}}
	err := t.Walk(func(p string, n *tree.Node) error {
		if p == "/" {
			return nil
		}
		if mo.Skip != nil && mo.Skip(p, n) {
			if n.Type == tree.TypeDir {
				return fs.SkipDir
			}
			return nil
		}
		if n.Type == tree.TypeChar || n.Type == tree.TypeBlock {
			return nil
		}
		if mo.Merge {
			host := filepath.Join(root, p)
			switch n.Type {
			case tree.TypeDir:
				if st, err := os.Stat(host); err == nil && st.IsDir() {
					return nil
				}
			case tree.TypeSymlink:
				if target, err := os.Readlink(host); err == nil && target == n.Target {
					return nil
				}
			}
		}
		rel := "." + p
		if n.UID != 0 || n.GID != 0 {
			k := [2]int{n.UID, n.GID}
			o.chown[k] = append(o.chown[k], rel)
		}
		if n.Type != tree.TypeSymlink && n.Mode&0o6000 != 0 {
			o.chmod[n.Mode&0o7777] = append(o.chmod[n.Mode&0o7777], rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing owners: %w", err)
	}
	return o, nil
}

// apply sets the recorded owners and modes from inside a user namespace,
// with lists written under work.
func (o *owners) apply(ctx context.Context, h *holder, root, work string) error {
	if len(o.chown) == 0 && len(o.chmod) == 0 {
		return nil
	}
	lists, err := os.MkdirTemp(work, "owners-")
	if err != nil {
		return fmt.Errorf("setting owners: %w", err)
	}
	defer os.RemoveAll(lists)
	var sh strings.Builder
	sh.WriteString("set -e\ncd \"$1\"\n")
	i := 0
	write := func(paths []string) (string, error) {
		i++
		name := filepath.Join(lists, strconv.Itoa(i))
		return name, os.WriteFile(name, []byte(strings.Join(paths, "\x00")+"\x00"), 0o644)
	}
	keys := make([][2]int, 0, len(o.chown))
	for k := range o.chown {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	for _, k := range keys {
		if _, err := write(o.chown[k]); err != nil {
			return fmt.Errorf("setting owners: %w", err)
		}
		fmt.Fprintf(&sh, "xargs -0r chown -h %d:%d -- < \"$2/%d\"\n", k[0], k[1], i)
	}
	modes := make([]uint32, 0, len(o.chmod))
	for m := range o.chmod {
		modes = append(modes, m)
	}
	slices.Sort(modes)
	for _, m := range modes {
		if _, err := write(o.chmod[m]); err != nil {
			return fmt.Errorf("setting owners: %w", err)
		}
		fmt.Fprintf(&sh, "xargs -0r chmod %04o -- < \"$2/%d\"\n", m, i)
	}
	return nsRun(ctx, h, "setting owners", sh.String(), root, lists)
}

// materializeUserns is Materialize for a user namespace: as this user
// (root inside), then the other owners set from inside. root is the root
// as the namespace's commands see it; with a holder, this process writes
// it through the holder.
func materializeUserns(ctx context.Context, h *holder, t *tree.Tree, root, work string, mo tree.MaterializeOptions, log *slog.Logger) error {
	start := time.Now()
	mo.Owners, mo.Devices = false, false
	host := root
	if h != nil {
		host = h.host
	}
	own, err := planOwners(t, host, mo)
	if err != nil {
		return err
	}
	if err := t.Materialize(host, mo); err != nil {
		return err
	}
	written := time.Since(start)
	if err := own.apply(ctx, h, root, work); err != nil {
		return err
	}
	log.Debug("tree written for a user namespace", "written", written.Round(time.Millisecond), "owners", (time.Since(start) - written).Round(time.Millisecond))
	return nil
}

// readBackUserns reads the configured root through the host's tar run
// inside a user namespace, then puts device nodes where placeholders
// stood: orig's, else debootstrap's basic ones.
func readBackUserns(ctx context.Context, h *holder, root string, orig *tree.Tree, placeholders []string, o Options) (_ *tree.Tree, err error) {
	cmd := nsCommand(ctx, h, `exec tar --numeric-owner -C "$1" -cf - .`, root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("reading the configured root: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("reading the configured root: %w", err)
	}
	nt, rerr := tree.FromTar(pr, tree.Options{SpoolDir: o.WorkDir})
	if rerr != nil {
		io.Copy(io.Discard, pr)
	}
	werr := cmd.Wait()
	if rerr == nil && werr != nil {
		// tar says "socket ignored" and exits 0; anything else is fatal.
		rerr = fmt.Errorf("%w: %s", werr, bytes.TrimSpace(stderr.Bytes()))
	}
	if rerr != nil {
		if nt != nil {
			nt.Close()
		}
		return nil, fmt.Errorf("reading the configured root in a user namespace: %w", rerr)
	}
	defer func() {
		if err != nil {
			nt.Close()
		}
	}()
	for _, p := range placeholders {
		if n, err := nt.Lstat(p); err == nil && n.Type == tree.TypeRegular && n.Size() == 0 {
			if err := nt.Remove(p); err != nil {
				return nil, fmt.Errorf("removing device placeholder: %w", err)
			}
		}
	}
	err = orig.Walk(func(p string, n *tree.Node) error {
		if n.Type != tree.TypeChar && n.Type != tree.TypeBlock {
			return nil
		}
		if _, err := nt.Lstat(p); err == nil {
			return nil
		}
		if d, err := nt.Lstat(filepath.Dir(p)); err != nil || d.Type != tree.TypeDir {
			return nil
		}
		return nt.Mknod(p, n.Type, n.Meta(), n.Major, n.Minor)
	})
	if err != nil {
		return nil, fmt.Errorf("restoring device nodes: %w", err)
	}
	if err := treeDevices(nt, o.Epoch); err != nil {
		return nil, err
	}
	return nt, nil
}
