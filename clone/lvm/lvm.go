// Package lvm provisions LVM2 logical volumes with the lvm2 tools and
// reads and writes their contents through the physical volumes, so it
// works where device-mapper is missing or the volume group is not active on
// this host (a disk prepared for another machine, a container, this
// project's CI kernel).
//
// Volumes are created inactive and unzeroed (lvcreate --driverloaded n
// -an -Zn): lvm2 then edits only the metadata. A Volume maps an offset in
// the LV to its physical extent (pe_start + PE index * extent size, from
// pvs and lvs --segments) and does the I/O on the PV device.
//
// Supported: linear LVs with any number of segments on any number of PVs.
// Not supported: striped, mirrored, RAID, thin and cache LVs, snapshots.
// Writing through the PV while the LV is active elsewhere (a running
// guest) corrupts it, as dd would: callers provision volumes that are
// not in use.
//
// Found on a kernel without device-mapper (lvm2 2.03.16): pvcreate,
// vgcreate, vgs, pvs and lvs work (lvs warns and shows attr "XX");
// "lvcreate -an -Zn" still fails ("striped: Required device-mapper
// target(s) not detected in your kernel") unless --driverloaded n is
// given, which every command here passes. lvextend, lvrename and lvremove
// work the same way. lvm2 warns about inherited descriptors unless
// LVM_SUPPRESS_FD_WARNINGS is set; no devices-file or filter change was
// needed, but Client.Config can confine scanning to given devices.
//
// Remove on a host with device-mapper removes only the metadata
// of an LV (it does not deactivate it): remove inactive LVs only.
package lvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrVGNotFound = errors.New("lvm: volume group not found")
	ErrLVNotFound = errors.New("lvm: logical volume not found")
	ErrLVExists   = errors.New("lvm: logical volume already exists")
	ErrNoSpace    = errors.New("lvm: not enough free space in volume group")
)

// Client runs the lvm2 tools. The zero value uses "lvm" from PATH (or
// /sbin, /usr/sbin) with lvm.conf as it is.
type Client struct {
	// Path is the lvm binary; empty means "lvm".
	Path string
	// Config is passed as --config to every command, e.g.
	// `devices { filter = [ "a|^/dev/loop3$|", "r|.*|" ] }` to make lvm2
	// look at one device only.
	Config string
}

// Default is the client the package-level functions use.
var Default = &Client{}

func (c *Client) bin() string {
	if c.Path != "" {
		return c.Path
	}
	if p, err := exec.LookPath("lvm"); err == nil {
		return p
	}
	for _, p := range []string{"/sbin/lvm", "/usr/sbin/lvm"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "lvm"
}

// run runs "lvm <cmd> --driverloaded n [--config C] args..." and returns
// stdout. The error carries lvm2's own message.
func (c *Client) run(ctx context.Context, cmd string, args ...string) ([]byte, error) {
	full := []string{cmd, "--driverloaded", "n"}
	if c.Config != "" {
		full = append(full, "--config", c.Config)
	}
	full = append(full, args...)
	x := exec.CommandContext(ctx, c.bin(), full...)
	// lvm2 complains about every inherited descriptor otherwise.
	x.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	if err := x.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("running lvm %s: %w", cmd, ctx.Err())
		}
		return nil, &CmdError{Args: append([]string{"lvm"}, full...), Stderr: messages(stderr.Bytes()), Err: err}
	}
	return stdout.Bytes(), nil
}

// CmdError is a failed lvm2 command.
type CmdError struct {
	Args   []string
	Stderr string // lvm2's messages without the activation warnings
	Err    error
}

func (e *CmdError) Error() string {
	msg := e.Stderr
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("lvm: %s: %s", e.Args[1], msg)
}

func (e *CmdError) Unwrap() error { return e.Err }

// messages returns lvm2's stderr without the noise --driverloaded n causes.
func messages(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "Activation disabled") || strings.Contains(l, "not zeroed") ||
			strings.Contains(l, "device-mapper") || strings.Contains(l, "/dev/mapper/control") ||
			strings.Contains(l, "libdevmapper") || strings.Contains(l, "Run `") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "; ")
}

