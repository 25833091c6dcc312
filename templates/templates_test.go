package templates

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var cluster = []Host{
	{"slave1", "10.0.0.11"}, {"slave2", "10.0.0.12"}, {"slave3", "10.0.0.13"},
}

// cases are the golden guests: the 2005 sarge slave on Xen 2.0, the same
// slave on bookworm, and a trixie guest on DHCP with UUIDs in fstab.
var cases = map[string]Data{
	"sarge": {
		Hostname:    "slave1",
		IP:          "10.0.0.11",
		Netmask:     "255.255.255.0",
		Gateway:     "10.0.0.1",
		Nameservers: []string{"10.0.0.1"},
		Master:      Host{"master", "10.0.0.1"},
		Slaves:      cluster,
		Mirror:      "http://archive.debian.org/debian",
		Codename:    "sarge",
		Components:  []string{"main", "contrib"},
		Security:    true,
		Filesystem:  "ext3",
		RootDevice:  "/dev/sda1",
		SwapDevice:  "/dev/sda2",
	},
	"bookworm": {
		Hostname:    "slave2",
		Domain:      "cluster.example.org",
		IP:          "10.0.0.12",
		Netmask:     "255.255.255.0",
		Gateway:     "10.0.0.1",
		Nameservers: []string{"10.0.0.1", "9.9.9.9"},
		Master:      Host{"master", "10.0.0.1"},
		Slaves:      cluster,
		Mirror:      "http://deb.debian.org/debian",
		Codename:    "bookworm",
		Components:  []string{"main", "contrib", "non-free-firmware"},
		Security:    true,
		Filesystem:  "ext3",
		RootDevice:  "/dev/xvda1",
		SwapDevice:  "/dev/xvda2",
	},
	"trixie": {
		Hostname:   "mpi-node",
		Interface:  "enX0",
		Mirror:     "file:///srv/mirror/debian",
		Codename:   "trixie",
		Filesystem: "ext2",
		UseUUID:    true,
		RootUUID:   "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
		SwapUUID:   "01234567-89ab-cdef-0123-456789abcdef",
		Master:     Host{"head", "192.168.7.1"},
	},
}

