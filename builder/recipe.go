package builder

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/xenimg/xenimg/builder/debootstrap"
)

// Recipe is a parsed, validated recipe file (see DESIGN.md for each key).
type Recipe struct {
	Name    string        `toml:"name"`
	Suite   SuiteSection  `toml:"suite"`
	Image   ImageSection  `toml:"image"`
	System  SystemSection `toml:"system"`
	Network NetSection    `toml:"network"`
	Xen     XenSection    `toml:"xen"`
	Clone   CloneSection  `toml:"clone"`

	// Path is the file the recipe was read from; Digest is the SHA-256 of
	// its bytes (hex).
	Path   string `toml:"-"`
	Digest string `toml:"-"`

	raw []byte // the file's bytes, copied beside the template

	lines keyLines
}

// SuiteSection says which Debian to install.
type SuiteSection struct {
	Codename         string   `toml:"codename"`
	Arch             string   `toml:"arch"`
	Mirror           string   `toml:"mirror"`
	Components       []string `toml:"components"`
	Variant          string   `toml:"variant"`
	Include          []string `toml:"include"`
	Exclude          []string `toml:"exclude"`
	Keyring          string   `toml:"keyring"`
	AllowExpiredKeys bool     `toml:"allow_expired_keys"`
	// SourcesMirror is the mirror the guest's sources.list names, when it
	// differs from the one the build uses (a dom0 serving `xenimg mirror`).
	SourcesMirror string `toml:"sources_mirror"`
}

// ImageSection says what images to write.
type ImageSection struct {
	Size       string `toml:"size"`
	Swap       string `toml:"swap"`
	Filesystem string `toml:"filesystem"`
	InodeSize  int    `toml:"inode_size"`
	Configure  string `toml:"configure"`

	SizeBytes int64 `toml:"-"`
	SwapBytes int64 `toml:"-"`
}

// SystemSection configures the guest.
type SystemSection struct {
	Hostname         string `toml:"hostname"`
	RootPassword     string `toml:"root_password"`
	RootPasswordHash string `toml:"root_password_hash"`
	DisableTLS       *bool  `toml:"disable_tls"`
}

// Host is a name and an address.
type Host struct {
	Hostname string `toml:"hostname"`
	IP       string `toml:"ip"`
}

// NetSection is the cluster network.
type NetSection struct {
	Subnet      string   `toml:"subnet"`
	Gateway     string   `toml:"gateway"`
	Nameservers []string `toml:"nameservers"`
	Master      Host     `toml:"master"`
	FirstIP     string   `toml:"first_ip"`
	Interface   string   `toml:"interface"`
}

// XenSection is the domain configuration.
type XenSection struct {
	Toolstack  string `toml:"toolstack"`
	Kernel     string `toml:"kernel"`
	Ramdisk    string `toml:"ramdisk"`
	Bootloader string `toml:"bootloader"`
	Memory     int    `toml:"memory"` // MiB
	VCPUs      int    `toml:"vcpus"`
	Bridge     string `toml:"bridge"`
	RootDevice string `toml:"root_device"`
	SwapDevice string `toml:"swap_device"`
	Extra      string `toml:"extra"`
}

// CloneSection names the slaves.
type CloneSection struct {
	Hostname   string `toml:"hostname"`
	RootVolume string `toml:"root_volume"`
	SwapVolume string `toml:"swap_volume"`
	Target     string `toml:"target"`
}

// RecipeError is a problem in a recipe, located by file and line.
type RecipeError struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. "suite.codename"
	Err  error
}

func (e *RecipeError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *RecipeError) Unwrap() error { return e.Err }

// LoadRecipe reads, decodes strictly, defaults and validates a recipe.
func LoadRecipe(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading recipe: %w", err)
	}
	return ParseRecipe(path, data)
}

// ParseRecipe is LoadRecipe on bytes already read; path names them in errors.
func ParseRecipe(path string, data []byte) (*Recipe, error) {
	r := &Recipe{Path: path}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, tomlError(path, err)
	}
	sum := sha256.Sum256(data)
	r.Digest = hex.EncodeToString(sum[:])
	r.raw = append([]byte(nil), data...)
	r.lines = scanKeyLines(data)
	r.setDefaults()
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func tomlError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var errs []error
		for i := range strict.Errors {
			de := &strict.Errors[i]
			row, _ := de.Position()
			errs = append(errs, &RecipeError{File: path, Line: row, Key: strings.Join(de.Key(), "."), Err: errors.New("unknown key")})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &RecipeError{File: path, Line: row, Key: strings.Join(de.Key(), "."), Err: errors.New(strings.TrimPrefix(de.Error(), "toml: "))}
	}
	return &RecipeError{File: path, Err: err}
}

