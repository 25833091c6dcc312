package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xenimg/xenimg/builder/crypt"
	"github.com/xenimg/xenimg/builder/debootstrap"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/resolve"
	"github.com/xenimg/xenimg/builder/debootstrap/unpack"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/builder/swap"
	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/builder/xencfg"
	"github.com/xenimg/xenimg/templates"
	"golang.org/x/sys/unix"
)

// Options configure Build. The caller owns the clock and the environment.
type Options struct {
	// OutDir receives root.img, swap.img, NAME.cfg, manifest.json and a
	// copy of the recipe (recipe.toml).
	OutDir string
	// Fetcher downloads into (or reads from) the cache.
	Fetcher *fetch.Fetcher
	// First are the first-stage options (mirror, keyring, clock for
	// signature checks) derived from the recipe.
	First debootstrap.Options
	// Epoch is the only clock of the output; zero means the Release date.
	Epoch time.Time
	// WorkDir is where scratch files go (the tree spool, a chroot), in a
	// directory of their own removed at the end; "" means OutDir.
	WorkDir string
	// Configure overrides the recipe's image.configure when not "".
	Configure string
	// SecondStage configures the unpacked tree (in a chroot, or at the
	// guest's first boot). Nil allows only configure = "none".
	SecondStage SecondStage
	Log         *slog.Logger
}

// SecondStage configures an unpacked tree.
type SecondStage interface {
	// Choose resolves a mode of image.configure other than "none"
	// ("auto" included) to the one Run takes here, and says why; an error
	// when it cannot be taken here.
	Choose(mode, arch string) (chosen, why string, err error)
	// Run configures t in the chosen mode and returns the configured tree
	// (t itself, or a new one the caller closes with t).
	Run(ctx context.Context, t *tree.Tree, s SecondStageInput) (*tree.Tree, error)
}

// SecondStageInput is what the second stage needs to know.
type SecondStageInput struct {
	Mode     string // auto | chroot | firstboot | none
	Arch     string
	Codename string
	Epoch    int64
	Required []string // debootstrap's required list, for install order
	WorkDir  string
	// Rest, in chroot mode, returns the packages not in t: t then holds
	// the required ones, and the rest is unpacked meanwhile (see
	// secondstage.Options.Rest).
	Rest func(context.Context) (*tree.Tree, error)
}

// Result describes a finished build.
type Result struct {
	Dir       string
	Manifest  *Manifest
	Configure string // the second-stage mode used
}

// seed derives the build's deterministic randomness (UUIDs, salts, MAC)
// from the recipe and the archive state.
func buildSeed(r *Recipe, date time.Time, label string) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "xenimg\x00%s\x00%s\x00%d\x00%s", r.Name, r.Digest, date.Unix(), label)
	return h.Sum(nil)
}

// UUIDFrom makes a UUID with the RFC 4122 version 4 layout from the first
// 16 bytes of a seed (deterministic content).
func UUIDFrom(seed []byte) [16]byte {
	var u [16]byte
	copy(u[:], seed)
	u[6] = u[6]&0x0f | 0x40 // version 4 layout, deterministic content
	u[8] = u[8]&0x3f | 0x80
	return u
}