func TestGolden(t *testing.T) {
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for p, b := range got {
					fp := filepath.Join(dir, p)
					if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(fp, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := map[string][]byte{}
			err = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				want[filepath.ToSlash(rel)] = b
				return err
			})
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			for p := range want {
				if _, ok := got[p]; !ok {
					t.Errorf("%s: golden file not rendered", p)
				}
			}
			for p, b := range got {
				if string(want[p]) != string(b) {
					t.Errorf("%s differs from golden:\n got:\n%s\nwant:\n%s", p, b, want[p])
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for name, d := range cases {
		a, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			b, _ := Render(d)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s: renders differ", name)
			}
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"etc/apt/sources.list", "etc/fstab", "etc/hostname", "etc/hosts", "etc/mailname", "etc/network/interfaces", "etc/resolv.conf"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	out, err := Render(cases["bookworm"])
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(want) {
		t.Errorf("bookworm rendered %d files, want %d", len(out), len(want))
	}
	out, err = Render(cases["trixie"])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["etc/resolv.conf"]; ok {
		t.Error("resolv.conf rendered without nameservers or domain")
	}
}

// TestFstabFindmnt reads every fstab with libmount (findmnt --tab-file).
func TestFstabFindmnt(t *testing.T) {
	findmnt := testenv.Tool(t, "findmnt")
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "fstab")
			if err := os.WriteFile(p, out["etc/fstab"], 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := exec.Command(findmnt, "--fstab", "--tab-file", p, "-n", "-r", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS,FREQ,PASSNO").Output()
			if err != nil {
				t.Fatalf("findmnt: %v", err)
			}
			v, _ := d.view()
			var want []string
			if !v.Modern {
				want = append(want, "proc /proc proc defaults 0 0")
			}
			want = append(want, v.RootSpec+" / "+d.Filesystem+" errors=remount-ro 0 1")
			if v.SwapSpec != "" {
				want = append(want, v.SwapSpec+" none swap sw 0 0")
			}
			if got := strings.Split(strings.TrimSpace(string(res)), "\n"); !slices.Equal(got, want) {
				t.Errorf("findmnt read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestSourcesListApt has apt-get read each sources.list and print the
// index URIs it would fetch (no network is used).
func TestSourcesListApt(t *testing.T) {
	apt := testenv.Tool(t, "apt-get")
	uriRE := regexp.MustCompile(`^'(.*)/dists/(.*)/(InRelease|([^/]+)/binary-i386/Packages[^']*)' `)
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sl := filepath.Join(dir, "sources.list")
			if err := os.WriteFile(sl, out["etc/apt/sources.list"], 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "lists", "partial"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(apt, "-o", "Dir::Etc::SourceList="+sl, "-o", "Dir::Etc::SourceParts="+filepath.Join(dir, "none"),
				"-o", "Dir::State::Lists="+filepath.Join(dir, "lists"), "-o", "APT::Architecture=i386", "-o", "APT::Architectures=i386",
				"-o", "Debug::NoLocking=1", "update", "--print-uris")
			res, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("apt-get: %v\n%s", err, res)
			}
			got := map[string][]string{} // "base dist" -> components
			for _, l := range strings.Split(string(res), "\n") {
				m := uriRE.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				k := m[1] + " " + m[2]
				if m[4] == "" {
					got[k] = append(got[k], []string{}...)
				} else if !slices.Contains(got[k], m[4]) {
					got[k] = append(got[k], m[4])
				}
			}
			comps := d.Components
			if len(comps) == 0 {
				comps = []string{"main"}
			}
			// apt prints file:///x as file:/x.
			base := strings.Replace(strings.TrimSuffix(d.Mirror, "/"), "file://", "file:", 1)
			want := map[string][]string{base + " " + d.Codename: comps}
			if d.Security {
				switch d.Codename {
				case "sarge":
					want["http://security.debian.org sarge/updates"] = comps
				default:
					want["http://security.debian.org/debian-security "+d.Codename+"-security"] = comps
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("apt-get reads %v, want %v\n%s", got, want, res)
			}
		})
	}
}

// TestInterfacesGrammar checks each interfaces file against interfaces(5):
// stanzas "auto IFACE…" and "iface IFACE FAMILY METHOD" followed by
// indented "option value" lines, "source PATTERN", comments and blanks.
func TestInterfacesGrammar(t *testing.T) {
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := d.view()
			auto := map[string]bool{}
			type stanza struct {
				method string
				opts   map[string]string
			}
			ifaces := map[string]*stanza{}
			var cur *stanza
			for i, l := range strings.Split(strings.TrimSuffix(string(out["etc/network/interfaces"]), "\n"), "\n") {
				f := strings.Fields(l)
				switch {
				case len(f) == 0 || strings.HasPrefix(f[0], "#"):
					cur = nil
				case l[0] == ' ' || l[0] == '\t':
					if cur == nil || len(f) != 2 {
						t.Fatalf("line %d: option outside a stanza or not 'name value': %q", i+1, l)
					}
					cur.opts[f[0]] = f[1]
				case f[0] == "auto" && len(f) >= 2:
					for _, n := range f[1:] {
						auto[n] = true
					}
					cur = nil
				case f[0] == "iface" && len(f) == 4 && f[2] == "inet":
					cur = &stanza{f[3], map[string]string{}}
					ifaces[f[1]] = cur
				case f[0] == "source" && len(f) == 2:
					cur = nil
				default:
					t.Fatalf("line %d: %q is not interfaces(5) syntax", i+1, l)
				}
			}
			if !auto["lo"] || ifaces["lo"] == nil || ifaces["lo"].method != "loopback" {
				t.Error("no auto lo / iface lo inet loopback")
			}
			s := ifaces[v.Interface]
			if !auto[v.Interface] || s == nil {
				t.Fatalf("no auto %s stanza", v.Interface)
			}
			if d.IP == "" {
				if s.method != "dhcp" || len(s.opts) != 0 {
					t.Errorf("DHCP guest: method %s options %v", s.method, s.opts)
				}
				return
			}
			want := map[string]string{"address": d.IP, "netmask": d.Netmask}
			if d.Gateway != "" {
				want["gateway"] = d.Gateway
			}
			if !v.Modern {
				want["network"], want["broadcast"] = v.Network, v.Broadcast
			}
			if s.method != "static" || fmt.Sprint(s.opts) != fmt.Sprint(want) {
				t.Errorf("static stanza: %s %v, want static %v", s.method, s.opts, want)
			}
		})
	}
}

func TestHostsAndNames(t *testing.T) {
	out, err := Render(cases["sarge"])
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out["etc/hosts"])), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("hosts line %q", l)
		}
		for _, n := range f[1:] {
			if prev, dup := names[n]; dup {
				t.Errorf("%s listed twice (%s, %s)", n, prev, f[0])
			}
			names[n] = f[0]
		}
	}
	for _, h := range append([]Host{{"master", "10.0.0.1"}}, cluster...) {
		if names[h.Hostname] != h.IP {
			t.Errorf("hosts: %s -> %q, want %s", h.Hostname, names[h.Hostname], h.IP)
		}
	}
	if string(out["etc/hostname"]) != "slave1\n" || string(out["etc/mailname"]) != "slave1\n" {
		t.Errorf("hostname %q mailname %q", out["etc/hostname"], out["etc/mailname"])
	}
	bw, _ := Render(cases["bookworm"])
	if string(bw["etc/mailname"]) != "slave2.cluster.example.org\n" {
		t.Errorf("bookworm mailname %q", bw["etc/mailname"])
	}
}

