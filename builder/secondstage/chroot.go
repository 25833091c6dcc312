package secondstage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/builder/tree"
)

// guestPath is PATH inside the guest.
const guestPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// policyRcD keeps invoke-rc.d and deb-systemd-invoke from starting
// services (exit 101: action forbidden).
const policyRcD = "#!/bin/sh\nexit 101\n"

// fakeSSD replaces start-stop-daemon while configuring, as in debootstrap.
const fakeSSD = "#!/bin/sh\necho\necho \"Warning: Fake start-stop-daemon called, doing nothing\"\n"

// guestEnv is the environment of every command run in the guest.
func guestEnv(epoch int64) []string {
	return []string{
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
		"LC_ALL=C",
		"PATH=" + guestPath,
		"HOME=/root",
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch, 10),
	}
}

// runChroot materializes t, configures it under chroot and reads it back.
func runChroot(ctx context.Context, t *tree.Tree, o Options) (_ *tree.Tree, err error) {
	start := time.Now()
	pkgs, err := readStatus(t)
	if err != nil {
		return nil, err
	}
	pl := order(pkgs, o.Required)
	// The guest commands run from "/" in their own mount namespace: a
	// relative root would name a directory that is not there.
	if o.WorkDir, err = filepath.Abs(o.WorkDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	work, err := os.MkdirTemp(o.WorkDir, "xenimg-secondstage-")
	if err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	userns := rootless()
	root := filepath.Join(work, "root")
	// host is the root as this process reaches it: root, or through a
	// user namespace holder.
	host := root
	var ns *holder
	defer func() {
		if err == nil && o.Reference {
			return // the returned tree refers to files under work
		}
		if ns != nil {
			ns.stop() // the tmpfs goes with it
		} else if userns {
			if rerr := removeRoot(ctx, root); rerr != nil && err == nil {
				err = rerr
			}
		}
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = fmt.Errorf("removing work directory: %w", rerr)
		}
	}()
	if userns {
		// Files of other ids are read back, not referred to. The tmpfs
		// lives in the mount namespace of a holder process that every
		// command enters; without one, the root lives on disk.
		tmpfs := o.Tmpfs
		o.Tmpfs, o.Reference = false, false
		if tmpfs {
			if err := os.Mkdir(root, 0o755); err != nil {
				return nil, err
			}
			h, herr := startHolder(ctx, root)
			if herr != nil {
				o.Log.Info("configuring on disk", "why", herr.Error())
				if err := os.Remove(root); err != nil {
					return nil, err
				}
			} else {
				ns, host = h, h.host
				o.Log.Info("configuring on a tmpfs held in a user namespace", "holder", ns.cmd.Process.Pid)
			}
		}
	}
	// unmount releases the tmpfs, once; with Reference, the returned tree
	// does it when closed.
	unmount := func() error { return nil }
	if o.Tmpfs {
		if err := os.Mkdir(root, 0o755); err != nil {
			return nil, err
		}
		if merr := unix.Mount("xenimg-root", root, "tmpfs", 0, "mode=0755"); merr != nil {
			o.Log.Info("configuring on disk", "why", fmt.Sprintf("mounting a tmpfs: %v", merr))
			if err := os.Remove(root); err != nil {
				return nil, err
			}
		} else {
			unmount = sync.OnceValue(func() error {
				if err := unix.Unmount(root, unix.MNT_DETACH); err != nil {
					return fmt.Errorf("unmounting the configuring tmpfs: %w", err)
				}
				return nil
			})
			defer func() {
				if err != nil || !o.Reference {
					if uerr := unmount(); uerr != nil && err == nil {
						err = uerr
					}
				}
			}()
		}
	}
	mo := tree.MaterializeOptions{Owners: true, Devices: true}
	if !o.Reinstall {
		// Configuring the unpacked packages needs no .debs; the template
		// drops them anyway. Not writing them saves their whole size.
		mo.Skip = func(p string, n *tree.Node) bool {
			return n.Type != tree.TypeDir && strings.HasPrefix(p, "/var/cache/apt/archives/") && strings.HasSuffix(p, ".deb")
		}
	}
	if userns {
		err = materializeUserns(ctx, ns, t, root, work, mo, o.Log)
	} else {
		err = t.Materialize(root, mo)
	}
	if err != nil {
		return nil, err
	}
	o.Log.Info("tree written for configuring", "dir", root, "took", time.Since(start).Round(time.Millisecond))

	g, err := prepareFor(host, userns)
	if err != nil {
		return nil, err
	}
	r := &runner{root: root, env: guestEnv(o.Epoch), log: o.Log, userns: userns, ns: ns}
	cstart := time.Now()
	added := 0 // packages of o.Rest
	if o.Reinstall {
		if o.Rest != nil {
			return nil, errors.New("reinstalling needs every package in one tree")
		}
		err = reinstall(ctx, r, host, pl)
	} else {
		var rest func() ([]pkg, error)
		if o.Rest != nil {
			rest = func() ([]pkg, error) {
				more, err := addRest(ctx, ns, host, root, work, g, o)
				added = len(more)
				return more, err
			}
		}
		err = configure(ctx, r, host, pl, g, rest)
	}
	if err != nil {
		return nil, err
	}
	if err := r.run(ctx, "", nil, "/sbin/ldconfig"); err != nil {
		return nil, err
	}
	if err := g.undo(host); err != nil {
		return nil, err
	}
	o.Log.Info("packages configured", "packages", len(pl.all())+added, "took", time.Since(cstart).Round(time.Millisecond))
	if err := cleanTemplate(host, o); err != nil {
		return nil, err
	}
	if userns {
		nt, err := readBackUserns(ctx, ns, root, t, g.placeholders, o)
		if err != nil {
			return nil, err
		}
		clampMtimes(nt, o.Epoch)
		return nt, nil
	}
	fromDir := tree.FromDir
	to := tree.Options{SpoolDir: o.WorkDir}
	if o.Reference {
		fromDir = tree.FromDirRef
		to.OnClose = unmount
	}
	nt, err := fromDir(root, to)
	if err != nil {
		return nil, err
	}
	clampMtimes(nt, o.Epoch)
	return nt, nil
}

