package clone

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"path"
	"strings"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/clone/plan"
	"github.com/xenimg/xenimg/clone/sshkey"
)

// identity is everything that makes one slave itself.
type identity struct {
	slave      plan.Slave
	seed       sshkey.Seed // the slave's own seed (DeriveSeed(seed, "slave", hostname))
	hostKeys   *sshkey.Set
	authorized []sshkey.PublicKey // master key first, then Options.ExtraKeys
	rootUUID   [16]byte
	swapUUID   [16]byte
	machineID  string // 32 lowercase hex digits
}

// uuidFrom makes a slave's UUID from a seed.
func uuidFrom(s sshkey.Seed) [16]byte { return builder.UUIDFrom(s[:]) }

// newIdentity derives a slave's identity from the cluster seed. Host key
// generation is the slow part (RSA).
func (c *Cloner) newIdentity(s plan.Slave, seed sshkey.Seed, authorized []sshkey.PublicKey) (*identity, error) {
	id := &identity{slave: s, seed: sshkey.DeriveSeed(seed, "slave", s.Hostname), authorized: authorized}
	var err error
	id.hostKeys, err = sshkey.HostKeys(id.seed, c.era, sshkey.Options{Comment: "root@" + s.Hostname, RSABits: c.o.RSABits})
	if err != nil {
		return nil, err
	}
	id.rootUUID = uuidFrom(sshkey.DeriveSeed(id.seed, "root-uuid"))
	id.swapUUID = uuidFrom(sshkey.DeriveSeed(id.seed, "swap-uuid"))
	mid := uuidFrom(sshkey.DeriveSeed(id.seed, "machine-id"))
	id.machineID = hex.EncodeToString(mid[:])
	return id, nil
}

// publicKeys returns the public halves of the slave's host keys.
func (id *identity) publicKeys() []sshkey.PublicKey {
	out := make([]sshkey.PublicKey, len(id.hostKeys.Keys))
	for i, k := range id.hostKeys.Keys {
		out[i] = k.Public()
	}
	return out
}