// UUIDString formats a UUID as blkid and fstab write it.
func UUIDString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Build runs the whole pipeline for r. On any error, including a cancelled
// context, nothing is left in OutDir that was not there before.
func Build(ctx context.Context, r *Recipe, o Options) (res *Result, err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.First.Log = log
	mode := r.Image.Configure
	if o.Configure != "" {
		mode = o.Configure
	}
	if mode == "none" && (r.System.RootPassword != "" || r.System.RootPasswordHash != "") {
		return nil, r.fail("system.root_password", "needs a second stage to set it: use configure = chroot, firstboot or auto")
	}

	// Staging: everything is written under OutDir/.build-*, then renamed.
	outExisted := true
	if _, err := os.Stat(o.OutDir); errors.Is(err, os.ErrNotExist) {
		outExisted = false
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockOut(o.OutDir)
	if err != nil {
		if !outExisted {
			os.Remove(o.OutDir)
		}
		return nil, err
	}
	if lock != nil {
		defer lock.Close()
		// Only a build holding the lock knows the leftovers are dead.
		if err := cleanStale(o.OutDir, log); err != nil {
			return nil, err
		}
	}
	stage, err := os.MkdirTemp(o.OutDir, ".build-")
	if err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(stage)
		if err != nil && !outExisted {
			os.Remove(o.OutDir) // only if empty
		}
	}()
	// Scratch space, removed at the end (the second stage may leave the
	// configured root there for the image writer to read). By default it
	// is beside the output, not in /tmp: the tree spool is large, and a
	// tmpfs /tmp is often mounted nodev, which breaks a chroot's /dev.
	workBase := o.WorkDir
	if workBase == "" {
		workBase = o.OutDir
	}
	work, err := os.MkdirTemp(workBase, ".work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	absOut, err := filepath.Abs(o.OutDir)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	plan, err := debootstrap.Resolve(ctx, o.Fetcher, o.First)
	if err != nil {
		return nil, err
	}
	date := plan.Archive.Date()
	epoch := o.Epoch
	if epoch.IsZero() {
		epoch = date
	}

	// Everything that can be rendered is rendered before the long work, so
	// a mistake shows in seconds, not after the second stage.
	seed := buildSeed(r, date, "")
	rootUUID := UUIDFrom(buildSeed(r, date, "root-uuid"))
	swapUUID := UUIDFrom(buildSeed(r, date, "swap-uuid"))
	files, err := renderEtc(r, plan.Suite, rootUUID, swapUUID)
	if err != nil {
		return nil, err
	}
	passwordHash, err := rootHash(r, plan.Suite, seed)
	if err != nil {
		return nil, err
	}
	domain := func(firstboot bool) ([]byte, error) {
		return DomainConfig(r, DomainInput{
			Name: r.Name, RootTarget: filepath.Join(absOut, "root.img"), SwapTarget: filepath.Join(absOut, "swap.img"),
			MAC: xencfg.MAC(append(seed, "vif0"...)), Firstboot: firstboot,
		})
	}
	if mode != "none" {
		if o.SecondStage == nil {
			return nil, fmt.Errorf("image.configure = %q: this build has no second stage available", mode)
		}
		chosen, why, err := o.SecondStage.Choose(mode, r.Suite.Arch)
		if err != nil {
			return nil, fmt.Errorf("second stage (%s): %w", mode, err)
		}
		if mode == "auto" {
			log.Info("second stage chosen", "configure", chosen, "why", why)
		}
		mode = chosen
	}
	if _, err := domain(mode == "firstboot"); err != nil {
		return nil, err
	}
	eo := ext3.Options{
		Size: r.Image.SizeBytes, InodeSize: r.Image.InodeSize, Journal: r.Image.Filesystem == "ext3",
		Label: labelFor(r.Name), UUID: rootUUID, HashSeed: UUIDFrom(buildSeed(r, date, "hash-seed")), Epoch: epoch,
	}
	if r.Suite.Codename == "sarge" {
		f := ext3.FeaturesLegacy
		eo.Features = &f
	}

	log.Info("fetching packages", "count", len(plan.Set.Packages))
	paths, err := plan.Fetch(ctx, o.Fetcher)
	if err != nil {
		return nil, err
	}
	t, err := tree.New(tree.Options{SpoolDir: work})
	if err != nil {
		return nil, err
	}
	defer func() { t.Close() }()
	uo := unpack.Options{Arch: r.Suite.Arch, MergedUsr: plan.Suite.MergedUsr, Epoch: epoch.Unix(), ArchiveCopies: true}
	first, rest := paths, []string(nil)
	if mode == "chroot" {
		// The chroot configures the required packages while the others
		// are unpacked on the side (debootstrap's order, and the host's
		// other cores are idle while dpkg configures).
		first, rest = splitRequired(plan, paths)
	}
	log.Info("unpacking", "packages", len(first))
	if _, err := unpack.Unpack(ctx, t, first, uo); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := configureTree(t, r, files, epoch.Unix(), log); err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		if err := checkFits(t, eo); err != nil {
			return nil, fmt.Errorf("root.img: %w", err)
		}
	}
	var restTree func(context.Context) (*tree.Tree, error)
	// The second stage stops early when the rest cannot be unpacked.
	stageCtx, stopStage := context.WithCancel(ctx)
	defer stopStage()
	restFailed := func() error { return nil }
	if len(rest) > 0 {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		var (
			rt    *tree.Tree
			rerr  error
			taken bool
		)
		log.Info("unpacking the rest meanwhile", "packages", len(rest))
		go func() {
			defer close(done)
			// One decoder: it has time until the required packages are
			// configured, and dpkg, on the critical path, keeps a core.
			ro := uo
			ro.Jobs = 1
			rt, rerr = unpackRest(rctx, rest, ro, work, r, files, epoch.Unix(), log)
			if rerr != nil {
				stopStage()
			}
		}()
		restFailed = func() error {
			select {
			case <-done:
				return rerr
			default:
				return nil
			}
		}
		defer func() {
			cancel()
			<-done
			if rt != nil && !taken {
				rt.Close()
			}
		}()
		restTree = func(ctx context.Context) (*tree.Tree, error) {
			select {
			case <-done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if rerr != nil {
				return nil, restError{rerr}
			}
			taken = true
			return rt, nil
		}
	}
	if passwordHash != "" {
		// The first-boot script applies it when the guest configures itself.
		if err := t.MkdirAll("/etc/xenimg", tree.Meta{Mode: 0o700, Mtime: epoch.Unix()}); err != nil {
			return nil, err
		}
		if err := t.WriteFile(RootHashFile, tree.Meta{Mode: 0o600, Mtime: epoch.Unix()}, []byte(passwordHash+"\n")); err != nil {
			return nil, err
		}
	}

	used := mode
	if mode != "none" {
		var required []string
		for _, p := range plan.Set.Packages {
			if p.List == resolve.Required {
				required = append(required, p.Name)
			}
		}
		nt, err := o.SecondStage.Run(stageCtx, t, SecondStageInput{
			Mode: mode, Arch: r.Suite.Arch, Codename: r.Suite.Codename, Epoch: epoch.Unix(),
			Required: required, WorkDir: work, Rest: restTree,
		})
		if re := (restError{}); errors.As(err, &re) {
			return nil, re.err // a bad .deb, not a failing guest
		}
		if rerr := restFailed(); err != nil && rerr != nil {
			return nil, rerr
		}
		if err != nil {
			return nil, fmt.Errorf("second stage (%s): %w", mode, err)
		}
		if nt != t {
			t.Close()
			t = nt
		}
		// Configuration may have rewritten some of ours (netbase's hosts).
		if err := configureTree(t, r, files, epoch.Unix(), log); err != nil {
			return nil, err
		}
		if len(rest) > 0 {
			if err := checkFits(t, eo); err != nil {
				return nil, fmt.Errorf("root.img: %w", err)
			}
		}
	}
	if err := setRootPassword(t, passwordHash, epoch.Unix()); err != nil {
		return nil, err
	}
	if err := sshKeygenUnit(t, epoch.Unix()); err != nil {
		return nil, err
	}
	if err := xenConsole(t, r.Suite.Codename, epoch.Unix()); err != nil {
		return nil, err
	}

	// Images. A template that carries a password hash is for root's eyes.
	perm := os.FileMode(0o644)
	if passwordHash != "" {
		perm = 0o600
	}
	log.Info("writing root.img", "size", r.Image.Size)
	wstart := time.Now()
	if err := WriteImage(ctx, t, filepath.Join(stage, "root.img"), eo, perm); err != nil {
		return nil, fmt.Errorf("root.img: %w", err)
	}
	log.Debug("root.img written", "took", time.Since(wstart).Round(time.Millisecond))
	if r.Image.SwapBytes > 0 {
		sf, err := os.Create(filepath.Join(stage, "swap.img"))
		if err != nil {
			return nil, err
		}
		err = swap.Write(sf, r.Image.SwapBytes, swap.Options{UUID: swapUUID, Label: "swap"})
		if cerr := sf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("swap.img: %w", err)
		}
	}
	cfg, err := domain(used == "firstboot")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, r.Name+".cfg"), cfg, 0o644); err != nil {
		return nil, err
	}
	// The recipe travels with the template: clone reads it from here.
	if err := os.WriteFile(filepath.Join(stage, "recipe.toml"), r.raw, perm); err != nil {
		return nil, err
	}
	mstart := time.Now()
	m, err := newManifest(r, plan, paths, epoch, used, stage, UUIDString(rootUUID), UUIDString(swapUUID))
	if err != nil {
		return nil, err
	}
	if err := m.write(filepath.Join(stage, "manifest.json")); err != nil {
		return nil, err
	}
	log.Debug("manifest written (images hashed)", "took", time.Since(mstart).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Publish: rename every staged file into OutDir, manifest.json last:
	// it marks a complete template for clone and publish.
	ents, err := os.ReadDir(stage)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(o.OutDir, "manifest.json"))
	for _, e := range ents {
		if e.Name() == "manifest.json" {
			continue
		}
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(o.OutDir, e.Name())); err != nil {
			return nil, err
		}
	}
	if r.Image.SwapBytes == 0 {
		os.Remove(filepath.Join(o.OutDir, "swap.img"))
	}
	if err := os.Rename(filepath.Join(stage, "manifest.json"), filepath.Join(o.OutDir, "manifest.json")); err != nil {
		return nil, err
	}
	log.Info("built", "dir", o.OutDir, "configure", used, "seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	return &Result{Dir: o.OutDir, Manifest: m, Configure: used}, nil
}