// preinstEnv is what dpkg sets for a maintainer script.
func preinstEnv(p pkg, dpkgVersion string) []string {
	env := []string{
		"DPKG_MAINTSCRIPT_PACKAGE=" + p.Name,
		"DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1",
		"DPKG_MAINTSCRIPT_NAME=preinst",
		"DPKG_MAINTSCRIPT_DEBUG=0",
		"DPKG_ADMINDIR=/var/lib/dpkg",
	}
	if p.Arch != "" {
		env = append(env, "DPKG_MAINTSCRIPT_ARCH="+p.Arch)
	}
	if dpkgVersion != "" {
		env = append(env, "DPKG_RUNNING_VERSION="+dpkgVersion)
	}
	return env
}

// preinsts runs "preinst install" of each package that has one, one after
// another in one guest shell: setting up the guest for each short script
// cost as much as the script. The first failure stops them and is reported
// as the failing script's.
func preinsts(ctx context.Context, r *runner, root string, ps []pkg, dpkgVersion string) error {
	var (
		sh      strings.Builder
		scripts = map[string]string{} // package -> script
	)
	for _, p := range ps {
		script := "/var/lib/dpkg/info/" + p.infoName() + ".preinst"
		st, err := os.Lstat(filepath.Join(root, script))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("package %s: %w", p.Name, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("package %s: %s is not a regular file", p.Name, script)
		}
		env := preinstEnv(p, dpkgVersion)
		for _, w := range append(slices.Clip(env), p.Name, script) {
			if !safeWord(w) {
				return fmt.Errorf("package %s: unexpected characters in %q", p.Name, w)
			}
		}
		for _, e := range env {
			k, v, _ := strings.Cut(e, "=")
			fmt.Fprintf(&sh, "%s='%s' ", k, v)
		}
		// The failure line matches dpkg's own, which names the package.
		fmt.Fprintf(&sh, "'%s' install || { rc=$?; echo \"xenimg: error processing package %s (preinst install): exit status $rc\"; exit $rc; }\n", script, p.Name)
		scripts[p.Name] = script
	}
	if len(scripts) == 0 {
		return nil
	}
	err := r.run(ctx, "", nil, "/bin/sh", "-c", sh.String())
	var ee *ExecError
	if errors.As(err, &ee) {
		if script, ok := scripts[ee.Package]; ok {
			ee.Command = []string{script, "install"}
		}
	}
	return err
}