func TestDerivedNetwork(t *testing.T) {
	d := cases["sarge"]
	d.IP, d.Netmask, d.Gateway = "172.16.5.77", "255.255.252.0", "172.16.4.1"
	d.Slaves = nil
	v, err := d.view()
	if err != nil {
		t.Fatal(err)
	}
	if v.Network != "172.16.4.0" || v.Broadcast != "172.16.7.255" {
		t.Errorf("network %s broadcast %s, want 172.16.4.0 172.16.7.255", v.Network, v.Broadcast)
	}
}

func TestSecurityLines(t *testing.T) {
	for _, c := range []struct{ codename, want string }{
		{"sarge", "deb http://security.debian.org/ sarge/updates main"},
		{"etch", "deb http://security.debian.org/ etch/updates main"},
		{"stretch", "deb http://security.debian.org/debian-security stretch/updates main"},
		{"buster", "deb http://security.debian.org/debian-security buster/updates main"},
		{"bullseye", "deb http://security.debian.org/debian-security bullseye-security main"},
		{"trixie", "deb http://security.debian.org/debian-security trixie-security main"},
	} {
		d := cases["trixie"]
		d.Codename, d.Security = c.codename, true
		out, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out["etc/apt/sources.list"])), "\n")
		if len(lines) != 2 || lines[1] != c.want {
			t.Errorf("%s: sources.list\n%s\nwant second line %q", c.codename, strings.Join(lines, "\n"), c.want)
		}
	}
	d := cases["sarge"]
	d.SecurityMirror = "http://archive.debian.org/debian-security"
	out, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out["etc/apt/sources.list"]), "deb http://archive.debian.org/debian-security sarge/updates main contrib\n") {
		t.Errorf("SecurityMirror ignored:\n%s", out["etc/apt/sources.list"])
	}
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Data)
		want string
	}{
		{"underscore-host", func(d *Data) { d.Hostname = "debian_slave" }, "host name"},
		{"long-host", func(d *Data) { d.Hostname = strings.Repeat("a", 64) }, "host name"},
		{"hyphen-host", func(d *Data) { d.Hostname = "-a" }, "host name"},
		{"domain", func(d *Data) { d.Domain = "a..b" }, "domain"},
		{"codename", func(d *Data) { d.Codename = "woody" }, "unknown codename"},
		{"ip", func(d *Data) { d.IP = "10.0.0.300" }, "IP"},
		{"ipv6", func(d *Data) { d.IP = "fe80::1" }, "IPv4"},
		{"mask", func(d *Data) { d.Netmask = "255.0.255.0" }, "not contiguous"},
		{"no-mask", func(d *Data) { d.Netmask = "" }, "netmask"},
		{"gw-outside", func(d *Data) { d.Gateway = "10.0.1.1" }, "outside"},
		{"dhcp-gw", func(d *Data) { d.IP = "" }, "without an IP"},
		{"nameserver", func(d *Data) { d.Nameservers = []string{"dns.example"} }, "nameserver"},
		{"slave-name", func(d *Data) { d.Slaves = []Host{{"bad name", "10.0.0.20"}} }, "host name"},
		{"slave-ip", func(d *Data) { d.Slaves = []Host{{"s9", "x"}} }, "address"},
		{"ip-collision", func(d *Data) { d.Slaves = []Host{{"s8", "10.0.0.20"}, {"s9", "10.0.0.20"}} }, "both have IP"},
		{"self-ip", func(d *Data) { d.Slaves = []Host{{"slave1", "10.0.0.99"}} }, "this host's IP"},
		{"mirror", func(d *Data) { d.Mirror = "deb.debian.org/debian" }, "scheme"},
		{"mirror-space", func(d *Data) { d.Mirror = "http://a b/" }, "URL"},
		{"component", func(d *Data) { d.Components = []string{"main contrib"} }, "component"},
		{"sid-security", func(d *Data) { d.Codename = "sid" }, "no security archive"},
		{"fs", func(d *Data) { d.Filesystem = "ext4" }, "filesystem"},
		{"root", func(d *Data) { d.RootDevice = "sda1" }, "root device"},
		{"swap", func(d *Data) { d.SwapDevice = "/dev/sda2 #" }, "swap device"},
		{"uuid", func(d *Data) { d.UseUUID, d.RootUUID = true, "1234" }, "root UUID"},
		{"swap-uuid", func(d *Data) { d.UseUUID, d.RootUUID = true, "01234567-89ab-cdef-0123-456789abcdef" }, "swap UUID"},
		{"iface", func(d *Data) { d.Interface = "eth 0" }, "interface"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := cases["sarge"]
			c.mod(&d)
			_, err := Render(d)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Render = %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}
