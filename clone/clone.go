package clone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/clone/lvm"
	"github.com/xenimg/xenimg/clone/plan"
	"github.com/xenimg/xenimg/clone/sshkey"
)

// Options say what to clone and how.
type Options struct {
	From   string // template directory made by xenimg build
	N      int    // slaves 1..N
	Target string // "dir" or "lvm:VG"; empty: the recipe's clone.target
	Force  bool   // replace existing slave volumes
	// Seed is the secret every key and identifier derives from. Nil: read
	// From/cluster/ssh/seed, or create it from Rand on the first run.
	Seed *sshkey.Seed
	// Rand supplies the 32 bytes of a new seed (crypto/rand.Reader).
	Rand io.Reader
	// ExtraKeys are public keys added to every new slave's
	// authorized_keys beside the master's (--ssh-key).
	ExtraKeys []sshkey.PublicKey
	Jobs      int         // slaves made at once; 0: runtime.NumCPU()
	RSABits   int         // RSA host key size; 0: sshkey's default for the era
	LVM       *lvm.Client // nil: lvm.Default
	Log       *slog.Logger
}

// Cloner is a validated clone job. New checks everything and writes
// nothing; Run does the work.
type Cloner struct {
	o      Options
	dir    string // absolute template directory
	recipe *builder.Recipe
	plan   *plan.Plan
	era    sshkey.Era
	epoch  time.Time
	lvm    *lvm.Client
	tmpl   *template
	state  []slaveState  // per slave, from the checks
	keys   plan.HostKeys // host keys of complete slaves (read back), then of new ones
	log    *slog.Logger
	// firstboot: the template boots through /sbin/xenimg-firstboot once.
	firstboot bool
}

// template is what is known about the template's images.
type template struct {
	rootPath, swapPath string // swapPath "" when the template has no swap
	rootSize, swapSize int64
	used               []ext3.Extent
	blockSize          int64
	rootUUID           [16]byte
	swapUUID           [16]byte
	swapLabel          string
	hostname           string // the template's /etc/hostname
}

// Error is a validation or clone error naming the slave it concerns.
type Error struct {
	Slave string // host name, or "" for the whole job
	Err   error
}