// splitRequired splits the set's .debs (paths, in set order) into the
// required list and the rest.
func splitRequired(plan *debootstrap.Plan, paths []string) (required, rest []string) {
	for i, p := range plan.Set.Packages {
		if p.List == resolve.Required {
			required = append(required, paths[i])
		} else {
			rest = append(rest, paths[i])
		}
	}
	return required, rest
}

// unpackRest unpacks debs into a tree of their own with our files over
// theirs, for the second stage to add once the required ones are
// configured.
func unpackRest(ctx context.Context, debs []string, uo unpack.Options, work string, r *Recipe, files map[string][]byte, epoch int64, log *slog.Logger) (*tree.Tree, error) {
	start := time.Now()
	t, err := tree.New(tree.Options{SpoolDir: work})
	if err != nil {
		return nil, err
	}
	if _, err := unpack.Unpack(ctx, t, debs, uo); err != nil {
		t.Close()
		return nil, err
	}
	if err := configureTree(t, r, files, epoch, log); err != nil {
		t.Close()
		return nil, err
	}
	log.Debug("rest unpacked", "packages", len(debs), "took", time.Since(start).Round(time.Millisecond))
	return t, nil
}

// restError carries an error of unpacking the rest through the second
// stage.
type restError struct{ err error }

func (e restError) Error() string { return e.err.Error() }
func (e restError) Unwrap() error { return e.err }