// report runs a reporting command (vgs, lvs, pvs) and returns its rows
// split into fields.
func (c *Client) report(ctx context.Context, cmd, fields string, args ...string) ([][]string, error) {
	a := append([]string{"--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o", fields}, args...)
	out, err := c.run(ctx, cmd, a...)
	if err != nil {
		return nil, err
	}
	want := strings.Count(fields, ",") + 1
	var rows [][]string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		f := strings.Split(l, "|")
		if len(f) != want {
			return nil, fmt.Errorf("lvm: parsing %s output %q: %d fields, want %d (%s)", cmd, l, len(f), want, fields)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		rows = append(rows, f)
	}
	return rows, nil
}

func parseInt(cmd, field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("lvm: parsing %s field %s %q: not a byte or extent count", cmd, field, s)
	}
	return n, nil
}

// VGInfo describes a volume group.
type VGInfo struct {
	Name       string
	ExtentSize int64 // bytes
	Size       int64 // bytes
	Free       int64 // bytes
	PVs        []PV
}

// PV is a physical volume of a VG.
type PV struct {
	Device  string // e.g. /dev/loop3
	PEStart int64  // bytes from the start of the device to extent 0
}

// checkName refuses names lvm2 would reject or read as options.
func checkName(kind, s string) error {
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/| \t\n") {
		return fmt.Errorf("lvm: %s name %q is invalid", kind, s)
	}
	return nil
}

// VG returns a volume group's geometry; errors.Is(err, ErrVGNotFound) when
// it does not exist.
func (c *Client) VG(ctx context.Context, name string) (*VGInfo, error) {
	return c.vg(ctx, name, true)
}

// vg reads a VG's geometry, and its PVs when withPVs is set (one more
// lvm2 run).
func (c *Client) vg(ctx context.Context, name string, withPVs bool) (*VGInfo, error) {
	if err := checkName("volume group", name); err != nil {
		return nil, err
	}
	rows, err := c.report(ctx, "vgs", "vg_name,vg_extent_size,vg_size,vg_free", name)
	if err != nil {
		var ce *CmdError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "not found") {
			return nil, fmt.Errorf("%w: %q (vgs lists the volume groups)", ErrVGNotFound, name)
		}
		return nil, fmt.Errorf("reading volume group %s: %w", name, err)
	}
	if len(rows) != 1 || rows[0][0] != name {
		return nil, fmt.Errorf("%w: %q", ErrVGNotFound, name)
	}
	vg := &VGInfo{Name: name}
	for i, p := range []*int64{&vg.ExtentSize, &vg.Size, &vg.Free} {
		if *p, err = parseInt("vgs", []string{"vg_extent_size", "vg_size", "vg_free"}[i], rows[0][i+1]); err != nil {
			return nil, err
		}
	}
	if vg.ExtentSize <= 0 {
		return nil, fmt.Errorf("lvm: volume group %s reports extent size %d", name, vg.ExtentSize)
	}
	if !withPVs {
		return vg, nil
	}
	pvs, err := c.report(ctx, "pvs", "pv_name,vg_name,pe_start")
	if err != nil {
		return nil, fmt.Errorf("reading physical volumes of %s: %w", name, err)
	}
	for _, r := range pvs {
		if r[1] != name {
			continue
		}
		start, err := parseInt("pvs", "pe_start", r[2])
		if err != nil {
			return nil, err
		}
		vg.PVs = append(vg.PVs, PV{Device: r[0], PEStart: start})
	}
	if len(vg.PVs) == 0 {
		return nil, fmt.Errorf("lvm: volume group %s has no physical volume visible here", name)
	}
	return vg, nil
}

// Exists reports whether vg/name exists. A missing VG is an error.
func (c *Client) Exists(ctx context.Context, vg, name string) (bool, error) {
	if _, err := c.vg(ctx, vg, false); err != nil {
		return false, err
	}
	return c.exists(ctx, vg, name)
}

// exists is Exists for a VG known to exist.
func (c *Client) exists(ctx context.Context, vg, name string) (bool, error) {
	if err := checkName("logical volume", name); err != nil {
		return false, err
	}
	rows, err := c.report(ctx, "lvs", "lv_name", vg)
	if err != nil {
		return false, fmt.Errorf("listing logical volumes of %s: %w", vg, err)
	}
	for _, r := range rows {
		if r[0] == name {
			return true, nil
		}
	}
	return false, nil
}

