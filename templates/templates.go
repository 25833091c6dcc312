// Package templates renders the files under a Debian guest's /etc that
// identify and connect it: fstab, hostname, hosts, mailname,
// network/interfaces, apt/sources.list and resolv.conf. The text lives in
// etc/*.tmpl (text/template, embedded); Render fills it from Data and
// returns paths relative to the root ("etc/fstab") with their contents.
// The output depends only on Data.
//
// What differs between old and new suites, chosen from Data.Codename:
//
//   - fstab: sarge … wheezy (sysvinit) get the classic
//     "proc /proc proc defaults 0 0" line. /sys and /dev/pts need no line
//     on any suite: sarge's initscripts (mountvirtfs) and systemd mount
//     them. Suites from jessie on (systemd) get no proc line either.
//     UUID= specs are written only when Data.UseUUID is set; otherwise the
//     device names (/dev/sda1, /dev/xvda1) are used, as the 2005 setup did.
//   - network/interfaces: always the netmask form, which every ifupdown
//     reads. Old suites also get network and broadcast lines (derived from
//     the address and netmask when not given); from jessie on they are
//     written only when given, and the file sources interfaces.d.
//   - hosts: the IPv6 block only from jessie on.
//   - sources.list: the security line is "CODENAME/updates" up to buster
//     and "CODENAME-security" under /debian-security from bullseye on.
//
// Not supported: IPv6 addresses on the interface, systemd-networkd or
// netplan, deb822 .sources files, and suites without a security archive
// (sid, experimental) when Security is set.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"text/template"
)

//go:embed etc
var files embed.FS

// Host is a machine named in /etc/hosts.
type Host struct {
	Hostname string
	IP       string // IPv4, dotted quad
}

// Data describes one guest.
type Data struct {
	Hostname string // a host name label: letters, digits, hyphens
	Domain   string // DNS domain; optional

	Interface string // network interface; "" means eth0
	// Static IPv4 configuration. An empty IP means DHCP.
	IP        string
	Netmask   string // dotted quad, e.g. 255.255.255.0
	Gateway   string // optional
	Network   string // optional; derived for old suites
	Broadcast string // optional; derived for old suites

	Nameservers []string // resolv.conf; none and no Domain: no resolv.conf

	Master Host   // the cluster's master; optional
	Slaves []Host // every slave, this one included or not

	Mirror         string   // http(s)://, ftp:// or file:// URL of the archive
	Codename       string   // sarge … trixie, forky, sid
	Components     []string // "" means main
	Security       bool     // add the security archive line
	SecurityMirror string   // "" means http://security.debian.org[/debian-security]

	Filesystem string // root file system type: ext2 or ext3
	RootDevice string // e.g. /dev/sda1 or /dev/xvda1
	SwapDevice string // e.g. /dev/sda2; "" means no swap line
	UseUUID    bool   // write UUID= specs instead of device names
	RootUUID   string // filesystem UUID of the root, needed with UseUUID
	SwapUUID   string // UUID of the swap area; with UseUUID, set means a swap line
}

// ErrInvalid is wrapped by every error about Data.
var ErrInvalid = errors.New("templates: invalid data")

// codenames in release order; the index is used for the era decisions.
var codenames = []string{
	"sarge", "etch", "lenny", "squeeze", "wheezy", "jessie", "stretch",
	"buster", "bullseye", "bookworm", "trixie", "forky", "duke",
}

const (
	firstSystemd  = "jessie"   // first suite whose default init is systemd
	firstSecurity = "bullseye" // first suite with CODENAME-security
)

func release(codename string) (int, bool) {
	if codename == "sid" || codename == "unstable" {
		return len(codenames), true
	}
	i := slices.Index(codenames, codename)
	return i, i >= 0
}

// view is what the templates see.
type view struct {
	Data
	Modern       bool
	DHCP         bool
	FQDN         string
	RootSpec     string
	SwapSpec     string
	HostEntries  []hostEntry
	SecurityLine string
}

type hostEntry struct {
	IP    string
	Names []string
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// ValidHostname reports whether s is a valid host name label (RFC 1123:
// 1 to 63 letters, digits and hyphens, not starting or ending with a
// hyphen).
func ValidHostname(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !ValidHostname(l) {
			return false
		}
	}
	return true
}

func ipv4(what, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, invalid("%s %q is not an IPv4 address", what, s)
	}
	return a, nil
}

