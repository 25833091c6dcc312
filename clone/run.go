package clone

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/builder/swap"
	"github.com/xenimg/xenimg/clone/lvm"
	"github.com/xenimg/xenimg/clone/plan"
	"github.com/xenimg/xenimg/clone/sshkey"
)

// Result says what a run did.
type Result struct {
	Made []string // host names of the slaves made (or replaced) by this run
	Kept []string // host names of existing slaves left as they were
	// ClusterDir is DIR/cluster; IdentityFile the master's private key.
	ClusterDir, IdentityFile string
}

// ParseSeed reads a seed file: 32 raw bytes, or 64 hex digits with
// optional white space around them.
func ParseSeed(data []byte) (sshkey.Seed, error) {
	var s sshkey.Seed
	if len(data) == len(s) {
		copy(s[:], data)
		return s, nil
	}
	t := strings.TrimSpace(string(data))
	if len(t) == 2*len(s) {
		if b, err := hex.DecodeString(t); err == nil {
			copy(s[:], b)
			return s, nil
		}
	}
	return s, fmt.Errorf("a seed is 32 bytes or 64 hex digits, got %d bytes", len(data))
}

// writeAtomic writes data to name through a temporary file in the same
// directory and a rename.
func writeAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// clusterSeed returns Options.Seed, or DIR/cluster/ssh/seed, creating it
// from Options.Rand on the first run.
func (c *Cloner) clusterSeed() (sshkey.Seed, error) {
	if c.o.Seed != nil {
		return *c.o.Seed, nil
	}
	p := filepath.Join(c.dir, "cluster", "ssh", "seed")
	data, err := os.ReadFile(p)
	if err == nil {
		s, err := ParseSeed(data)
		if err != nil {
			return s, fmt.Errorf("reading %s: %w", p, err)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return sshkey.Seed{}, err
	}
	if c.o.Rand == nil {
		return sshkey.Seed{}, fmt.Errorf("%s does not exist and no source of randomness was given", p)
	}
	var s sshkey.Seed
	if _, err := io.ReadFull(c.o.Rand, s[:]); err != nil {
		return s, fmt.Errorf("creating the cluster seed: %w", err)
	}
	if err := writeAtomic(p, s[:], 0o600); err != nil {
		return s, err
	}
	c.log.Info("created the cluster secret", "path", p)
	return s, nil
}

// masterKey returns the master's public key and private key path, making
// the key pair on the first run and reusing it after.
func (c *Cloner) masterKey(seed sshkey.Seed) (sshkey.PublicKey, string, error) {
	sshDir := filepath.Join(c.dir, "cluster", "ssh")
	set, err := sshkey.UserKey(sshkey.DeriveSeed(seed, "master"), c.era, sshkey.Options{Comment: "root@" + c.plan.Master.Hostname, RSABits: c.o.RSABits})
	if err != nil {
		return sshkey.PublicKey{}, "", err
	}
	priv := filepath.Join(sshDir, set.Files[0].Path)
	pubPath := priv + ".pub"
	if _, err := os.Stat(priv); err == nil {
		data, err := os.ReadFile(pubPath)
		if err != nil {
			return sshkey.PublicKey{}, "", fmt.Errorf("reading the master's public key: %w", err)
		}
		k, err := sshkey.ParsePublicKey(data)
		if err != nil {
			return sshkey.PublicKey{}, "", fmt.Errorf("reading %s: %w", pubPath, err)
		}
		return k, priv, nil
	}
	for _, f := range set.Files {
		if err := writeAtomic(filepath.Join(sshDir, f.Path), f.Data, f.Mode); err != nil {
			return sshkey.PublicKey{}, "", err
		}
	}
	c.log.Info("created the master's key pair", "path", priv)
	return set.Keys[0].Public(), priv, nil
}

// made is a slave built by this run, not yet published.
type made struct {
	id    *identity
	stage string   // dir target: staging directory
	lvs   []string // lvm target: LVs created
}

// Run makes the missing slaves (every slave with Force), publishes them
// when all succeeded, then writes the domain configs and the cluster
// files for slaves 1..N.
func (c *Cloner) Run(ctx context.Context) (res *Result, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	clusterDir := filepath.Join(c.dir, "cluster")
	if err := os.MkdirAll(filepath.Join(clusterDir, "ssh"), 0o700); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	// One clone at a time per template directory; then anything a killed
	// run left under a staging name is safe to remove.
	lock, err := os.OpenFile(filepath.Join(clusterDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("clone: another xenimg clone is running on %s (%s is locked): %w", c.dir, lock.Name(), err)
	}
	if ents, err := os.ReadDir(filepath.Join(c.dir, "slaves")); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".staging-") || strings.HasPrefix(e.Name(), ".old-") {
				c.log.Info("removing what an interrupted run left", "path", filepath.Join(c.dir, "slaves", e.Name()))
				os.RemoveAll(filepath.Join(c.dir, "slaves", e.Name()))
			}
		}
	}
	if c.plan.Target.Kind == "lvm" {
		if err := c.recoverLVM(ctx); err != nil {
			return nil, fmt.Errorf("clone: %w", err)
		}
	}
	// New looked without the lock: look again, so two overlapping runs
	// never both make (or replace) the same slave.
	if err := c.check(ctx); err != nil {
		return nil, err
	}
	seed, err := c.clusterSeed()
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	master, identityFile, err := c.masterKey(seed)
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	authorized := append([]sshkey.PublicKey{master}, c.o.ExtraKeys...)
	res = &Result{ClusterDir: clusterDir, IdentityFile: identityFile}

	tf, err := os.Open(c.tmpl.rootPath)
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	defer tf.Close()
	data := dataRanges(tf, c.tmpl.rootSize)

	if c.plan.Target.Kind == "dir" {
		if err := os.MkdirAll(filepath.Join(c.dir, "slaves"), 0o755); err != nil {
			return nil, fmt.Errorf("clone: %w", err)
		}
	}
	work := make([]*made, len(c.plan.Slaves))
	defer func() {
		if err != nil {
			c.discard(work)
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.Jobs)
	for i, s := range c.plan.Slaves {
		if !c.todo(i) {
			res.Kept = append(res.Kept, s.Hostname)
			continue
		}
		m := &made{}
		work[i] = m
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			// Host keys (CPU) are made while the template is copied
			// (I/O); the edits wait for both.
			idDone := make(chan error, 1)
			go func() {
				id, err := c.newIdentity(s, seed, authorized)
				m.id = id
				idDone <- err
			}()
			waited := false
			wait := func() error {
				waited = true
				return <-idDone
			}
			var err error
			if c.plan.Target.Kind == "lvm" {
				err = c.makeLVMSlave(gctx, s, m, tf, data, wait)
			} else {
				err = c.makeDirSlave(gctx, s, m, tf, data, wait)
			}
			if !waited {
				<-idDone
			}
			if err != nil {
				return &Error{s.Hostname, err}
			}
			c.log.Info("made slave", "name", s.Hostname, "ip", s.IP.String(), "mac", s.MAC.String())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("clone: %w", ctx.Err())
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	// Publish.
	for i, m := range work {
		if m == nil {
			continue
		}
		s := c.plan.Slaves[i]
		if c.plan.Target.Kind == "dir" {
			err = c.publishDir(s, m)
		} else {
			err = c.publishLVM(s, m)
		}
		if err != nil {
			return nil, &Error{s.Hostname, err}
		}
		m.stage, m.lvs = "", nil // published: nothing to discard
		c.keys[s.Hostname] = m.id.publicKeys()
		res.Made = append(res.Made, s.Hostname)
	}
	if err := c.writeDomains(); err != nil {
		return res, fmt.Errorf("clone: %w", err)
	}
	if err := c.writeCluster(identityFile); err != nil {
		return res, fmt.Errorf("clone: %w", err)
	}
	return res, nil
}

// discard removes what unfinished slaves left.
func (c *Cloner) discard(work []*made) {
	for _, m := range work {
		if m == nil {
			continue
		}
		if m.stage != "" {
			os.RemoveAll(m.stage)
		}
		for _, lv := range m.lvs {
			if err := c.lvm.Remove(context.Background(), c.plan.Target.VG, lv); err != nil {
				c.log.Error("removing a half-made volume", "vg", c.plan.Target.VG, "lv", lv, "err", err)
			}
		}
	}
}

// makeDirSlave makes a slave's images in a staging directory.
// wait returns once m.id is set (or its error).
func (c *Cloner) makeDirSlave(ctx context.Context, s plan.Slave, m *made, tf *os.File, data [][2]int64, wait func() error) error {
	stage, err := os.MkdirTemp(filepath.Join(c.dir, "slaves"), ".staging-"+s.Hostname+"-")
	if err != nil {
		return err
	}
	m.stage = stage
	// Images hold the slave's private host keys: owner only.
	rootPath := filepath.Join(stage, "root.img")
	f, err := os.OpenFile(rootPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if !reflink(f, tf) {
		if err := f.Truncate(c.tmpl.rootSize); err != nil {
			return err
		}
		if _, err := copyUsed(f, tf, c.tmpl.used, c.tmpl.blockSize, data, true); err != nil {
			return fmt.Errorf("copying the template: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	if err := c.editRoot(f, m.id); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if c.tmpl.swapPath == "" {
		return nil
	}
	sf, err := os.OpenFile(filepath.Join(stage, "swap.img"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = swap.Write(sf, c.tmpl.swapSize, swap.Options{UUID: m.id.swapUUID, Label: c.tmpl.swapLabel})
	if cerr := sf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing swap.img: %w", err)
	}
	return nil
}

// editRoot opens a slave's root filesystem on dev and applies its identity.
func (c *Cloner) editRoot(dev ext3.Device, id *identity) error {
	fsys, err := ext3.Open(dev, ext3.OpenOptions{Epoch: c.epoch})
	if err != nil {
		return fmt.Errorf("opening the copied filesystem: %w", err)
	}
	if err := c.edit(fsys, id); err != nil {
		fsys.Close()
		return err
	}
	if err := fsys.Close(); err != nil {
		return fmt.Errorf("writing the filesystem's metadata: %w", err)
	}
	return nil
}

// publishDir moves a staged slave to DIR/slaves/<hostname>, replacing an
// existing one (Force) only once the new one is complete.
func (c *Cloner) publishDir(s plan.Slave, m *made) error {
	final := filepath.Dir(c.volPath(s.RootPath))
	var old string
	if _, err := os.Lstat(final); err == nil {
		if !c.o.Force {
			return fmt.Errorf("%s: %w", final, ErrExists)
		}
		o, err := os.MkdirTemp(filepath.Dir(final), ".old-"+s.Hostname+"-")
		if err != nil {
			return err
		}
		old = filepath.Join(o, "slave")
		if err := os.Rename(final, old); err != nil {
			os.Remove(o)
			return err
		}
		defer os.RemoveAll(o)
	}
	if err := os.Rename(m.stage, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return err
	}
	return nil
}

// Staging names of LVs: a slave's new volumes are made as NAME.xenimg-new;
// publishing renames the volumes it replaces to NAME.xenimg-old, the new
// ones to NAME, then removes the old ones.
const (
	lvNewSuffix = ".xenimg-new"
	lvOldSuffix = ".xenimg-old"
)

// publishLVM swaps a slave's staged LVs into place (lvrename, metadata
// only), then removes the volumes they replace (Force).
func (c *Cloner) publishLVM(s plan.Slave, m *made) error {
	ctx := context.Background() // a half-done swap is worse than a late one
	vg := c.plan.Target.VG
	var olds []string
	for _, staged := range m.lvs {
		name := strings.TrimSuffix(staged, lvNewSuffix)
		ok, err := c.lvm.Exists(ctx, vg, name)
		if err != nil {
			return err
		}
		if ok {
			if !c.o.Force {
				return fmt.Errorf("/dev/%s/%s: %w", vg, name, ErrExists)
			}
			if err := c.lvm.Rename(ctx, vg, name, name+lvOldSuffix); err != nil {
				return err
			}
			olds = append(olds, name+lvOldSuffix)
		}
		if err := c.lvm.Rename(ctx, vg, staged, name); err != nil {
			// Put the old volume back; the staged one is discarded.
			if ok {
				if rerr := c.lvm.Rename(ctx, vg, name+lvOldSuffix, name); rerr != nil {
					c.log.Error("putting a volume back", "vg", vg, "lv", name, "err", rerr)
				}
			}
			return err
		}
	}
	for _, old := range olds {
		if err := c.lvm.Remove(ctx, vg, old); err != nil {
			// The slave is published; the next run removes it.
			c.log.Error("removing a replaced volume", "vg", vg, "lv", old, "err", err)
		}
	}
	return nil
}

// recoverLVM finishes or undoes what a killed run left in the VG:
// staged volumes (NAME.xenimg-new) are removed; a replaced volume
// (NAME.xenimg-old) is removed when NAME exists (its successor was
// swapped in) and renamed back to NAME otherwise.
func (c *Cloner) recoverLVM(ctx context.Context) error {
	vg := c.plan.Target.VG
	names, err := c.lvm.List(ctx, vg)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, lvNewSuffix):
			c.log.Info("removing what an interrupted run left", "vg", vg, "lv", n)
			if err := c.lvm.Remove(ctx, vg, n); err != nil {
				return err
			}
		case strings.HasSuffix(n, lvOldSuffix):
			base := strings.TrimSuffix(n, lvOldSuffix)
			if have[base] {
				c.log.Info("removing a volume an interrupted run replaced", "vg", vg, "lv", n)
				err = c.lvm.Remove(ctx, vg, n)
			} else {
				c.log.Info("putting back a volume an interrupted run was replacing", "vg", vg, "lv", base)
				err = c.lvm.Rename(ctx, vg, n, base)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// makeLVMSlave creates a slave's LVs under staging names (name +
// lvNewSuffix) and writes them through their PVs. The volumes of a slave
// being replaced (Force) stay untouched until publishLVM.
func (c *Cloner) makeLVMSlave(ctx context.Context, s plan.Slave, m *made, tf *os.File, data [][2]int64, wait func() error) error {
	vg := c.plan.Target.VG
	vols := []struct {
		name string
		size int64
	}{{s.RootVolume, c.tmpl.rootSize}}
	if c.tmpl.swapPath != "" {
		vols = append(vols, struct {
			name string
			size int64
		}{s.SwapVolume, c.tmpl.swapSize})
	}
	for _, v := range vols {
		if err := c.lvm.Create(ctx, vg, v.name+lvNewSuffix, v.size); err != nil {
			return err
		}
		m.lvs = append(m.lvs, v.name+lvNewSuffix)
	}
	rv, err := c.lvm.Open(ctx, vg, s.RootVolume+lvNewSuffix, os.O_RDWR)
	if err != nil {
		return err
	}
	defer rv.Close()
	// lvcreate -Zn leaves whatever the PV held (another slave's keys):
	// zero the LV, then write the template's non-zero blocks.
	zeroed, err := c.zeroLV(rv, c.tmpl.used, c.tmpl.blockSize)
	if err != nil {
		return err
	}
	if _, err := copyUsed(rv, tf, c.tmpl.used, c.tmpl.blockSize, data, zeroed); err != nil {
		return fmt.Errorf("copying the template to %s/%s: %w", vg, s.RootVolume, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	if err := c.editRoot(rv, m.id); err != nil {
		return err
	}
	if err := rv.Sync(); err != nil {
		return err
	}
	if err := rv.Close(); err != nil {
		return err
	}
	if c.tmpl.swapPath == "" {
		return nil
	}
	hdr, err := swap.Header(c.tmpl.swapSize, swap.Options{UUID: m.id.swapUUID, Label: c.tmpl.swapLabel})
	if err != nil {
		return err
	}
	sv, err := c.lvm.Open(ctx, vg, s.SwapVolume+lvNewSuffix, os.O_RDWR)
	if err != nil {
		return err
	}
	defer sv.Close()
	if _, err := c.zeroLV(sv, nil, 1); err != nil {
		return err
	}
	if _, err := sv.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("writing the swap header of %s/%s: %w", vg, s.SwapVolume, err)
	}
	if err := sv.Sync(); err != nil {
		return err
	}
	return sv.Close()
}

// zeroLV zeroes an LV by BLKZEROOUT on its PVs and reports true. Where the
// PV cannot, it writes zeros over every byte outside the used extents
// (blocks of blockSize bytes; the caller writes those, zeros included)
// and reports false.
func (c *Cloner) zeroLV(v *lvm.Volume, used []ext3.Extent, blockSize int64) (bool, error) {
	err := v.Zero(0, v.Size())
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, lvm.ErrZeroUnsupported) {
		return false, err
	}
	c.log.Info("writing zeros over the unused space: the PV cannot zero by ioctl", "vg", v.VG, "lv", v.Name, "err", err)
	zero := make([]byte, copyBuf)
	fill := func(off, end int64) error {
		for off < end {
			n := min(end-off, int64(len(zero)))
			if _, err := v.WriteAt(zero[:n], off); err != nil {
				return err
			}
			off += n
		}
		return nil
	}
	var off int64
	for _, e := range used {
		start := int64(e.Start) * blockSize
		if err := fill(off, min(start, v.Size())); err != nil {
			return false, err
		}
		off = max(off, int64(e.Start+e.Count)*blockSize)
	}
	return false, fill(off, v.Size())
}

// writeDomains writes DIR/xen/<hostname>.cfg for every slave.
func (c *Cloner) writeDomains() error {
	xenDir := filepath.Join(c.dir, "xen")
	if err := os.MkdirAll(xenDir, 0o755); err != nil {
		return err
	}
	for _, s := range c.plan.Slaves {
		in := builder.DomainInput{Name: s.Hostname, RootTarget: c.volPath(s.RootPath), MAC: s.MAC.String(), Firstboot: c.firstboot}
		if c.tmpl.swapPath != "" {
			in.SwapTarget = c.volPath(s.SwapPath)
		}
		cfg, err := builder.DomainConfig(c.recipe, in)
		if err != nil {
			return fmt.Errorf("domain config of %s: %w", s.Hostname, err)
		}
		p := filepath.Join(xenDir, s.Hostname+".cfg")
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, cfg) {
			continue
		}
		if err := writeAtomic(p, cfg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeCluster writes the master's files for slaves 1..N.
func (c *Cloner) writeCluster(identityFile string) error {
	dir := filepath.Join(c.dir, "cluster")
	known, err := c.plan.KnownHosts(c.keys)
	if err != nil {
		return err
	}
	knownPath := filepath.Join(dir, "known_hosts")
	sshConfig, err := c.plan.SSHConfig(plan.SSHOptions{IdentityFile: identityFile, KnownHostsFile: knownPath, Legacy: c.era != sshkey.Modern})
	if err != nil {
		return err
	}
	inv, err := c.plan.InventoryJSON(c.keys)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"hosts", c.plan.Hosts()},
		{"pvm_hosts", c.plan.PVMHosts()},
		{"mpi_hosts", c.plan.MPIHosts()},
		{"known_hosts", known},
		{"ssh_config", sshConfig},
		{"inventory.json", inv},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
