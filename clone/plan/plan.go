// Package plan computes the identity of every slave of a cluster (host
// name, IPv4 address, Xen MAC, volume names) from the recipe's [network]
// and [clone] settings, and writes the master's cluster files: hosts,
// pvm_hosts, mpi_hosts, known_hosts, ssh_config and inventory.json.
//
// A plan is a pure function of its Input: no clock, no randomness, and
// slave n's identity depends only on the input and slaves 1..n-1, so
// growing N keeps the existing slaves as they are.
//
// Not supported: IPv6 subnets, host names with dots (a slave's name is one
// RFC 1123 label), more than one interface per slave.
package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Input is what a plan is computed from. Field comments name the recipe keys.
type Input struct {
	Cluster    string // cluster name (the recipe's name); seeds the MACs
	N          int    // number of slaves, 1..N
	Hostname   string // clone.hostname, e.g. "slave{n}"
	Subnet     string // network.subnet, e.g. "10.0.0.0/24"
	FirstIP    string // network.first_ip: slave n gets first_ip + n - 1
	Gateway    string // network.gateway; may be empty
	Master     Master // network.master
	RootVolume string // clone.root_volume, e.g. "Debian_Slave{n}_Root"
	SwapVolume string // clone.swap_volume
	Target     string // clone.target: "dir" (or empty) or "lvm:VG"
	// ReservedMACs are MACs already in use on the bridge (other domains);
	// a slave whose MAC would collide with one is rehashed.
	ReservedMACs []string
	// Slots is the mpi_hosts slot count per slave (xen.vcpus); 0 means 1.
	Slots int
}

// Master is the machine the slaves are reached from.
type Master struct {
	Hostname string // network.master.hostname
	IP       string // network.master.ip
}

// Target says where slave volumes live.
type Target struct {
	Kind string // "dir" or "lvm"
	VG   string // volume group, for Kind "lvm"
}

func (t Target) String() string {
	if t.Kind == "lvm" {
		return "lvm:" + t.VG
	}
	return t.Kind
}

// Slave is one computed slave.
type Slave struct {
	Index    int    // 1-based n
	Hostname string // e.g. "slave1"
	IP       netip.Addr
	MAC      net.HardwareAddr // 00:16:3e:xx:xx:xx
	// RootVolume and SwapVolume are the LV names (target lvm) or the file
	// names root.img / swap.img (target dir).
	RootVolume, SwapVolume string
	// RootPath and SwapPath locate the volumes: "/dev/VG/LV" for lvm,
	// "slaves/<hostname>/root.img" relative to the output directory for dir.
	RootPath, SwapPath string
}

// Plan is a validated cluster.
type Plan struct {
	Cluster   string
	Subnet    netip.Prefix
	Gateway   netip.Addr // invalid when none
	Master    Master
	MasterIP  netip.Addr
	Target    Target
	Slots     int
	Slaves    []Slave // index order, Slaves[i].Index == i+1
	FirstIP   netip.Addr
	Broadcast netip.Addr
}

// Error is a plan validation error naming the recipe key or the slave.
type Error struct {
	Field string // recipe key, e.g. "network.first_ip", or "slave 3"
	Msg   string
}

func (e *Error) Error() string { return "plan: " + e.Field + ": " + e.Msg }

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// xenOUI is XenSource's MAC prefix.
var xenOUI = [3]byte{0x00, 0x16, 0x3e}

// MaxSlaves bounds N (a /16 holds 65534 hosts).
const MaxSlaves = 1 << 16

// maxMACAttempts bounds the rehashing of a colliding MAC.
const maxMACAttempts = 64