func (r *Recipe) setDefaults() {
	s := &r.Suite
	if s.Mirror == "" {
		s.Mirror = "http://deb.debian.org/debian"
	}
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
	if s.Variant == "" {
		s.Variant = "important"
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	im := &r.Image
	if im.Size == "" {
		im.Size = "1GiB"
	}
	if im.Swap == "" {
		im.Swap = "64MiB"
	}
	if im.Filesystem == "" {
		im.Filesystem = "ext3"
	}
	if im.InodeSize == 0 {
		im.InodeSize = 256
	}
	if im.Configure == "" {
		im.Configure = "auto"
	}
	if r.System.Hostname == "" {
		r.System.Hostname = "template"
	}
	if r.System.DisableTLS == nil {
		t := true
		r.System.DisableTLS = &t
	}
	n := &r.Network
	if n.Interface == "" {
		n.Interface = "eth0"
	}
	x := &r.Xen
	if x.Toolstack == "" {
		x.Toolstack = "xl"
	}
	if x.Memory == 0 {
		x.Memory = 256
	}
	if x.VCPUs == 0 {
		x.VCPUs = 1
	}
	if x.Bridge == "" {
		x.Bridge = "xenbr0"
	}
	if x.RootDevice == "" {
		x.RootDevice = "xvda1"
	}
	if x.SwapDevice == "" {
		x.SwapDevice = "xvda2"
	}
	if x.Kernel == "" && x.Bootloader == "" {
		x.Kernel = "/boot/vmlinuz-xen"
	}
	c := &r.Clone
	if c.Hostname == "" {
		c.Hostname = "slave{n}"
	}
	if c.RootVolume == "" {
		c.RootVolume = r.Name + "-slave{n}-root"
	}
	if c.SwapVolume == "" {
		c.SwapVolume = r.Name + "-slave{n}-swap"
	}
	if c.Target == "" {
		c.Target = "dir"
	}
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	pkgRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	volumeRE   = regexp.MustCompile(`^[A-Za-z0-9+_.-]+$`)
	ifaceRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	deviceRE   = regexp.MustCompile(`^[a-z]+[0-9]*$`)
	cryptRE    = regexp.MustCompile(`^\$[0-9a-z]+\$[./A-Za-z0-9$=,]+$`)
	tomlKeyRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// ValidHostname reports whether h is a valid RFC 1123 host name label.
func ValidHostname(h string) bool { return hostnameRE.MatchString(h) }

func (r *Recipe) fail(key string, format string, args ...any) error {
	return &RecipeError{File: r.Path, Line: r.lines.line(key), Key: key, Err: fmt.Errorf(format, args...)}
}

func (r *Recipe) validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if r.Name == "" {
		add(r.fail("name", "missing: the recipe needs a name (it names out/<name>/)"))
	} else if !nameRE.MatchString(r.Name) {
		add(r.fail("name", "%q is not a valid name: use letters, digits, '.', '_' and '-'", r.Name))
	}
	s := &r.Suite
	_, ok := debootstrap.LookupSuite(s.Codename)
	switch {
	case s.Codename == "":
		add(r.fail("suite.codename", "missing (known: %s)", strings.Join(debootstrap.Codenames(), ", ")))
	case !ok:
		add(r.fail("suite.codename", "unknown codename %q (known: %s)", s.Codename, strings.Join(debootstrap.Codenames(), ", ")))
	}
	if !debootstrap.KnownArch(s.Arch) {
		add(r.fail("suite.arch", "unknown architecture %q", s.Arch))
	}
	if !(strings.HasPrefix(s.Mirror, "http://") || strings.HasPrefix(s.Mirror, "https://") || strings.HasPrefix(s.Mirror, "file://")) {
		add(r.fail("suite.mirror", "%q: a mirror is an http://, https:// or file:// URL", s.Mirror))
	}
	if m := s.SourcesMirror; m != "" && !(strings.HasPrefix(m, "http://") || strings.HasPrefix(m, "https://") || strings.HasPrefix(m, "file://") || strings.HasPrefix(m, "ftp://")) {
		add(r.fail("suite.sources_mirror", "%q: a mirror is an http://, https://, ftp:// or file:// URL", m))
	}
	if !contains(debootstrap.Variants, s.Variant) {
		add(r.fail("suite.variant", "unknown variant %q (known: %s)", s.Variant, strings.Join(debootstrap.Variants, ", ")))
	}
	for _, c := range s.Components {
		if !volumeRE.MatchString(c) {
			add(r.fail("suite.components", "invalid component %q", c))
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"suite.include", s.Include}, {"suite.exclude", s.Exclude}} {
		for _, p := range list.names {
			if !pkgRE.MatchString(p) {
				add(r.fail(list.key, "%q is not a Debian package name", p))
			}
		}
	}

	im := &r.Image
	var err error
	if im.SizeBytes, err = ParseSize(im.Size); err != nil {
		add(r.fail("image.size", "%v", err))
	} else if im.SizeBytes < 8<<20 {
		add(r.fail("image.size", "%s is too small for a root filesystem (at least 8MiB)", im.Size))
	}
	if im.SwapBytes, err = ParseSize(im.Swap); err != nil {
		add(r.fail("image.swap", "%v", err))
	} else if im.SwapBytes != 0 && im.SwapBytes < 40<<10 {
		add(r.fail("image.swap", "%s is too small for swap (at least 40KiB, or 0 for none)", im.Swap))
	}
	if im.Filesystem != "ext2" && im.Filesystem != "ext3" {
		add(r.fail("image.filesystem", "%q: use ext2 or ext3", im.Filesystem))
	}
	if im.InodeSize != 128 && im.InodeSize != 256 {
		add(r.fail("image.inode_size", "%d: use 128 (sarge-era kernels) or 256", im.InodeSize))
	}
	if !contains([]string{"auto", "chroot", "firstboot", "none"}, im.Configure) {
		add(r.fail("image.configure", "%q: use auto, chroot, firstboot or none", im.Configure))
	}

	sys := &r.System
	if !ValidHostname(sys.Hostname) {
		add(r.fail("system.hostname", "%q is not a valid host name (RFC 1123: letters, digits and '-')", sys.Hostname))
	}
	if sys.RootPassword != "" && sys.RootPasswordHash != "" {
		add(r.fail("system.root_password_hash", "set root_password or root_password_hash, not both"))
	}
	if h := sys.RootPasswordHash; h != "" && !cryptRE.MatchString(h) {
		add(r.fail("system.root_password_hash", "%q is not a crypt(3) hash like $6$salt$hash", h))
	}

	errs = append(errs, r.validateNetwork()...)

	x := &r.Xen
	if x.Toolstack != "xl" && x.Toolstack != "xm" {
		add(r.fail("xen.toolstack", "%q: use xl or xm", x.Toolstack))
	}
	if x.Kernel != "" && x.Bootloader != "" {
		add(r.fail("xen.bootloader", "set kernel or bootloader, not both"))
	}
	if x.Memory < 16 {
		add(r.fail("xen.memory", "%d MiB is too little for a guest", x.Memory))
	}
	if x.VCPUs < 1 || x.VCPUs > 512 {
		add(r.fail("xen.vcpus", "%d: use 1 to 512", x.VCPUs))
	}
	for _, kv := range [][2]string{{"xen.root_device", x.RootDevice}, {"xen.swap_device", x.SwapDevice}} {
		if !deviceRE.MatchString(kv[1]) {
			add(r.fail(kv[0], "%q is not a device name like xvda1 or sda1", kv[1]))
		}
	}
	if !ifaceRE.MatchString(x.Bridge) {
		add(r.fail("xen.bridge", "%q is not a bridge name", x.Bridge))
	}

	c := &r.Clone
	if !strings.Contains(c.Hostname, "{n}") {
		add(r.fail("clone.hostname", "%q must contain {n} (the slave number)", c.Hostname))
	} else if h := strings.ReplaceAll(c.Hostname, "{n}", "1"); !ValidHostname(h) {
		add(r.fail("clone.hostname", "%q gives %q, which is not a valid host name (RFC 1123: letters, digits and '-', no '_')", c.Hostname, h))
	}
	for _, kv := range [][2]string{{"clone.root_volume", c.RootVolume}, {"clone.swap_volume", c.SwapVolume}} {
		if !strings.Contains(kv[1], "{n}") {
			add(r.fail(kv[0], "%q must contain {n} (the slave number)", kv[1]))
		} else if !volumeRE.MatchString(strings.ReplaceAll(kv[1], "{n}", "1")) {
			add(r.fail(kv[0], "%q is not a valid volume name", kv[1]))
		}
	}
	if c.RootVolume == c.SwapVolume {
		add(r.fail("clone.swap_volume", "must differ from root_volume"))
	}
	if c.Target != "dir" && !(strings.HasPrefix(c.Target, "lvm:") && volumeRE.MatchString(strings.TrimPrefix(c.Target, "lvm:"))) {
		add(r.fail("clone.target", "%q: use dir or lvm:VG", c.Target))
	}
	return errors.Join(errs...)
}

func (r *Recipe) validateNetwork() []error {
	n := &r.Network
	var errs []error
	if !ifaceRE.MatchString(n.Interface) {
		errs = append(errs, r.fail("network.interface", "%q is not an interface name", n.Interface))
	}
	if n.Subnet == "" {
		// No static network: DHCP in the template; clone needs a subnet.
		return errs
	}
	pfx, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !pfx.Addr().Is4() {
		return append(errs, r.fail("network.subnet", "%q is not an IPv4 subnet like 10.0.0.0/24", n.Subnet))
	}
	if pfx.Masked() != pfx {
		errs = append(errs, r.fail("network.subnet", "%q has host bits set (did you mean %s?)", n.Subnet, pfx.Masked()))
	}
	check := func(key, v string, required bool) {
		if v == "" {
			if required {
				errs = append(errs, r.fail(key, "missing (needed with network.subnet)"))
			}
			return
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			errs = append(errs, r.fail(key, "%q is not an IPv4 address", v))
			return
		}
		if !pfx.Contains(a) {
			errs = append(errs, r.fail(key, "%s is outside subnet %s", v, n.Subnet))
		}
	}
	check("network.gateway", n.Gateway, false)
	check("network.master", n.Master.IP, true)
	check("network.first_ip", n.FirstIP, true)
	for _, ns := range n.Nameservers {
		if a, err := netip.ParseAddr(ns); err != nil || !a.Is4() {
			errs = append(errs, r.fail("network.nameservers", "%q is not an IPv4 address", ns))
		}
	}
	if n.Master.Hostname == "" {
		errs = append(errs, r.fail("network.master", "missing hostname"))
	} else if !ValidHostname(n.Master.Hostname) {
		errs = append(errs, r.fail("network.master", "%q is not a valid host name", n.Master.Hostname))
	}
	return errs
}

// resolvePath makes a path in the recipe relative to the recipe's directory.
func (r *Recipe) resolvePath(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	if i := strings.LastIndex(r.Path, "/"); i >= 0 {
		return r.Path[:i+1] + p
	}
	return p
}

// Fail returns a *RecipeError for key, located at its line.
func (r *Recipe) Fail(key string, err error) error {
	return &RecipeError{File: r.Path, Line: r.lines.line(key), Key: key, Err: err}
}

// KeyringPath is the recipe's keyring, relative to the recipe file.
func (r *Recipe) KeyringPath() string { return r.resolvePath(r.Suite.Keyring) }

// ParseSize reads "1GiB", "64MiB", "512M", "1G", "4096" (bytes).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like 1GiB or 64MiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// keyLines maps dotted keys ("suite.codename") to the line defining them.
type keyLines map[string]int

func (k keyLines) line(key string) int {
	if n, ok := k[key]; ok {
		return n
	}
	if i := strings.LastIndex(key, "."); i > 0 {
		return k.line(key[:i])
	}
	return 0
}

// scanKeyLines finds where each key is set. Recipes are simple TOML:
// [table] headers and key = value lines (values may span lines).
func scanKeyLines(data []byte) keyLines {
	k := keyLines{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && !strings.HasPrefix(line, "[[") {
			if end := strings.Index(line, "]"); end > 0 {
				table = strings.TrimSpace(line[1:end])
				if _, ok := k[table]; !ok {
					k[table] = n
				}
			}
			continue
		}
		eq := strings.Index(line, "=")
		if eq <= 0 || strings.HasPrefix(line, "#") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
		if !tomlKeyRE.MatchString(key) {
			continue
		}
		if table != "" {
			key = table + "." + key
		}
		if _, ok := k[key]; !ok {
			k[key] = n
		}
	}
	return k
}