var errorProcessing = regexp.MustCompile(`error processing (?:package|archive) (\S+)`)

// dpkg runs dpkg in the guest.
func dpkg(ctx context.Context, r *runner, pkgName string, args ...string) error {
	return r.run(ctx, pkgName, nil, append([]string{"dpkg"}, args...)...)
}

func dpkgVersion(pl plan) string {
	for _, p := range pl.Core {
		if p.Name == "dpkg" {
			return p.Version
		}
	}
	return ""
}

// configure runs preinst and dpkg --configure in debootstrap's order. If
// rest is set, it is called once the required packages are configured and
// returns the packages it added to the root.
func configure(ctx context.Context, r *runner, root string, pl plan, g *guards, rest func() ([]pkg, error)) error {
	if err := r.run(ctx, "", nil, "/sbin/ldconfig"); err != nil {
		return err
	}
	dv := dpkgVersion(pl)
	for _, p := range pl.Core {
		if p.Name == "mawk" {
			if err := g.dropAwk(root); err != nil {
				return err
			}
		}
		if err := preinsts(ctx, r, root, []pkg{p}, dv); err != nil {
			return err
		}
		if err := dpkg(ctx, r, p.Name, "--configure", "--force-depends", p.infoName()); err != nil {
			return err
		}
		if p.Name == "dpkg" {
			if err := defaultLocaltime(root); err != nil {
				return err
			}
		}
	}
	if len(pl.Required) > 0 {
		if err := preinsts(ctx, r, root, pl.Required, dv); err != nil {
			return err
		}
		args := append([]string{"--configure", "--force-depends", "--force-configure-any"}, dpkgNames(pl.Required)...)
		if err := dpkg(ctx, r, "", args...); err != nil {
			return err
		}
	}
	if rest != nil {
		more, err := rest()
		if err != nil {
			return err
		}
		pl.Rest = append(pl.Rest, more...)
		slices.SortStableFunc(pl.Rest, func(a, b pkg) int { return strings.Compare(a.Name, b.Name) })
	}
	if err := preinsts(ctx, r, root, pl.Rest, dv); err != nil {
		return err
	}
	return dpkg(ctx, r, "", "--configure", "-a")
}

// restSkip are the dpkg database files a rest tree must not write over:
// the configured root's own record of its packages is kept and the rest's
// entries are added to it.
var restSkip = []string{
	"/var/lib/dpkg/status", "/var/lib/dpkg/available", "/var/lib/dpkg/diversions",
	"/var/lib/dpkg/statoverride", "/var/lib/dpkg/arch", "/var/lib/dpkg/triggers",
}

// droppedUsrLink reports a merged-/usr link (/lib32 -> usr/lib32) of the
// rest's tree that the root no longer has, or the empty directory it
// points to: unowned ones are made for unpacking, and usr-is-merged's
// postinst, which has run, removed them again.
func droppedUsrLink(root, p string, n *tree.Node) bool {
	var link string
	switch {
	case n.Type == tree.TypeSymlink && strings.Count(p, "/") == 1 && n.Target == "usr"+p:
		link = p
	case n.Type == tree.TypeDir && strings.HasPrefix(p, "/usr/") && strings.Count(p, "/") == 2 && len(n.Names()) == 0:
		link = strings.TrimPrefix(p, "/usr")
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	default:
		return false
	}
	_, err := os.Lstat(filepath.Join(root, link))
	return errors.Is(err, fs.ErrNotExist)
}