// New validates in and computes every slave.
func New(in Input) (*Plan, error) {
	if in.Cluster == "" {
		return nil, errf("name", "cluster name is empty (it seeds the slaves' MACs)")
	}
	if in.N < 1 || in.N > MaxSlaves {
		return nil, errf("--n", "%d slaves: want 1 to %d", in.N, MaxSlaves)
	}
	p := &Plan{Cluster: in.Cluster, Master: in.Master, Slots: in.Slots}
	if p.Slots == 0 {
		p.Slots = 1
	}
	if p.Slots < 0 {
		return nil, errf("xen.vcpus", "%d slots per slave: want at least 1", in.Slots)
	}
	var err error
	if p.Target, err = ParseTarget(in.Target); err != nil {
		return nil, err
	}
	if err := p.network(in); err != nil {
		return nil, err
	}
	if !strings.Contains(in.Hostname, "{n}") {
		return nil, errf("clone.hostname", "%q has no {n}: every slave would get the same name", in.Hostname)
	}
	if err := checkHostname(in.Master.Hostname); err != nil {
		return nil, errf("network.master.hostname", "%q %v", in.Master.Hostname, err)
	}
	if p.Target.Kind == "lvm" {
		for _, v := range []struct{ key, pat string }{{"clone.root_volume", in.RootVolume}, {"clone.swap_volume", in.SwapVolume}} {
			if !strings.Contains(v.pat, "{n}") {
				return nil, errf(v.key, "%q has no {n}: every slave would get the same volume", v.pat)
			}
		}
		if in.RootVolume == in.SwapVolume {
			return nil, errf("clone.swap_volume", "%q is the same as clone.root_volume", in.SwapVolume)
		}
	}
	reserved := map[[6]byte]string{}
	for _, m := range in.ReservedMACs {
		hw, err := net.ParseMAC(m)
		if err != nil || len(hw) != 6 {
			return nil, errf("reserved MAC", "%q is not a 48-bit MAC address", m)
		}
		reserved[[6]byte(hw)] = "a reserved MAC"
	}

	for n := 1; n <= in.N; n++ {
		s := Slave{Index: n, Hostname: expand(in.Hostname, n)}
		where := fmt.Sprintf("slave %d", n)
		if err := checkLabel(s.Hostname); err != nil {
			return nil, errf(where, "host name %q (from clone.hostname %q) %v", s.Hostname, in.Hostname, err)
		}
		if strings.EqualFold(s.Hostname, in.Master.Hostname) {
			return nil, errf(where, "host name %q is the master's (network.master.hostname)", s.Hostname)
		}
		if s.IP, err = p.slaveIP(n); err != nil {
			return nil, err
		}
		if s.MAC, err = slaveMAC(in.Cluster, n, reserved); err != nil {
			return nil, errf(where, "%v", err)
		}
		reserved[[6]byte(s.MAC)] = s.Hostname
		if p.Target.Kind == "lvm" {
			s.RootVolume, s.SwapVolume = expand(in.RootVolume, n), expand(in.SwapVolume, n)
			for _, v := range []struct{ key, name string }{{"clone.root_volume", s.RootVolume}, {"clone.swap_volume", s.SwapVolume}} {
				if err := CheckLVName(v.name); err != nil {
					return nil, errf(where, "volume %q (from %s) %v", v.name, v.key, err)
				}
			}
			s.RootPath = "/dev/" + p.Target.VG + "/" + s.RootVolume
			s.SwapPath = "/dev/" + p.Target.VG + "/" + s.SwapVolume
		} else {
			s.RootVolume, s.SwapVolume = "root.img", "swap.img"
			s.RootPath = "slaves/" + s.Hostname + "/root.img"
			s.SwapPath = "slaves/" + s.Hostname + "/swap.img"
		}
		p.Slaves = append(p.Slaves, s)
	}
	// Patterns such as root "r{n}" and swap "r1{n}" can hand one name to
	// two slaves: check every name once.
	type name struct{ kind, value string }
	seen := map[name]int{}
	for _, s := range p.Slaves {
		names := []name{{"host name", strings.ToLower(s.Hostname)}}
		if p.Target.Kind == "lvm" {
			names = append(names, name{"volume", s.RootVolume}, name{"volume", s.SwapVolume})
		}
		for _, nm := range names {
			if prev, ok := seen[nm]; ok {
				return nil, errf(fmt.Sprintf("slave %d", s.Index), "%s %q is also slave %d's", nm.kind, nm.value, prev)
			}
			seen[nm] = s.Index
		}
	}
	return p, nil
}

