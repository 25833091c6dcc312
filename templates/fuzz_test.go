package templates

import (
	"strings"
	"testing"
)

// FuzzRender feeds arbitrary strings into the fields users type and checks
// that whatever Render accepts keeps every file's line structure: one
// value cannot spill into another line or field.
func FuzzRender(f *testing.F) {
	f.Add("slave1", "example.org", "eth0", "http://deb.debian.org/debian", "main", "/dev/sda1", "10.0.0.11")
	f.Add("a", "", "e\n", "file:///x y", "non-free", "/dev/x#", "")
	f.Fuzz(func(t *testing.T, host, domain, iface, mirror, comp, root, ip string) {
		d := Data{
			Hostname: host, Domain: domain, Interface: iface, Mirror: mirror,
			Components: []string{comp}, RootDevice: root, IP: ip,
			Codename: "sarge", Filesystem: "ext3",
		}
		if ip != "" {
			d.Netmask = "255.0.0.0"
		}
		out, err := Render(d)
		if err != nil {
			return
		}
		if got := string(out["etc/hostname"]); got != host+"\n" {
			t.Fatalf("hostname file %q for %q", got, host)
		}
		sl := strings.Split(strings.TrimSuffix(string(out["etc/apt/sources.list"]), "\n"), "\n")
		if len(sl) != 1 || len(strings.Fields(sl[0])) != 4 {
			t.Fatalf("sources.list %q", sl)
		}
		var entries int
		for _, l := range strings.Split(string(out["etc/fstab"]), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				entries++
				if n := len(strings.Fields(l)); n != 6 {
					t.Fatalf("fstab line %q has %d fields", l, n)
				}
			}
		}
		if entries != 2 {
			t.Fatalf("fstab has %d entries:\n%s", entries, out["etc/fstab"])
		}
		for _, l := range strings.Split(string(out["etc/network/interfaces"]), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "iface" && len(f) != 4 {
				t.Fatalf("interfaces line %q", l)
			}
		}
	})
}