// addRest waits for the rest of the packages, writes them over the root
// (as "dpkg --unpack" would: files, database entries, trigger interests)
// and returns them. root is the root as this process reaches it; in a
// user namespace, nsRoot is the root as its commands see it (and ns the
// holder of its tmpfs, if any).
func addRest(ctx context.Context, ns *holder, root, nsRoot, work string, g *guards, o Options) ([]pkg, error) {
	start := time.Now()
	rt, err := o.Rest(ctx)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	waited := time.Since(start)
	status, err := rt.ReadFile(statusPath)
	if err != nil {
		return nil, fmt.Errorf("reading the rest's dpkg status: %w", err)
	}
	pkgs, err := parseStatus(status)
	if err != nil {
		return nil, fmt.Errorf("reading the rest's dpkg status: %w", err)
	}
	mo := tree.MaterializeOptions{Owners: true, Devices: true, Merge: true, Skip: func(p string, n *tree.Node) bool {
		return slices.Contains(restSkip, p) ||
			n.Type != tree.TypeDir && strings.HasPrefix(p, "/var/cache/apt/archives/") && strings.HasSuffix(p, ".deb") ||
			droppedUsrLink(root, p, n)
	}}
	if g.userns {
		err = materializeUserns(ctx, ns, rt, nsRoot, work, mo, o.Log)
	} else {
		err = rt.Materialize(root, mo)
	}
	if err != nil {
		return nil, err
	}
	sp := filepath.Join(root, statusPath)
	old, err := os.ReadFile(sp)
	if err != nil {
		return nil, fmt.Errorf("adding to the dpkg status: %w", err)
	}
	if old = bytes.TrimRight(old, "\n"); len(old) > 0 {
		old = append(old, "\n\n"...)
	}
	if err := os.WriteFile(sp, append(old, status...), 0o644); err != nil {
		return nil, fmt.Errorf("adding to the dpkg status: %w", err)
	}
	var trig []string
	for _, p := range pkgs {
		t := filepath.Join(root, "var/lib/dpkg/info", p.infoName()+".triggers")
		if _, err := os.Lstat(t); err == nil {
			trig = append(trig, t)
		}
	}
	if err := addTriggerInterests(root, trig); err != nil {
		return nil, err
	}
	if err := g.placeHostKeys(root); err != nil {
		return nil, err
	}
	o.Log.Info("rest of the packages added", "packages", len(pkgs), "waited", waited.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
	return pkgs, nil
}

// reinstall installs every package again from its cached .deb, the way
// debootstrap's second stage does, after forgetting the unpacked state.
func reinstall(ctx context.Context, r *runner, root string, pl plan) error {
	debs := map[string]string{}
	for _, p := range pl.all() {
		name := p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Arch + ".deb"
		if _, err := os.Stat(filepath.Join(root, "var/cache/apt/archives", name)); err != nil {
			return fmt.Errorf("package %s: reinstalling needs its .deb: %w", p.Name, err)
		}
		debs[p.infoName()] = "/var/cache/apt/archives/" + name
	}
	paths := func(ps []pkg) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = debs[p.infoName()]
		}
		return out
	}
	// debootstrap installs the packages a base package pre-depends on
	// first; --force-depends on unpacking, and configure -a ordering the
	// rest, does the same job here.
	// Start from an empty database, as debootstrap's first stage leaves it.
	admin := filepath.Join(root, "var/lib/dpkg")
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		return fmt.Errorf("emptying the dpkg status: %w", err)
	}
	info := filepath.Join(admin, "info")
	if err := os.RemoveAll(info); err != nil {
		return fmt.Errorf("emptying the dpkg database: %w", err)
	}
	if err := os.Mkdir(info, 0o755); err != nil {
		return fmt.Errorf("emptying the dpkg database: %w", err)
	}
	if err := r.run(ctx, "", nil, "/sbin/ldconfig"); err != nil {
		return err
	}
	for _, p := range pl.Core {
		if err := dpkg(ctx, r, p.Name, "--force-depends", "--install", debs[p.infoName()]); err != nil {
			return err
		}
		if p.Name == "dpkg" {
			if err := defaultLocaltime(root); err != nil {
				return err
			}
		}
	}
	if len(pl.Required) > 0 {
		if err := dpkg(ctx, r, "", append([]string{"--force-depends", "--unpack"}, paths(pl.Required)...)...); err != nil {
			return err
		}
		if err := dpkg(ctx, r, "", "--configure", "--pending", "--force-configure-any", "--force-depends"); err != nil {
			return err
		}
	}
	if len(pl.Rest) > 0 {
		if err := dpkg(ctx, r, "", append([]string{"--force-depends", "--force-overwrite", "--force-confold", "--unpack"}, paths(pl.Rest)...)...); err != nil {
			return err
		}
	}
	return dpkg(ctx, r, "", "--force-confold", "--configure", "-a")
}