func labelFor(name string) string {
	if len(name) > 16 {
		return name[:16]
	}
	return name
}

// renderEtc renders templates/etc for the template image.
func renderEtc(r *Recipe, s debootstrap.Suite, rootUUID, swapUUID [16]byte) (map[string][]byte, error) {
	n := r.Network
	d := templates.Data{
		Hostname: r.System.Hostname, Interface: n.Interface,
		Nameservers: n.Nameservers, Gateway: n.Gateway,
		Mirror: r.Suite.Mirror, Codename: r.Suite.Codename, Components: r.Suite.Components,
		Security:   !s.Archived && s.Security != "" && !strings.HasPrefix(r.Suite.Mirror, "file://") && r.Suite.SourcesMirror == "",
		Filesystem: r.Image.Filesystem,
		RootDevice: "/dev/" + r.Xen.RootDevice,
		UseUUID:    s.UUIDMount,
		RootUUID:   UUIDString(rootUUID),
	}
	if r.Suite.SourcesMirror != "" {
		d.Mirror = r.Suite.SourcesMirror
	}
	if r.Image.SwapBytes > 0 {
		d.SwapDevice = "/dev/" + r.Xen.SwapDevice
		if s.UUIDMount {
			d.SwapUUID = UUIDString(swapUUID)
		}
	}
	if n.Subnet != "" {
		pfx, _ := netip.ParsePrefix(n.Subnet)
		d.IP = n.FirstIP
		d.Netmask = netmask(pfx.Bits())
		d.Master = templates.Host{Hostname: n.Master.Hostname, IP: n.Master.IP}
	}
	return templates.Render(d)
}

