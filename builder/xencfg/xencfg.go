// Package xencfg writes Xen domain configuration files for a paravirtual
// guest, in the two syntaxes Xen's toolstacks read:
//
//   - XL, xl.cfg(5) for Xen 4.x's xl: "key = value" lines whose values are
//     numbers, quoted strings or lists of strings. Disks use the key=value
//     form of xl-disk-configuration ("format=raw, vdev=xvda1, access=rw,
//     target=/path"), with target last so a path may hold commas; xl finds
//     out itself whether the target is a file or a block device.
//   - XM, the Xen 2.0/3.x xm domain file, which xm executes as Python: the
//     same keys, plus nics, and disks as "phy:DEV,VDEV,MODE" or
//     "file:PATH,VDEV,MODE".
//
// Every string is quoted and escaped, so a name or path holding quotes or
// backslashes cannot break out of its string; control characters are
// refused, and so is non-ASCII text in XM files (xm's Python 2 rejects a
// non-ASCII source without an encoding line). The output depends only on
// the Config: keys come in a fixed order, lists in the caller's order.
//
// Not supported: HVM or PVH guests, PCI passthrough, vfb/vkb/console
// devices, on_* actions, and reading configuration files back.
package xencfg

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Toolstack selects the file syntax.
type Toolstack string

const (
	XL Toolstack = "xl" // Xen 4.x xl.cfg(5)
	XM Toolstack = "xm" // Xen 2.0 / 3.x xm (Python)
)

// DiskKind says how an XM file names a disk's backend. XL files do not need
// it.
type DiskKind int

const (
	// Auto picks Phy for a target under /dev/ and File otherwise.
	Auto DiskKind = iota
	// File is an image file, attached through a loop device ("file:").
	File
	// Phy is a block device such as an LVM volume /dev/VG/LV ("phy:").
	Phy
)

// Disk is one virtual block device.
type Disk struct {
	Target   string   // dom0 path: image file or block device (/dev/VG/LV)
	Kind     DiskKind // backend for XM files
	VDev     string   // guest device name: xvda1, sda1, hda1 …
	ReadOnly bool     // attach read-only
}

// VIF is one virtual network interface.
type VIF struct {
	MAC    string // six colon-separated hex bytes; empty lets Xen choose
	Bridge string // dom0 bridge: xenbr0, or xen-br0 on Xen 2.0
}

// Config is a paravirtual domain.
type Config struct {
	Name       string // domain name
	Kernel     string // dom0 path of the guest kernel (or set Bootloader)
	Ramdisk    string // dom0 path of the initrd; optional
	Bootloader string // e.g. "pygrub": the kernel is read from the guest disk
	Memory     int    // MiB
	VCPUs      int    // 0 leaves the toolstack default (1)
	Root       string // kernel root= argument, e.g. "/dev/xvda1 ro"
	Extra      string // more kernel command line, e.g. "net.ifnames=0"
	Disks      []Disk
	VIFs       []VIF
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("xencfg: invalid config")

var (
	vdevRE = regexp.MustCompile(`^[a-z]+[0-9]*$`)
	macRE  = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)
	// bridgeRE keeps a bridge name out of the vif spec's separators.
	bridgeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// validate checks c for toolstack ts.
func (c *Config) validate(ts Toolstack) error {
	if ts != XL && ts != XM {
		return invalid("toolstack %q (want xl or xm)", ts)
	}
	if c.Name == "" {
		return invalid("empty domain name")
	}
	if c.Memory <= 0 {
		return invalid("domain %q: memory %d MiB, want more than 0", c.Name, c.Memory)
	}
	if c.VCPUs < 0 {
		return invalid("domain %q: %d vcpus", c.Name, c.VCPUs)
	}
	if (c.Kernel == "") == (c.Bootloader == "") {
		return invalid("domain %q: set exactly one of kernel and bootloader", c.Name)
	}
	for _, f := range []struct{ what, v string }{
		{"name", c.Name}, {"kernel", c.Kernel}, {"ramdisk", c.Ramdisk},
		{"bootloader", c.Bootloader}, {"root", c.Root}, {"extra", c.Extra},
	} {
		if err := checkText(ts, f.what, f.v); err != nil {
			return fmt.Errorf("domain %q: %w", c.Name, err)
		}
	}
	seen := map[string]bool{}
	for i, d := range c.Disks {
		if d.Target == "" {
			return invalid("domain %q: disk %d: empty target", c.Name, i)
		}
		if err := checkText(ts, "disk target", d.Target); err != nil {
			return fmt.Errorf("domain %q: disk %d: %w", c.Name, i, err)
		}
		if ts == XM && strings.ContainsRune(d.Target, ',') {
			return invalid("domain %q: disk %d: xm cannot take a comma in target %q", c.Name, i, d.Target)
		}
		if !vdevRE.MatchString(d.VDev) {
			return invalid("domain %q: disk %d: virtual device %q (want a name like xvda1 or sda1)", c.Name, i, d.VDev)
		}
		if seen[d.VDev] {
			return invalid("domain %q: virtual device %s used twice", c.Name, d.VDev)
		}
		seen[d.VDev] = true
		if d.Kind < Auto || d.Kind > Phy {
			return invalid("domain %q: disk %d: unknown kind %d", c.Name, i, d.Kind)
		}
	}
	for i, v := range c.VIFs {
		if v.MAC != "" && !macRE.MatchString(v.MAC) {
			return invalid("domain %q: vif %d: MAC %q (want six colon-separated hex bytes)", c.Name, i, v.MAC)
		}
		if v.Bridge != "" && !bridgeRE.MatchString(v.Bridge) {
			return invalid("domain %q: vif %d: bridge %q (want up to 15 of [A-Za-z0-9_.-])", c.Name, i, v.Bridge)
		}
	}
	return nil
}

func checkText(ts Toolstack, what, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s %q: invalid UTF-8", what, s)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("%s %q: control character at byte %d", what, s, i)
		}
		if r >= 0x80 && ts == XM {
			return invalid("%s %q: non-ASCII character at byte %d (xm reads ASCII only)", what, s, i)
		}
	}
	return nil
}