// plain rejects text that would break a line-oriented file.
func plain(what, s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n#\x00") {
		return invalid("%s %q: empty, or holds whitespace or '#'", what, s)
	}
	return nil
}

func (d Data) view() (*view, error) {
	v := &view{Data: d}
	if !ValidHostname(d.Hostname) {
		return nil, invalid("host name %q (want 1-63 letters, digits or hyphens, no hyphen at either end)", d.Hostname)
	}
	if d.Domain != "" && !validDomain(d.Domain) {
		return nil, invalid("domain %q", d.Domain)
	}
	rel, ok := release(d.Codename)
	if !ok {
		return nil, invalid("unknown codename %q (known: %s, sid)", d.Codename, strings.Join(codenames, ", "))
	}
	sysd, _ := release(firstSystemd)
	v.Modern = rel >= sysd

	v.FQDN = d.Hostname
	if d.Domain != "" {
		v.FQDN = d.Hostname + "." + d.Domain
	}
	if v.Interface == "" {
		v.Interface = "eth0"
	}
	if err := plain("interface", v.Interface); err != nil {
		return nil, err
	}

	// Network.
	v.DHCP = d.IP == ""
	if v.DHCP {
		if d.Netmask != "" || d.Gateway != "" || d.Network != "" || d.Broadcast != "" {
			return nil, invalid("netmask, gateway, network or broadcast given without an IP address (DHCP)")
		}
	} else {
		ip, err := ipv4("IP", d.IP)
		if err != nil {
			return nil, err
		}
		mask, err := ipv4("netmask", d.Netmask)
		if err != nil {
			return nil, err
		}
		m := mask.As4()
		bits := 0
		for bits < 32 && m[bits/8]&(0x80>>(bits%8)) != 0 {
			bits++
		}
		if maskOf(bits) != mask {
			return nil, invalid("netmask %s is not contiguous", d.Netmask)
		}
		pfx := netip.PrefixFrom(ip, bits).Masked()
		if d.Gateway != "" {
			gw, err := ipv4("gateway", d.Gateway)
			if err != nil {
				return nil, err
			}
			if !pfx.Contains(gw) {
				return nil, invalid("gateway %s is outside %s", gw, pfx)
			}
		}
		for _, f := range []struct{ what, s string }{{"network", d.Network}, {"broadcast", d.Broadcast}} {
			if f.s != "" {
				if _, err := ipv4(f.what, f.s); err != nil {
					return nil, err
				}
			}
		}
		if !v.Modern {
			if v.Network == "" {
				v.Network = pfx.Addr().String()
			}
			if v.Broadcast == "" {
				b := pfx.Addr().As4()
				for i := range 4 {
					b[i] |= ^m[i]
				}
				v.Broadcast = netip.AddrFrom4(b).String()
			}
		}
	}
	for _, ns := range d.Nameservers {
		if a, err := netip.ParseAddr(ns); err != nil || a.Zone() != "" {
			return nil, invalid("nameserver %q is not an IP address", ns)
		}
	}

	// /etc/hosts: this host, then the master, then the slaves; a name is
	// listed once, and an address twice only if the input says so.
	self := "127.0.1.1"
	if !v.DHCP {
		self = d.IP
	}
	names := []string{d.Hostname}
	if d.Domain != "" {
		names = []string{v.FQDN, d.Hostname}
	}
	v.HostEntries = append(v.HostEntries, hostEntry{self, names})
	seen := map[string]bool{d.Hostname: true}
	owner := map[string]string{self: d.Hostname}
	others := append([]Host(nil), d.Slaves...)
	if d.Master != (Host{}) {
		others = append([]Host{d.Master}, others...)
	}
	for i, h := range others {
		if !ValidHostname(h.Hostname) {
			return nil, invalid("hosts entry %d: host name %q", i, h.Hostname)
		}
		if _, err := ipv4("hosts entry "+h.Hostname+" address", h.IP); err != nil {
			return nil, err
		}
		if seen[h.Hostname] {
			if h.Hostname == d.Hostname && !v.DHCP && h.IP != d.IP {
				return nil, invalid("hosts entry %s has IP %s, but this host's IP is %s", h.Hostname, h.IP, d.IP)
			}
			continue
		}
		if o, ok := owner[h.IP]; ok {
			return nil, invalid("hosts: %s and %s both have IP %s", o, h.Hostname, h.IP)
		}
		seen[h.Hostname] = true
		owner[h.IP] = h.Hostname
		v.HostEntries = append(v.HostEntries, hostEntry{h.IP, []string{h.Hostname}})
	}

	// sources.list.
	if err := checkURL("mirror", d.Mirror); err != nil {
		return nil, err
	}
	if len(v.Components) == 0 {
		v.Components = []string{"main"}
	}
	for _, c := range v.Components {
		if err := plain("component", c); err != nil {
			return nil, err
		}
	}
	if d.Security {
		if rel == len(codenames) {
			return nil, invalid("%s has no security archive; unset Security", d.Codename)
		}
		sec, _ := release(firstSecurity)
		m := d.SecurityMirror
		if m != "" {
			if err := checkURL("security mirror", m); err != nil {
				return nil, err
			}
		}
		comps := strings.Join(v.Components, " ")
		if rel >= sec {
			if m == "" {
				m = "http://security.debian.org/debian-security"
			}
			v.SecurityLine = fmt.Sprintf("deb %s %s-security %s", m, d.Codename, comps)
		} else {
			if m == "" {
				m = "http://security.debian.org/"
				if stretch, _ := release("stretch"); rel >= stretch {
					m = "http://security.debian.org/debian-security"
				}
			}
			v.SecurityLine = fmt.Sprintf("deb %s %s/updates %s", m, d.Codename, comps)
		}
	}

	// fstab.
	if d.Filesystem != "ext2" && d.Filesystem != "ext3" {
		return nil, invalid("filesystem %q (want ext2 or ext3)", d.Filesystem)
	}
	if d.UseUUID {
		if err := checkUUID("root UUID", d.RootUUID); err != nil {
			return nil, err
		}
		v.RootSpec = "UUID=" + strings.ToLower(d.RootUUID)
		if d.SwapDevice != "" || d.SwapUUID != "" {
			if err := checkUUID("swap UUID", d.SwapUUID); err != nil {
				return nil, err
			}
			v.SwapSpec = "UUID=" + strings.ToLower(d.SwapUUID)
		}
	} else {
		if !strings.HasPrefix(d.RootDevice, "/dev/") || plain("root device", d.RootDevice) != nil {
			return nil, invalid("root device %q (want /dev/NAME)", d.RootDevice)
		}
		v.RootSpec = d.RootDevice
		if d.SwapDevice != "" {
			if !strings.HasPrefix(d.SwapDevice, "/dev/") || plain("swap device", d.SwapDevice) != nil {
				return nil, invalid("swap device %q (want /dev/NAME)", d.SwapDevice)
			}
			v.SwapSpec = d.SwapDevice
		}
	}
	return v, nil
}