func netmask(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// configureTree writes the rendered /etc files and applies the recipe's
// system settings that need no guest code.
func configureTree(t *tree.Tree, r *Recipe, files map[string][]byte, epoch int64, log *slog.Logger) error {
	for p, data := range files {
		dir := filepath.Dir("/" + p)
		if err := t.MkdirAll(dir, tree.Meta{Mode: 0o755, Mtime: epoch}); err != nil {
			return fmt.Errorf("writing /%s: %w", p, err)
		}
		if n, err := t.Lstat("/" + p); err == nil && n.Type == tree.TypeSymlink {
			// resolv.conf may be a link (systemd-resolved); replace it.
			if err := t.Remove("/" + p); err != nil {
				return err
			}
		}
		if err := t.WriteFile("/"+p, tree.Meta{Mode: 0o644, Mtime: epoch}, data); err != nil {
			return fmt.Errorf("writing /%s: %w", p, err)
		}
	}
	if *r.System.DisableTLS {
		for _, dir := range []string{"/lib/tls", "/usr/lib/tls"} {
			real, err := t.Resolve(dir, true)
			if err != nil {
				continue
			}
			n, err := t.Lstat(real)
			if err != nil || n.Type != tree.TypeDir {
				continue
			}
			if err := t.Rename(real, real+".disabled"); err != nil {
				return fmt.Errorf("disabling %s: %w", real, err)
			}
			log.Info("disabled TLS libraries", "from", real, "to", real+".disabled")
		}
	}
	return nil
}

// RootHashFile carries the root password hash to a first-boot guest.
const RootHashFile = "/etc/xenimg/root-password-hash"

// rootHash is the recipe's root password as a crypt(3) hash the suite's
// libc reads (MD5-crypt for sarge and etch, SHA-512 later), or "" for none.
func rootHash(r *Recipe, s debootstrap.Suite, seed []byte) (string, error) {
	if h := r.System.RootPasswordHash; h != "" {
		return h, nil
	}
	if r.System.RootPassword == "" {
		return "", nil
	}
	var (
		hash string
		err  error
	)
	if s.Codename == "sarge" || s.Codename == "etch" {
		hash, err = crypt.MD5(r.System.RootPassword, crypt.Salt(append(seed, "root"...), 8))
	} else {
		hash, err = crypt.SHA512(r.System.RootPassword, crypt.Salt(append(seed, "root"...), 16), 0)
	}
	if err != nil {
		return "", fmt.Errorf("hashing the root password: %w", err)
	}
	return hash, nil
}

// setRootPassword writes root's hash into /etc/shadow once the guest has
// one (after a chroot second stage); an empty hash locks root (keys
// only). Without /etc/shadow yet (first boot, none) the first-boot script
// applies RootHashFile.
func setRootPassword(t *tree.Tree, hash string, epoch int64) error {
	data, err := t.ReadFile("/etc/shadow")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading /etc/shadow: %w", err)
	}
	if hash == "" {
		hash = "*"
	}
	lines := strings.Split(string(data), "\n")
	found := false
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] == "root" {
			f[1] = hash
			if day := epoch / 86400; day > 0 { // day 0 would force a change at login
				f[2] = fmt.Sprint(day)
			}
			lines[i] = strings.Join(f, ":")
			found = true
		}
	}
	if !found {
		return errors.New("/etc/shadow has no root entry")
	}
	n, err := t.Lstat("/etc/shadow")
	if err != nil {
		return err
	}
	if err := t.WriteFile("/etc/shadow", tree.Meta{Mode: n.Mode, UID: n.UID, GID: n.GID, Mtime: epoch}, []byte(strings.Join(lines, "\n"))); err != nil {
		return err
	}
	if err := t.RemoveAll("/etc/xenimg"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// xenConsole gives sysvinit guests a login on the Xen console. Sarge-era
// Xen kernels (xencons=tty) show the console on tty1, which the default
// inittab already serves; later paravirt kernels use hvc0, which needs a
// getty line (systemd guests spawn one for console=hvc0 by themselves).
func xenConsole(t *tree.Tree, codename string, epoch int64) error {
	if codename == "sarge" {
		return nil
	}
	data, err := t.ReadFile("/etc/inittab")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading /etc/inittab: %w", err)
	}
	if strings.Contains(string(data), "hvc0") {
		return nil
	}
	n, err := t.Lstat("/etc/inittab")
	if err != nil {
		return err
	}
	data = append(data, "\n# Xen console (added by xenimg)\nhvc0:2345:respawn:/sbin/getty 38400 hvc0\n"...)
	if err := t.WriteFile("/etc/inittab", tree.Meta{Mode: n.Mode, UID: n.UID, GID: n.GID, Mtime: epoch}, data); err != nil {
		return err
	}
	if st, err := t.ReadFile("/etc/securetty"); err == nil && !strings.Contains(string(st), "hvc0") {
		sn, _ := t.Lstat("/etc/securetty")
		return t.WriteFile("/etc/securetty", tree.Meta{Mode: sn.Mode, UID: sn.UID, GID: sn.GID, Mtime: epoch}, append(st, "hvc0\n"...))
	}
	return nil
}