// defaultLocaltime links /etc/localtime to UTC when nothing set it, as
// debootstrap does after installing dpkg.
func defaultLocaltime(root string) error {
	p := filepath.Join(root, "etc/localtime")
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	if err := os.Symlink("/usr/share/zoneinfo/UTC", p); err != nil {
		return fmt.Errorf("linking /etc/localtime: %w", err)
	}
	return nil
}

// guards records what prepare changed in the root, to undo it.
type guards struct {
	ssd       []string // start-stop-daemon paths moved to .REAL
	policy    bool     // policy-rc.d written by us
	oldPolicy []byte   // a policy-rc.d the tree had
	awk       bool     // /usr/bin/awk -> mawk written by us
	hostKeys  []string // empty SSH host key placeholders written by us
	// userns: prepared for a user namespace, where empty files stand in
	// for the device nodes (placeholders, tree paths).
	userns       bool
	placeholders []string
}

// sshServers are the packages whose postinst makes SSH host keys unless
// the files already exist (openssh-server; "ssh" before etch).
var sshServers = []string{"openssh-server", "ssh"}

// hostKeyNames are the host keys those postinsts make, across suites.
var hostKeyNames = []string{"ssh_host_key", "ssh_host_rsa_key", "ssh_host_dsa_key", "ssh_host_ecdsa_key", "ssh_host_ed25519_key"}

// placeHostKeys writes empty host key files, so the SSH server's postinst
// does not spend most of a second making keys the template drops anyway
// (every clone gets its own; a template booted alone makes its own at
// boot). undo removes them.
func (g *guards) placeHostKeys(root string) error {
	if !slices.ContainsFunc(sshServers, func(p string) bool {
		_, err := os.Lstat(filepath.Join(root, "var/lib/dpkg/info", p+".postinst"))
		return err == nil
	}) {
		return nil
	}
	dir := filepath.Join(root, "etc/ssh")
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return nil
	}
	for _, n := range hostKeyNames {
		p := filepath.Join(dir, n)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("placing SSH host key placeholders: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("placing SSH host key placeholders: %w", err)
		}
		g.hostKeys = append(g.hostKeys, p)
	}
	return nil
}

// prepare makes the root ready for chroot: mount points, device nodes,
// policy-rc.d, the fake start-stop-daemon, trigger interests, awk, SSH
// host key placeholders.
func prepare(root string) (*guards, error) { return prepareFor(root, false) }

// prepareFor is prepare, for a user namespace when userns is set.
func prepareFor(root string, userns bool) (*guards, error) {
	g := &guards{userns: userns}
	for _, d := range []struct {
		name string
		mode uint32 // with the sticky bit as 01000, not os.ModeSticky
	}{{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"dev/pts", 0o755}, {"dev/shm", 0o1777}, {"usr/sbin", 0o755}, {"etc", 0o755}, {"root", 0o700}} {
		p := filepath.Join(root, d.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			return nil, fmt.Errorf("preparing the chroot: %w", err)
		}
		if err := unix.Chmod(p, d.mode); err != nil {
			return nil, fmt.Errorf("preparing the chroot: %w", &fs.PathError{Op: "chmod", Path: p, Err: err})
		}
	}
	if userns {
		if err := g.devicePlaceholders(root); err != nil {
			return nil, err
		}
	} else if err := makeDevices(root); err != nil {
		return nil, err
	}
	pol := filepath.Join(root, "usr/sbin/policy-rc.d")
	if b, err := os.ReadFile(pol); err == nil {
		g.oldPolicy = b
	}
	if err := os.WriteFile(pol, []byte(policyRcD), 0o755); err != nil {
		return nil, fmt.Errorf("writing policy-rc.d: %w", err)
	}
	g.policy = true
	// Both names may be one file (merged /usr): find them all first.
	var seen []os.FileInfo
	var ssd []string
	for _, p := range []string{"sbin/start-stop-daemon", "usr/sbin/start-stop-daemon"} {
		hp := filepath.Join(root, p)
		st, err := os.Stat(hp)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if !slices.ContainsFunc(seen, func(s os.FileInfo) bool { return os.SameFile(s, st) }) {
			seen = append(seen, st)
			ssd = append(ssd, hp)
		}
	}
	for _, hp := range ssd {
		if err := os.Rename(hp, hp+".REAL"); err != nil {
			return nil, fmt.Errorf("guarding start-stop-daemon: %w", err)
		}
		g.ssd = append(g.ssd, hp)
		if err := os.WriteFile(hp, []byte(fakeSSD), 0o755); err != nil {
			return nil, fmt.Errorf("guarding start-stop-daemon: %w", err)
		}
	}
	if err := writeTriggerInterests(root); err != nil {
		return nil, err
	}
	if err := g.placeHostKeys(root); err != nil {
		return nil, err
	}
	awk := filepath.Join(root, "usr/bin/awk")
	if _, err := os.Lstat(awk); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(root, "usr/bin/mawk")); err == nil {
			if err := os.Symlink("mawk", awk); err != nil {
				return nil, fmt.Errorf("linking awk: %w", err)
			}
			g.awk = true
		}
	}
	return g, nil
}