// exists reports whether name exists (without following a final link).
func exists(fsys *ext3.FS, name string) (bool, error) {
	_, err := fsys.Lstat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, ext3.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// isRegular reports whether name is a regular file (not a link).
func isRegular(fsys *ext3.FS, name string) (bool, error) {
	fi, err := fsys.Lstat(name)
	if errors.Is(err, ext3.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Mode().IsRegular(), nil
}

// readOptional returns a file's content, or nil if it does not exist.
func readOptional(fsys *ext3.FS, name string) ([]byte, error) {
	data, err := fsys.ReadFile(name)
	if errors.Is(err, ext3.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// mkdirAll creates name and its parents as root-owned directories.
func mkdirAll(fsys *ext3.FS, name string, perm fs.FileMode) error {
	ok, err := exists(fsys, name)
	if err != nil || ok {
		return err
	}
	if parent := path.Dir(name); parent != "/" && parent != "." {
		if err := mkdirAll(fsys, parent, 0o755); err != nil {
			return err
		}
	}
	return fsys.Mkdir(name, perm, 0, 0)
}

// edit applies a slave's identity to its root filesystem, in place.
func (c *Cloner) edit(fsys *ext3.FS, id *identity) error {
	s := id.slave
	steps := []struct {
		what string
		fn   func() error
	}{
		{"/etc/hostname", func() error { return fsys.WriteFile("/etc/hostname", []byte(s.Hostname+"\n"), 0o644, 0, 0) }},
		{"/etc/mailname", func() error { return fsys.WriteFile("/etc/mailname", []byte(s.Hostname+"\n"), 0o644, 0, 0) }},
		{"/etc/hosts", func() error {
			old, err := readOptional(fsys, "/etc/hosts")
			if err != nil {
				return err
			}
			return fsys.WriteFile("/etc/hosts", c.hostsFile(old, s), 0o644, 0, 0)
		}},
		{"/etc/network/interfaces", func() error {
			old, err := readOptional(fsys, "/etc/network/interfaces")
			if err != nil || old == nil {
				return err
			}
			nw, err := setAddress(old, c.recipe.Network.Interface, s.IP)
			if err != nil || nw == nil {
				return err
			}
			return fsys.WriteFile("/etc/network/interfaces", nw, 0o644, 0, 0)
		}},
		{"/etc/fstab", func() error { return c.editFstab(fsys, id) }},
		{"/etc/ssh", func() error { return writeHostKeys(fsys, id.hostKeys) }},
		{"/root/.ssh", func() error { return writeAuthorized(fsys, id.authorized) }},
		{"machine-id", func() error { return writeMachineID(fsys, id.machineID) }},
		{"random seeds", func() error { return writeRandomSeeds(fsys, id.seed) }},
		{"persistent-net rules", func() error { return removeStale(fsys) }},
		{"filesystem UUID", func() error { return fsys.SetUUID(id.rootUUID) }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			return fmt.Errorf("editing %s: %w", st.what, err)
		}
	}
	return nil
}

// hostsFile rewrites the template's /etc/hosts for slave s: the template's
// lines that are not about cluster hosts (localhost, IPv6) are kept, and
// the slave itself, the master and every other slave of the plan are put
// after the 127.0.0.1 line.
func (c *Cloner) hostsFile(old []byte, s plan.Slave) []byte {
	p := c.plan
	cluster := map[string]bool{strings.ToLower(p.Master.Hostname): true}
	if c.tmpl.hostname != "" {
		cluster[strings.ToLower(c.tmpl.hostname)] = true
	}
	for _, o := range p.Slaves {
		cluster[strings.ToLower(o.Hostname)] = true
	}
	var block bytes.Buffer
	fmt.Fprintf(&block, "%s\t%s\n", s.IP, s.Hostname)
	fmt.Fprintf(&block, "%s\t%s\n", p.MasterIP, p.Master.Hostname)
	for _, o := range p.Slaves {
		if o.Index != s.Index {
			fmt.Fprintf(&block, "%s\t%s\n", o.IP, o.Hostname)
		}
	}
	var out bytes.Buffer
	placed := false
	lines := strings.SplitAfter(string(old), "\n")
	if len(old) == 0 {
		lines = []string{"127.0.0.1\tlocalhost\n"}
	}
	for _, l := range lines {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		f := strings.Fields(strings.SplitN(l, "#", 2)[0])
		if len(f) >= 2 {
			ip, err := netip.ParseAddr(f[0])
			drop := err == nil && p.Subnet.Contains(ip) || f[0] == "127.0.1.1"
			for _, n := range f[1:] {
				if cluster[strings.ToLower(n)] {
					drop = true
				}
			}
			if drop {
				continue
			}
		}
		out.WriteString(l)
		if !placed && len(f) >= 2 && f[0] == "127.0.0.1" {
			out.Write(block.Bytes())
			placed = true
		}
	}
	if !placed {
		return append(block.Bytes(), out.Bytes()...)
	}
	return out.Bytes()
}

// setAddress replaces the address of iface's static stanza in an
// interfaces(5) file. It returns nil (no change) when the interface is not
// configured statically (DHCP: the slave gets its address by its MAC).
func setAddress(old []byte, iface string, ip netip.Addr) ([]byte, error) {
	lines := strings.SplitAfter(string(old), "\n")
	in, found, replaced := false, false, false
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case f[0] == "iface":
			in = len(f) >= 4 && f[1] == iface && f[2] == "inet" && f[3] == "static"
			found = found || in
			continue
		case f[0] == "auto" || f[0] == "mapping" || f[0] == "source" || f[0] == "source-directory" || strings.HasPrefix(f[0], "allow-"):
			in = false
			continue
		}
		if in && f[0] == "address" && len(f) >= 2 {
			indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			addr := ip.String()
			if j := strings.IndexByte(f[1], '/'); j >= 0 {
				addr += f[1][j:]
			}
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			lines[i] = indent + "address " + addr + nl
			replaced = true
		}
	}
	if !found {
		return nil, nil
	}
	if !replaced {
		return nil, fmt.Errorf("iface %s inet static has no address line", iface)
	}
	return []byte(strings.Join(lines, "")), nil
}

// editFstab points fstab's UUID= specs of the template's root and swap at
// the slave's new UUIDs.
func (c *Cloner) editFstab(fsys *ext3.FS, id *identity) error {
	old, err := readOptional(fsys, "/etc/fstab")
	if err != nil || old == nil {
		return err
	}
	s := string(old)
	for _, r := range [][2][16]byte{{c.tmpl.rootUUID, id.rootUUID}, {c.tmpl.swapUUID, id.swapUUID}} {
		if r[0] == ([16]byte{}) {
			continue
		}
		from, to := builder.UUIDString(r[0]), builder.UUIDString(r[1])
		s = strings.ReplaceAll(s, "UUID="+from, "UUID="+to)
		s = strings.ReplaceAll(s, "UUID="+strings.ToUpper(from), "UUID="+to)
	}
	if s == string(old) {
		return nil
	}
	return fsys.WriteFile("/etc/fstab", []byte(s), 0o644, 0, 0)
}

// writeHostKeys replaces the guest's SSH host keys: any ssh_host_* file
// not in the new set is removed (a template's keys must not survive), and
// /etc/ssh is created when missing, so an openssh-server installed later
// keeps the keys the master already trusts.
func writeHostKeys(fsys *ext3.FS, set *sshkey.Set) error {
	if err := mkdirAll(fsys, "/etc/ssh", 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, f := range set.Files {
		keep[path.Base(f.Path)] = true
	}
	ents, err := fsys.ReadDir("/etc/ssh")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "ssh_host_") && !keep[e.Name()] && !e.IsDir() {
			if err := fsys.Remove("/etc/ssh/" + e.Name()); err != nil {
				return err
			}
		}
	}
	for _, f := range set.Files {
		if err := fsys.WriteFile(f.Path, f.Data, f.Mode, 0, 0); err != nil {
			return err
		}
		// WriteFile keeps an existing file's inode: make sure of the mode.
		if err := fsys.Chmod(f.Path, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// writeAuthorized writes /root/.ssh/authorized_keys and authorized_keys2
// (0600, root) with the template's keys, if any, and the given keys.
func writeAuthorized(fsys *ext3.FS, keys []sshkey.PublicKey) error {
	if err := mkdirAll(fsys, "/root", 0o700); err != nil {
		return err
	}
	if err := mkdirAll(fsys, "/root/.ssh", 0o700); err != nil {
		return err
	}
	if err := fsys.Chmod("/root/.ssh", 0o700); err != nil {
		return err
	}
	if err := fsys.Chown("/root/.ssh", 0, 0); err != nil {
		return err
	}
	for _, name := range []string{"/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2"} {
		old, err := readOptional(fsys, name)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		seen := map[string]bool{}
		for _, k := range keys {
			seen[k.Base64()] = true
		}
		for _, l := range strings.SplitAfter(string(old), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if k, err := sshkey.ParsePublicKey([]byte(l)); err == nil && seen[k.Base64()] {
				continue // ours, written below
			}
			b.WriteString(strings.TrimRight(l, "\n") + "\n")
		}
		for _, k := range keys {
			b.Write(k.AuthorizedKey())
		}
		if err := fsys.WriteFile(name, b.Bytes(), 0o600, 0, 0); err != nil {
			return err
		}
		if err := fsys.Chmod(name, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeMachineID gives the slave its own machine-id where the template has
// one (/etc/machine-id, and /var/lib/dbus/machine-id unless it is a link).
func writeMachineID(fsys *ext3.FS, id string) error {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		ok, err := isRegular(fsys, p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		fi, err := fsys.Lstat(p)
		if err != nil {
			return err
		}
		if err := fsys.WriteFile(p, []byte(id+"\n"), fi.Mode().Perm(), 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// writeRandomSeeds replaces the saved entropy of systemd and of the
// sysvinit urandom script where the template has it, with bytes from the
// slave's seed (0600, the size the template's file had).
func writeRandomSeeds(fsys *ext3.FS, seed sshkey.Seed) error {
	for _, p := range []string{"/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"} {
		ok, err := isRegular(fsys, p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		fi, err := fsys.Lstat(p)
		if err != nil {
			return err
		}
		n := fi.Size()
		if n <= 0 || n > 4096 {
			n = 512
		}
		s := sshkey.DeriveSeed(seed, "random-seed", p)
		b := make([]byte, n)
		rand.NewChaCha8(s).Read(b)
		if err := fsys.WriteFile(p, b, 0o600, 0, 0); err != nil {
			return err
		}
		if err := fsys.Chmod(p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// removeStale removes state tied to the template's hardware or network:
// udev's persistent-net rules (which would rename the slave's NIC to eth1)
// and DHCP leases.
func removeStale(fsys *ext3.FS) error {
	for _, p := range []string{"/etc/udev/rules.d/70-persistent-net.rules", "/etc/udev/rules.d/z25_persistent-net.rules"} {
		ok, err := exists(fsys, p)
		if err != nil {
			return err
		}
		if ok {
			if err := fsys.Remove(p); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"/var/lib/dhcp", "/var/lib/dhcp3", "/var/lib/dhclient"} {
		fi, err := fsys.Lstat(d)
		if errors.Is(err, ext3.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			continue
		}
		ents, err := fsys.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".leases") && e.Type().IsRegular() {
				if err := fsys.Remove(d + "/" + e.Name()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