// maskOf returns the IPv4 netmask of a prefix length.
func maskOf(bits int) netip.Addr {
	var m [4]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m)
}

func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || plain(what, s) != nil {
		return invalid("%s %q is not a URL without spaces", what, s)
	}
	switch u.Scheme {
	case "http", "https", "ftp", "file":
		return nil
	}
	return invalid("%s %q: scheme %q (want http, https, ftp or file)", what, s, u.Scheme)
}

func checkUUID(what, s string) error {
	if len(s) != 36 {
		return invalid("%s %q (want 8-4-4-4-12 hex digits)", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		dash := i == 8 || i == 13 || i == 18 || i == 23
		hex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if dash != (c == '-') || !dash && !hex {
			return invalid("%s %q (want 8-4-4-4-12 hex digits)", what, s)
		}
	}
	return nil
}

var funcs = template.FuncMap{"join": strings.Join}

// Render returns the /etc files for d, keyed by their path relative to the
// root file system ("etc/hostname"). resolv.conf is left out when there is
// neither a nameserver nor a domain (DHCP writes it).
func Render(d Data) (map[string][]byte, error) {
	v, err := d.view()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	err = fs.WalkDir(files, "etc", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return err
		}
		name := strings.TrimSuffix(p, ".tmpl")
		if name == "etc/resolv.conf" && len(d.Nameservers) == 0 && d.Domain == "" {
			return nil
		}
		text, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Funcs(funcs).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("parsing template %s: %w", p, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, v); err != nil {
			return fmt.Errorf("rendering %s: %w", p, err)
		}
		out[name] = b.Bytes()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return out, nil
}

// Names returns the paths Render can produce, sorted.
func Names() []string {
	var names []string
	fs.WalkDir(files, "etc", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".tmpl") {
			names = append(names, strings.TrimSuffix(p, ".tmpl"))
		}
		return nil
	})
	slices.Sort(names)
	return names
}