// dropAwk removes the temporary awk link before mawk sets its alternative.
func (g *guards) dropAwk(root string) error {
	if !g.awk {
		return nil
	}
	g.awk = false
	p := filepath.Join(root, "usr/bin/awk")
	if target, err := os.Readlink(p); err == nil && target == "mawk" {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing the temporary awk link: %w", err)
		}
	}
	return nil
}

// undo restores what prepare changed (device nodes stay).
func (g *guards) undo(root string) error {
	if err := g.dropAwk(root); err != nil {
		return err
	}
	for _, p := range g.ssd {
		if err := os.Rename(p+".REAL", p); err != nil {
			return fmt.Errorf("restoring start-stop-daemon: %w", err)
		}
	}
	g.ssd = nil
	for _, p := range g.hostKeys {
		// Only a placeholder still empty is ours to remove.
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("removing an SSH host key placeholder: %w", err)
			}
		}
	}
	g.hostKeys = nil
	if g.policy {
		pol := filepath.Join(root, "usr/sbin/policy-rc.d")
		var err error
		if g.oldPolicy != nil {
			err = os.WriteFile(pol, g.oldPolicy, 0o755)
		} else {
			err = os.Remove(pol)
		}
		if err != nil {
			return fmt.Errorf("removing policy-rc.d: %w", err)
		}
		g.policy = false
	}
	return nil
}

// makeDevices creates debootstrap's basic device nodes and links in /dev
// when missing.
func makeDevices(root string) error {
	dev := filepath.Join(root, "dev")
	for _, n := range devNodes {
		p := filepath.Join(dev, n.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", n.name, err)
		}
		if err := unix.Chmod(p, n.mode); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", n.name, err)
		}
	}
	return makeDevLinks(dev)
}

// devicePlaceholders is makeDevices for a user namespace, where mknod is
// not allowed: empty files stand in for the nodes (the host's are
// bind-mounted over them while commands run) and are recorded.
func (g *guards) devicePlaceholders(root string) error {
	dev := filepath.Join(root, "dev")
	for _, n := range devNodes {
		p := filepath.Join(dev, n.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return fmt.Errorf("creating a placeholder for /dev/%s: %w", n.name, err)
		}
		g.placeholders = append(g.placeholders, "/dev/"+n.name)
	}
	return makeDevLinks(dev)
}

// makeDevLinks creates debootstrap's /dev links (fd, stdin, ...) when
// missing.
func makeDevLinks(dev string) error {
	for _, l := range devLinks {
		p := filepath.Join(dev, l[0])
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Symlink(l[1], p); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", l[0], err)
		}
	}
	return nil
}

// devNodes are debootstrap's setup_devices_simple nodes.
var devNodes = []struct {
	name         string
	mode         uint32
	major, minor uint32
}{
	{"console", 0o600, 5, 1}, {"full", 0o666, 1, 7}, {"null", 0o666, 1, 3},
	{"ptmx", 0o666, 5, 2}, {"random", 0o666, 1, 8}, {"tty", 0o666, 5, 0},
	{"urandom", 0o666, 1, 9}, {"zero", 0o666, 1, 5},
}

// devLinks are its /dev links.
var devLinks = [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}}