// sshKeygenUnit makes a systemd guest create missing SSH host keys before
// sshd starts: the template carries none (every clone gets its own), and a
// template booted on its own should still let its admin in. Slaves made by
// clone have keys, so the unit's condition skips it there.
func sshKeygenUnit(t *tree.Tree, epoch int64) error {
	if _, err := t.Lookup("/lib/systemd/system/ssh.service"); err != nil {
		return nil // no systemd or no sshd
	}
	unit := `[Unit]
Description=Create missing SSH host keys (xenimg template)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
`
	m := tree.Meta{Mode: 0o644, Mtime: epoch}
	if err := t.WriteFile("/etc/systemd/system/xenimg-ssh-keygen.service", m, []byte(unit)); err != nil {
		return err
	}
	if err := t.MkdirAll("/etc/systemd/system/multi-user.target.wants", tree.Meta{Mode: 0o755, Mtime: epoch}); err != nil {
		return err
	}
	return t.Symlink("/etc/systemd/system/xenimg-ssh-keygen.service", "/etc/systemd/system/multi-user.target.wants/xenimg-ssh-keygen.service", tree.Meta{Mode: 0o777, Mtime: epoch})
}

// FileSHA256 returns the SHA-256 (hex) and size of a file. Images are
// sparse: holes (SEEK_HOLE) are hashed from a zero buffer instead of being
// read through the kernel.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	size := st.Size()
	h := sha256.New()
	buf := make([]byte, 4<<20)
	zero := make([]byte, 4<<20)
	feedZeros := func(n int64) {
		for n > 0 {
			k := min(n, int64(len(zero)))
			h.Write(zero[:k])
			n -= k
		}
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil { // ENXIO: only a hole is left; EINVAL: no support
			if err == unix.ENXIO {
				feedZeros(size - off)
				break
			}
			data = off
		}
		feedZeros(data - off)
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for pos := data; pos < hole; {
			k := min(hole-pos, int64(len(buf)))
			n, err := f.ReadAt(buf[:k], pos)
			h.Write(buf[:n])
			pos += int64(n)
			if err != nil && !(err == io.EOF && pos >= hole) {
				return "", 0, err
			}
		}
		off = hole
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// lockOut takes the output directory for this build: a second build into
// it is refused rather than mixing files. The lock dies with the process,
// so a killed build leaves none. On a file system without locks it
// returns nil and no error.
func lockOut(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: another xenimg build is writing there", dir)
		}
		if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return nil, nil // a file system without locks: go on unguarded
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}

// cleanStale removes what a killed build left in the (locked) output
// directory: its staging and work directories, unmounting first the
// tmpfs a chroot second stage configures on.
func cleanStale(dir string, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".build-") && !strings.HasPrefix(e.Name(), ".work-") {
			continue
		}
		p := filepath.Join(abs, e.Name())
		if err := unmountUnder(p); err != nil {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing what an interrupted build left: %w", err)
		}
		log.Info("removed what an interrupted build left", "dir", p)
	}
	return nil
}

// unmountUnder unmounts every mount at or below p, deepest first.
func unmountUnder(p string) error {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil // no procfs: nothing this process could have mounted either
	}
	var mps []string
	for line := range strings.Lines(string(mi)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := unescapeMountinfo(f[4]); mp == p || strings.HasPrefix(mp, p+"/") {
			mps = append(mps, mp)
		}
	}
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s, left by an interrupted build: %w", mp, err)
		}
	}
	return nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