// expand replaces every {n} in pattern with n.
func expand(pattern string, n int) string {
	return strings.ReplaceAll(pattern, "{n}", strconv.Itoa(n))
}

// ParseTarget parses clone.target: "dir", "" (dir) or "lvm:VG".
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "" || s == "dir":
		return Target{Kind: "dir"}, nil
	case strings.HasPrefix(s, "lvm:"):
		vg := strings.TrimPrefix(s, "lvm:")
		if err := CheckLVName(vg); err != nil {
			return Target{}, errf("clone.target", "volume group %q %v", vg, err)
		}
		return Target{Kind: "lvm", VG: vg}, nil
	}
	return Target{}, errf("clone.target", "%q: want dir or lvm:VG", s)
}

// checkLabel checks an RFC 1123 host name label.
func checkLabel(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if len(s) > 63 {
		return fmt.Errorf("is %d characters long: a host name label has at most 63", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(s)-1 {
				return fmt.Errorf("is invalid: a host name cannot start or end with \"-\"")
			}
		default:
			return fmt.Errorf("is invalid: %q is not allowed in a host name (letters, digits and \"-\" only, RFC 1123)", string(rune(c)))
		}
	}
	return nil
}

// checkHostname checks a host name of dot-separated RFC 1123 labels.
func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("is %d characters long: a host name has at most 253", len(s))
	}
	for _, l := range strings.Split(s, ".") {
		if err := checkLabel(l); err != nil {
			if s == "" {
				return err
			}
			return fmt.Errorf("has a label %q that %v", l, err)
		}
	}
	return nil
}

// CheckLVName checks an LVM volume group or logical volume name the way
// lvm2 does (lvm(8) "VALID NAMES"), without the names reserved for
// internal volumes.
func CheckLVName(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if len(s) > 127 {
		return fmt.Errorf("is %d characters long: LVM allows 127", len(s))
	}
	if s == "." || s == ".." {
		return fmt.Errorf("is not allowed by LVM")
	}
	if s[0] == '-' {
		return fmt.Errorf("is invalid: LVM names cannot start with \"-\"")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+_.-", c) >= 0) {
			return fmt.Errorf("is invalid: %q is not allowed in an LVM name (letters, digits and + _ . - only)", string(rune(c)))
		}
	}
	if strings.HasPrefix(s, "snapshot") || strings.HasPrefix(s, "pvmove") {
		return fmt.Errorf("is reserved by LVM (snapshot*, pvmove*)")
	}
	for _, r := range []string{"_cdata", "_cmeta", "_corig", "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vorigin", "_vdata"} {
		if strings.Contains(s, r) {
			return fmt.Errorf("contains %q, which LVM reserves for internal volumes", r)
		}
	}
	return nil
}

// slaveMAC returns 00:16:3e + 3 bytes of SHA-256(cluster, n, attempt),
// with the top bit of the fourth byte clear like Xen's own random MACs,
// rehashing while the result is in taken.
func slaveMAC(cluster string, n int, taken map[[6]byte]string) (net.HardwareAddr, error) {
	for attempt := 0; attempt < maxMACAttempts; attempt++ {
		h := sha256.New()
		h.Write([]byte("xenimg mac v1\x00"))
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(len(cluster)))
		h.Write(b[:])
		h.Write([]byte(cluster))
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(attempt))
		h.Write(b[:])
		sum := h.Sum(nil)
		mac := [6]byte{xenOUI[0], xenOUI[1], xenOUI[2], sum[0] & 0x7f, sum[1], sum[2]}
		if _, used := taken[mac]; !used {
			return net.HardwareAddr(mac[:]), nil
		}
	}
	return nil, fmt.Errorf("MAC collision: %d candidates derived from cluster %q are all taken", maxMACAttempts, cluster)
}