func (e *Error) Error() string {
	if e.Slave == "" {
		return "clone: " + e.Err.Error()
	}
	return "clone: slave " + e.Slave + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrExists reports a slave volume that exists while Force is off.
var ErrExists = errors.New("volume exists (pass --force to replace it)")

// manifestInfo is the part of manifest.json clone reads.
type manifestInfo struct {
	Name      string `json:"name"`
	Epoch     int64  `json:"epoch"`
	Configure string `json:"configure"`
}

// New validates o against the template and the target: recipe, plan (host
// names, subnet, collisions), template images, volume group and room,
// existing volumes. It writes nothing.
func New(ctx context.Context, o Options) (*Cloner, error) {
	c := &Cloner{o: o, lvm: o.LVM, log: o.Log}
	if c.lvm == nil {
		c.lvm = lvm.Default
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.o.Jobs <= 0 {
		c.o.Jobs = runtime.NumCPU()
	}
	dir, err := filepath.Abs(o.From)
	if err != nil {
		return nil, fmt.Errorf("clone: template directory %q: %w", o.From, err)
	}
	c.dir = dir
	mdata, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("clone: reading the template's manifest (is %s made by xenimg build?): %w", dir, err)
	}
	var m manifestInfo
	if err := json.Unmarshal(mdata, &m); err != nil {
		return nil, fmt.Errorf("clone: parsing %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	c.epoch = time.Unix(m.Epoch, 0).UTC()
	c.firstboot = m.Configure == "firstboot"
	if c.recipe, err = builder.LoadRecipe(filepath.Join(dir, "recipe.toml")); err != nil {
		return nil, fmt.Errorf("clone: loading the template's recipe: %w", err)
	}
	r := c.recipe
	if c.era, err = sshkey.EraFor(r.Suite.Codename); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	target := r.Clone.Target
	if o.Target != "" {
		target = o.Target
	}
	in := plan.Input{
		Cluster: r.Name, N: o.N, Hostname: r.Clone.Hostname,
		Subnet: r.Network.Subnet, FirstIP: r.Network.FirstIP, Gateway: r.Network.Gateway,
		Master:     plan.Master{Hostname: r.Network.Master.Hostname, IP: r.Network.Master.IP},
		RootVolume: r.Clone.RootVolume, SwapVolume: r.Clone.SwapVolume,
		Target: target, Slots: r.Xen.VCPUs,
	}
	c.plan, err = plan.New(in)
	if err != nil {
		return nil, fmt.Errorf("clone: %s: %w", filepath.Join(dir, "recipe.toml"), err)
	}
	if o.Seed == nil && o.Rand == nil {
		if _, err := os.Stat(filepath.Join(dir, "cluster", "ssh", "seed")); err != nil {
			return nil, fmt.Errorf("clone: no cluster seed (%v) and no source of randomness to make one", err)
		}
	}
	if c.tmpl, err = readTemplate(dir, r); err != nil {
		return nil, err
	}
	if err := c.keepBeyond(ctx, in); err != nil {
		return nil, err
	}
	if err := c.check(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// keepBeyond extends the plan over the complete slaves N+1, N+2, ... that
// an earlier run with a larger N made, so the cluster files keep listing
// them. Run leaves them as they are, even with Force.
func (c *Cloner) keepBeyond(ctx context.Context, in plan.Input) error {
	for n := in.N + 1; ; n++ {
		in.N = n
		p, err := plan.New(in)
		if err != nil {
			return nil // the subnet ends: no such slave can exist
		}
		s := p.Slaves[n-1]
		var complete bool
		if p.Target.Kind == "lvm" {
			complete, err = c.lvmSlaveComplete(ctx, s)
		} else {
			complete = c.dirSlaveComplete(s)
		}
		if err != nil {
			return err
		}
		if !complete {
			return nil
		}
		c.log.Info("keeping a slave beyond --n in the cluster files", "name", s.Hostname, "n", c.o.N)
		c.plan = p
	}
}

// dirSlaveComplete reports whether a dir target holds a complete slave s.
func (c *Cloner) dirSlaveComplete(s plan.Slave) bool {
	if c.tmpl.swapPath != "" {
		if _, err := os.Stat(c.volPath(s.SwapPath)); err != nil {
			return false
		}
	}
	_, err := c.probeDirSlave(s)
	return err == nil
}

// lvmSlaveComplete reports whether an lvm target holds a complete slave s.
func (c *Cloner) lvmSlaveComplete(ctx context.Context, s plan.Slave) (bool, error) {
	names, err := c.lvm.List(ctx, c.plan.Target.VG)
	if err != nil {
		return false, fmt.Errorf("clone: target lvm:%s: %w", c.plan.Target.VG, err)
	}
	if !slices.Contains(names, s.RootVolume) || c.tmpl.swapPath != "" && !slices.Contains(names, s.SwapVolume) {
		return false, nil
	}
	_, err = c.probeLVMSlave(ctx, s, s.RootVolume)
	return err == nil, nil
}

// check finds the slaves that exist and checks the target. New calls it
// to validate; Run calls it again once it holds the lock, since another
// run may have made slaves in between.
func (c *Cloner) check(ctx context.Context) error {
	if c.plan.Target.Kind == "lvm" {
		return c.checkLVM(ctx)
	}
	return c.checkDir()
}

// Plan returns the validated cluster plan.
func (c *Cloner) Plan() *plan.Plan { return c.plan }

// Dir returns the absolute template directory (where slaves/, xen/ and
// cluster/ are written).
func (c *Cloner) Dir() string { return c.dir }

// Exists reports whether slave i (0-based) has volumes already.
func (c *Cloner) Exists(i int) bool { return c.state[i] != stateNew }

// todo reports whether Run makes slave i.
// Slaves beyond Options.N (kept from a larger earlier run) never are.
func (c *Cloner) todo(i int) bool { return i < c.o.N && (c.state[i] == stateNew || c.o.Force) }

// Describe writes the plan, one line per slave: host name, IP, MAC,
// volumes, and whether the slave exists, would be replaced or is new.
func (c *Cloner) Describe(w io.Writer) error {
	for i, s := range c.plan.Slaves {
		state := "new"
		if c.state[i] != stateNew {
			state = "exists"
			if i >= c.o.N {
				state = "kept (beyond --n)"
			} else if c.o.Force {
				state = "replace"
			}
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\troot=%s\tswap=%s\t%s\n", s.Hostname, s.IP, s.MAC, c.volPath(s.RootPath), c.swapDesc(s), state); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cloner) swapDesc(s plan.Slave) string {
	if c.tmpl.swapPath == "" {
		return "none"
	}
	return c.volPath(s.SwapPath)
}

// volPath returns an absolute path for a plan path (dir target paths are
// relative to the template directory).
func (c *Cloner) volPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, filepath.FromSlash(p))
}

// readTemplate checks the template's images and reads what clone needs.
func readTemplate(dir string, r *builder.Recipe) (*template, error) {
	t := &template{rootPath: filepath.Join(dir, "root.img")}
	f, err := os.Open(t.rootPath)
	if err != nil {
		return nil, fmt.Errorf("clone: opening the template image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	t.rootSize = st.Size()
	corrupt := func(err error) error {
		return fmt.Errorf("clone: template %s is not a usable ext2/ext3 image: %w", t.rootPath, err)
	}
	fsys, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		return nil, corrupt(err)
	}
	defer fsys.Close()
	t.blockSize = int64(fsys.BlockSize())
	if need := int64(fsys.BlockCount()) * t.blockSize; need > t.rootSize {
		return nil, corrupt(fmt.Errorf("the filesystem has %d blocks of %d bytes (%d bytes) but the file is %d bytes: truncated", fsys.BlockCount(), t.blockSize, need, t.rootSize))
	}
	if t.used, err = fsys.UsedBlocks(); err != nil {
		return nil, corrupt(err)
	}
	var used uint64
	for _, e := range t.used {
		used += e.Count
	}
	if free := fsys.FreeBlocks(); used+free != fsys.BlockCount() {
		return nil, corrupt(fmt.Errorf("the block bitmaps mark %d blocks used but the superblock counts %d free of %d", used, free, fsys.BlockCount()))
	}
	t.rootUUID = fsys.UUID()
	fi, err := fsys.Stat("/etc")
	if err != nil {
		return nil, corrupt(err)
	}
	if !fi.IsDir() {
		return nil, corrupt(errors.New("/etc is not a directory"))
	}
	// Reading the files clone edits proves their directories and block
	// maps are sound.
	for _, p := range []string{"/etc/hostname", "/etc/hosts", "/etc/fstab", "/etc/network/interfaces"} {
		data, err := fsys.ReadFile(p)
		if errors.Is(err, ext3.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, corrupt(err)
		}
		if p == "/etc/hostname" {
			t.hostname = strings.TrimSpace(string(data))
		}
	}
	if r.Image.SwapBytes > 0 {
		if err := t.readSwap(filepath.Join(dir, "swap.img")); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readSwap checks the template's swap header and keeps its UUID and label.
func (t *template) readSwap(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a recipe with swap, a template without: no swap disks
	}
	if err != nil {
		return fmt.Errorf("clone: opening the template's swap: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	page := make([]byte, 4096)
	if _, err := f.ReadAt(page, 0); err != nil {
		return fmt.Errorf("clone: template swap %s: reading its header: %w", p, err)
	}
	if string(page[4096-10:]) != "SWAPSPACE2" {
		return fmt.Errorf("clone: template swap %s has no SWAPSPACE2 signature (4 KiB pages): not a swap area", p)
	}
	t.swapPath, t.swapSize = p, st.Size()
	copy(t.swapUUID[:], page[1024+12:])
	label := page[1024+28 : 1024+44]
	if i := strings.IndexByte(string(label), 0); i >= 0 {
		label = label[:i]
	}
	t.swapLabel = string(label)
	return nil
}

// slaveState is what a run finds of a slave.
type slaveState int

const (
	stateNew      slaveState = iota // no volume exists
	stateComplete                   // a slave made by clone: kept as it is
	stateForeign                    // some volume exists but is not this slave
)

// probeSlave reads an existing root volume: a complete slave is an ext2/3
// filesystem whose /etc/hostname is the slave's. It returns the host keys
// found in it.
func (c *Cloner) probeSlave(dev io.ReaderAt, s plan.Slave) ([]sshkey.PublicKey, error) {
	fsys, err := ext3.Open(dev, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	h, err := fsys.ReadFile("/etc/hostname")
	if err != nil {
		return nil, err
	}
	if got := strings.TrimSpace(string(h)); got != s.Hostname {
		return nil, fmt.Errorf("its /etc/hostname is %q", got)
	}
	return readHostKeys(fsys, c.era)
}

// checkDir finds the slaves that exist on a dir target.
func (c *Cloner) checkDir() error {
	c.state = make([]slaveState, len(c.plan.Slaves))
	c.keys = plan.HostKeys{}
	var errs []error
	for i, s := range c.plan.Slaves {
		var found []string
		for _, p := range []string{s.RootPath, s.SwapPath, filepath.Dir(s.RootPath)} {
			if _, err := os.Lstat(c.volPath(p)); err == nil {
				found = append(found, c.volPath(p))
			} else if !errors.Is(err, os.ErrNotExist) {
				return &Error{s.Hostname, err}
			}
		}
		if len(found) == 0 {
			continue
		}
		c.state[i] = stateForeign
		why := "it is not a complete slave"
		if len(found) == 3 || c.tmpl.swapPath == "" && len(found) == 2 && found[0] == c.volPath(s.RootPath) {
			keys, err := c.probeDirSlave(s)
			if err == nil {
				c.state[i] = stateComplete
				c.keys[s.Hostname] = keys
				continue
			}
			why = err.Error()
		}
		if !c.o.Force {
			errs = append(errs, &Error{s.Hostname, fmt.Errorf("%s: %w; %s", found[0], ErrExists, why)})
		}
	}
	return errors.Join(errs...)
}

func (c *Cloner) probeDirSlave(s plan.Slave) ([]sshkey.PublicKey, error) {
	f, err := os.Open(c.volPath(s.RootPath))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.probeSlave(f, s)
}

// checkLVM checks the VG, finds existing LVs and checks the room needed.
func (c *Cloner) checkLVM(ctx context.Context) error {
	vgName := c.plan.Target.VG
	vg, err := c.lvm.VG(ctx, vgName)
	if err != nil {
		return fmt.Errorf("clone: target lvm:%s: %w", vgName, err)
	}
	c.state = make([]slaveState, len(c.plan.Slaves))
	c.keys = plan.HostKeys{}
	round := func(n int64) int64 { return (n + vg.ExtentSize - 1) / vg.ExtentSize * vg.ExtentSize }
	per := round(c.tmpl.rootSize)
	if c.tmpl.swapPath != "" {
		per += round(c.tmpl.swapSize)
	}
	var need int64
	var errs []error
	names, err := c.lvm.List(ctx, vgName)
	if err != nil {
		return fmt.Errorf("clone: target lvm:%s: %w", vgName, err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	// A run killed while swapping volumes in left NAME.xenimg-old where
	// NAME is missing: Run's recoverLVM renames it back, so judge it as
	// NAME.
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, lvOldSuffix); ok && !have[base] {
			have[base] = true
		}
	}
	lvName := func(v string) string {
		if slices.Contains(names, v) {
			return v
		}
		return v + lvOldSuffix
	}
	for i, s := range c.plan.Slaves {
		vols := []string{s.RootVolume}
		if c.tmpl.swapPath != "" {
			vols = append(vols, s.SwapVolume)
		}
		var found []string
		for _, v := range vols {
			if len(v)+len(lvNewSuffix) > 127 {
				return &Error{s.Hostname, fmt.Errorf("volume name %q is too long for its staging name %q (LVM allows 127 characters)", v, v+lvNewSuffix)}
			}
			if have[v] {
				found = append(found, "/dev/"+vgName+"/"+v)
			}
		}
		if len(found) == 0 {
			if i < c.o.N {
				need += per
			}
			continue
		}
		c.state[i] = stateForeign
		why := "it is not a complete slave"
		if len(found) == len(vols) {
			keys, err := c.probeLVMSlave(ctx, s, lvName(s.RootVolume))
			if err == nil {
				c.state[i] = stateComplete
				c.keys[s.Hostname] = keys
			} else {
				why = err.Error()
			}
		}
		if c.o.Force && i < c.o.N {
			// --force makes the new volumes beside the old ones and
			// swaps them in only when every slave is made: both need
			// room meanwhile.
			need += per
			continue
		}
		if c.state[i] == stateForeign {
			errs = append(errs, &Error{s.Hostname, fmt.Errorf("%s: %w; %s", found[0], ErrExists, why)})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if need > vg.Free {
		return fmt.Errorf("clone: target lvm:%s: %w: the new slaves need %d MiB, the volume group has %d MiB free", vgName, lvm.ErrNoSpace, need>>20, vg.Free>>20)
	}
	return nil
}

func (c *Cloner) probeLVMSlave(ctx context.Context, s plan.Slave, lv string) ([]sshkey.PublicKey, error) {
	v, err := c.lvm.Open(ctx, c.plan.Target.VG, lv, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return c.probeSlave(v, s)
}

// readHostKeys reads a guest's public host keys, in the era's order.
func readHostKeys(fsys *ext3.FS, era sshkey.Era) ([]sshkey.PublicKey, error) {
	var keys []sshkey.PublicKey
	for _, t := range era.Types() {
		p := "/etc/ssh/ssh_host_" + string(t) + "_key.pub"
		data, err := fsys.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading its host key: %w", err)
		}
		k, err := sshkey.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