// Create makes an inactive linear LV of at least size bytes (rounded up to
// whole extents) without zeroing it. An existing LV is an error
// (ErrLVExists), as is a VG without room (ErrNoSpace).
func (c *Client) Create(ctx context.Context, vg, name string, size int64) error {
	if size <= 0 {
		return fmt.Errorf("lvm: creating %s/%s: size %d bytes", vg, name, size)
	}
	info, err := c.vg(ctx, vg, false)
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", vg, name, err)
	}
	exists, err := c.exists(ctx, vg, name)
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", vg, name, err)
	}
	if exists {
		return fmt.Errorf("creating %s/%s: %w (remove it or pass --force)", vg, name, ErrLVExists)
	}
	extents := (size + info.ExtentSize - 1) / info.ExtentSize
	if need := extents * info.ExtentSize; need > info.Free {
		return fmt.Errorf("creating %s/%s: %w: %s needed, %s free", vg, name, ErrNoSpace, human(need), human(info.Free))
	}
	_, err = c.run(ctx, "lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n",
		"--type", "linear", "--extents", strconv.FormatInt(extents, 10), "--name", name, vg)
	var ce *CmdError
	if errors.As(err, &ce) && strings.Contains(ce.Stderr, "already exists") {
		return fmt.Errorf("creating %s/%s: %w (created meanwhile: %s)", vg, name, ErrLVExists, ce.Stderr)
	}
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", vg, name, err)
	}
	return nil
}

// Remove deletes vg/name's metadata (ErrLVNotFound if it does not exist).
func (c *Client) Remove(ctx context.Context, vg, name string) error {
	exists, err := c.Exists(ctx, vg, name)
	if err != nil {
		return fmt.Errorf("removing %s/%s: %w", vg, name, err)
	}
	if !exists {
		return fmt.Errorf("removing %s/%s: %w", vg, name, ErrLVNotFound)
	}
	if _, err := c.run(ctx, "lvremove", "--yes", vg+"/"+name); err != nil {
		return fmt.Errorf("removing %s/%s: %w", vg, name, err)
	}
	return nil
}

// List returns the names of vg's LVs, sorted as lvs prints them.
func (c *Client) List(ctx context.Context, vg string) ([]string, error) {
	if _, err := c.vg(ctx, vg, false); err != nil {
		return nil, err
	}
	rows, err := c.report(ctx, "lvs", "lv_name", vg)
	if err != nil {
		return nil, fmt.Errorf("listing logical volumes of %s: %w", vg, err)
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r[0]
	}
	return names, nil
}

// Rename renames vg/from to vg/to (lvrename: metadata only, the data stays
// where it is; it works without device-mapper). A missing from is
// ErrLVNotFound, an existing to ErrLVExists.
func (c *Client) Rename(ctx context.Context, vg, from, to string) error {
	if err := checkName("logical volume", to); err != nil {
		return err
	}
	names, err := c.List(ctx, vg)
	if err != nil {
		return fmt.Errorf("renaming %s/%s: %w", vg, from, err)
	}
	var haveFrom, haveTo bool
	for _, n := range names {
		haveFrom = haveFrom || n == from
		haveTo = haveTo || n == to
	}
	if !haveFrom {
		return fmt.Errorf("renaming %s/%s: %w", vg, from, ErrLVNotFound)
	}
	if haveTo {
		return fmt.Errorf("renaming %s/%s to %s: %w", vg, from, to, ErrLVExists)
	}
	if _, err := c.run(ctx, "lvrename", vg, from, to); err != nil {
		return fmt.Errorf("renaming %s/%s to %s: %w", vg, from, to, err)
	}
	return nil
}

// human prints a byte count in MiB or GiB.
func human(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// VG calls Default.VG.
func VG(ctx context.Context, name string) (*VGInfo, error) { return Default.VG(ctx, name) }

// Exists calls Default.Exists.
func Exists(ctx context.Context, vg, name string) (bool, error) { return Default.Exists(ctx, vg, name) }

// Create calls Default.Create.
func Create(ctx context.Context, vg, name string, size int64) error {
	return Default.Create(ctx, vg, name, size)
}

// Remove calls Default.Remove.
func Remove(ctx context.Context, vg, name string) error { return Default.Remove(ctx, vg, name) }

// Open calls Default.Open.
func Open(ctx context.Context, vg, name string, flag int) (*Volume, error) {
	return Default.Open(ctx, vg, name, flag)
}