// quote returns s as a string literal both xl's parser and Python read
// back as s: backslash and the quote character are escaped.
func quote(s string, q byte) string {
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == q {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(q)
	return b.String()
}

func (d Disk) kind() DiskKind {
	if d.Kind != Auto {
		return d.Kind
	}
	if strings.HasPrefix(d.Target, "/dev/") {
		return Phy
	}
	return File
}

// spec returns the disk's string in the toolstack's syntax.
func (d Disk) spec(ts Toolstack) string {
	if ts == XL {
		access := "rw"
		if d.ReadOnly {
			access = "ro"
		}
		return "format=raw, vdev=" + d.VDev + ", access=" + access + ", target=" + d.Target
	}
	prefix := "file:"
	if d.kind() == Phy {
		prefix = "phy:"
	}
	mode := "w"
	if d.ReadOnly {
		mode = "r"
	}
	return prefix + d.Target + "," + d.VDev + "," + mode
}

func (v VIF) spec(ts Toolstack) string {
	var parts []string
	if v.MAC != "" {
		parts = append(parts, "mac="+strings.ToLower(v.MAC))
	}
	if v.Bridge != "" {
		parts = append(parts, "bridge="+v.Bridge)
	}
	sep := ","
	if ts == XM {
		sep = ", "
	}
	return strings.Join(parts, sep)
}

// Render returns the domain file for toolstack ts.
func Render(c Config, ts Toolstack) ([]byte, error) {
	if err := c.validate(ts); err != nil {
		return nil, err
	}
	var b strings.Builder
	str := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s = %s\n", k, quote(v, '"'))
		}
	}
	num := func(k string, v int) { fmt.Fprintf(&b, "%s = %d\n", k, v) }
	list := func(k string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s = [\n", k)
		for _, it := range items {
			fmt.Fprintf(&b, "    %s,\n", quote(it, '\''))
		}
		b.WriteString("]\n")
	}
	if ts == XM {
		fmt.Fprintf(&b, "# Xen domain %s for xm (Xen 2.0/3.x); xm reads this file as Python.\n\n", c.Name)
	} else {
		fmt.Fprintf(&b, "# Xen domain %s for xl, see xl.cfg(5).\n\n", c.Name)
	}
	str("name", c.Name)
	if ts == XL {
		str("type", "pv")
	}
	str("bootloader", c.Bootloader)
	str("kernel", c.Kernel)
	str("ramdisk", c.Ramdisk)
	num("memory", c.Memory)
	if c.VCPUs > 0 {
		num("vcpus", c.VCPUs)
	}
	str("root", c.Root)
	str("extra", c.Extra)
	b.WriteByte('\n')
	disks := make([]string, len(c.Disks))
	for i, d := range c.Disks {
		disks[i] = d.spec(ts)
	}
	list("disk", disks)
	if ts == XM && len(c.VIFs) > 0 {
		num("nics", len(c.VIFs))
	}
	vifs := make([]string, len(c.VIFs))
	for i, v := range c.VIFs {
		vifs[i] = v.spec(ts)
	}
	list("vif", vifs)
	return []byte(b.String()), nil
}

// MAC returns a locally chosen Xen MAC address derived from seed: Xen's
// OUI 00:16:3e followed by three bytes of SHA-256(seed), the first with its
// top bit clear as xl does for the addresses it makes up. Equal seeds give
// equal addresses; callers check collisions.
func MAC(seed []byte) string {
	h := sha256.Sum256(seed)
	return net.HardwareAddr{0x00, 0x16, 0x3e, h[0] & 0x7f, h[1], h[2]}.String()
}

// ParseToolstack accepts "xl" or "xm".
func ParseToolstack(s string) (Toolstack, error) {
	switch Toolstack(s) {
	case XL, XM:
		return Toolstack(s), nil
	}
	return "", invalid("toolstack %s (want xl or xm)", strconv.Quote(s))
}
