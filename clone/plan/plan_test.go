package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/clone/sshkey"
	"github.com/xenimg/xenimg/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func good() Input {
	return Input{
		Cluster:    "debian-slave",
		N:          3,
		Hostname:   "slave{n}",
		Subnet:     "10.0.0.0/24",
		FirstIP:    "10.0.0.11",
		Gateway:    "10.0.0.1",
		Master:     Master{Hostname: "master", IP: "10.0.0.1"},
		RootVolume: "Debian_Slave{n}_Root",
		SwapVolume: "Debian_Slave{n}_Swap",
		Target:     "lvm:xen",
	}
}

func TestNewGood(t *testing.T) {
	p, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Slaves) != 3 {
		t.Fatalf("%d slaves", len(p.Slaves))
	}
	s := p.Slaves[2]
	if s.Index != 3 || s.Hostname != "slave3" || s.IP.String() != "10.0.0.13" ||
		s.RootPath != "/dev/xen/Debian_Slave3_Root" || s.SwapVolume != "Debian_Slave3_Swap" {
		t.Errorf("slave 3 = %+v", s)
	}
	macs := map[string]bool{}
	for _, s := range p.Slaves {
		m := s.MAC.String()
		if !strings.HasPrefix(m, "00:16:3e:") || s.MAC[3]&0x80 != 0 {
			t.Errorf("%s: MAC %s outside Xen's lower OUI half", s.Hostname, m)
		}
		if macs[m] {
			t.Errorf("%s: MAC %s repeated", s.Hostname, m)
		}
		macs[m] = true
	}

	in := good()
	in.Master.Hostname = "head.lab.example"
	if _, err := New(in); err != nil {
		t.Errorf("a dotted master name: %v", err)
	}
	in = good()
	in.Target = "dir"
	d, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Slaves[0].RootPath != "slaves/slave1/root.img" || d.Slaves[0].SwapPath != "slaves/slave1/swap.img" {
		t.Errorf("dir target slave 1 = %+v", d.Slaves[0])
	}
}

// TestGrowKeepsSlaves: re-running with a larger N leaves slaves 1..n alone,
// even when a MAC had to be rehashed.
func TestGrowKeepsSlaves(t *testing.T) {
	small, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	in := good()
	in.N = 200
	big, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range small.Slaves {
		b := big.Slaves[i]
		if s.Hostname != b.Hostname || s.IP != b.IP || s.MAC.String() != b.MAC.String() || s.RootPath != b.RootPath {
			t.Errorf("slave %d changed: %+v vs %+v", i+1, s, b)
		}
	}
	// A different cluster name gives different MACs.
	in = good()
	in.Cluster = "other"
	o, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if o.Slaves[0].MAC.String() == small.Slaves[0].MAC.String() {
		t.Error("cluster name does not change the MAC")
	}
}

func TestMACCollisionRehash(t *testing.T) {
	// Reserve slave 2's natural MAC: slave 2 must move, slaves 1 and 3 not.
	base, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	in := good()
	in.ReservedMACs = []string{base.Slaves[1].MAC.String()}
	p, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Slaves[1].MAC.String() == base.Slaves[1].MAC.String() {
		t.Errorf("slave 2 kept the reserved MAC %s", p.Slaves[1].MAC)
	}
	if p.Slaves[0].MAC.String() != base.Slaves[0].MAC.String() || p.Slaves[2].MAC.String() != base.Slaves[2].MAC.String() {
		t.Error("slaves 1 and 3 moved although their MACs were free")
	}
	// Every candidate of slave 1 taken: a collision error naming it.
	taken := map[[6]byte]string{}
	for range maxMACAttempts {
		m, err := slaveMAC("c", 1, taken)
		if err != nil {
			t.Fatal(err)
		}
		taken[[6]byte(m)] = "x"
	}
	if _, err := slaveMAC("c", 1, taken); err == nil || !strings.Contains(err.Error(), "MAC collision") {
		t.Errorf("exhausted MACs: error %v", err)
	}
	// Among 4096 slaves of one cluster the 23-bit hash must collide, and
	// New must still hand out distinct MACs.
	in = good()
	in.Subnet, in.FirstIP, in.Gateway, in.Master.IP, in.N, in.Target = "10.0.0.0/16", "10.0.1.0", "", "10.0.0.1", 4096, "dir"
	p, err = New(in)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	rehashed := 0
	for _, s := range p.Slaves {
		if prev, ok := seen[s.MAC.String()]; ok {
			t.Fatalf("slaves %d and %d share MAC %s", prev, s.Index, s.MAC)
		}
		seen[s.MAC.String()] = s.Index
		if m, _ := slaveMAC(in.Cluster, s.Index, nil); m.String() != s.MAC.String() {
			rehashed++
		}
	}
	if rehashed == 0 {
		t.Error("no MAC was rehashed among 4096 slaves: the collision path is untested")
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Input)
		want string
	}{
		{"underscore", func(in *Input) { in.Hostname = "debian_slave{n}" },
			`plan: slave 1: host name "debian_slave1" (from clone.hostname "debian_slave{n}") is invalid: "_" is not allowed in a host name`},
		{"no {n}", func(in *Input) { in.Hostname = "slave" }, `plan: clone.hostname: "slave" has no {n}: every slave would get the same name`},
		{"leading dash", func(in *Input) { in.Hostname = "-s{n}" }, `host name "-s1" (from clone.hostname "-s{n}") is invalid: a host name cannot start or end with "-"`},
		{"too long", func(in *Input) { in.Hostname = strings.Repeat("a", 62) + "{n}"; in.N = 10 },
			`plan: slave 10: host name "` + strings.Repeat("a", 62) + `10" (from clone.hostname "` + strings.Repeat("a", 62) + `{n}") is 64 characters long: a host name label has at most 63`},
		{"dotted", func(in *Input) { in.Hostname = "slave{n}.lab" }, `"." is not allowed in a host name`},
		{"master name", func(in *Input) { in.Master.Hostname = "slave2" }, `plan: slave 2: host name "slave2" is the master's (network.master.hostname)`},
		{"bad master name", func(in *Input) { in.Master.Hostname = "my_master" }, `plan: network.master.hostname: "my_master" has a label "my_master" that is invalid`},
		{"empty master", func(in *Input) { in.Master.Hostname = "" }, `plan: network.master.hostname: "" is empty`},
		{"too small", func(in *Input) { in.N = 245 },
			`plan: network.subnet: 10.0.0.0/24 is too small for 245 slaves from network.first_ip 10.0.0.11: at most 244 fit (10.0.0.11 to 10.0.0.254)`},
		{"tiny", func(in *Input) { in.Subnet = "10.0.0.0/31" }, `plan: network.subnet: 10.0.0.0/31 has no room`},
		{"host bits", func(in *Input) { in.Subnet = "10.0.0.5/24" }, `plan: network.subnet: 10.0.0.5/24 has host bits set; did you mean 10.0.0.0/24?`},
		{"ipv6", func(in *Input) { in.Subnet = "fd00::/64" }, `only IPv4 subnets are supported`},
		{"not cidr", func(in *Input) { in.Subnet = "10.0.0.0" }, `plan: network.subnet: "10.0.0.0" is not a CIDR prefix`},
		{"first outside", func(in *Input) { in.FirstIP = "10.0.1.11" }, `plan: network.first_ip: 10.0.1.11 is outside network.subnet 10.0.0.0/24`},
		{"first network", func(in *Input) { in.FirstIP = "10.0.0.0" }, `plan: network.first_ip: 10.0.0.0 is the network address of 10.0.0.0/24`},
		{"first broadcast", func(in *Input) { in.FirstIP = "10.0.0.255" }, `plan: network.first_ip: 10.0.0.255 is the broadcast address`},
		{"first garbage", func(in *Input) { in.FirstIP = "ten" }, `plan: network.first_ip: "ten" is not an IPv4 address`},
		{"master collision", func(in *Input) { in.Master.IP = "10.0.0.12"; in.Gateway = "10.0.0.1" },
			`plan: slave 2: IP collision: 10.0.0.12 (network.first_ip 10.0.0.11 + 1) is the master's (network.master.ip); move network.first_ip or use at most 1 slaves`},
		{"gateway collision", func(in *Input) { in.Gateway = "10.0.0.13" },
			`plan: slave 3: IP collision: 10.0.0.13 (network.first_ip 10.0.0.11 + 2) is network.gateway`},
		{"gateway outside", func(in *Input) { in.Gateway = "192.168.0.1" }, `plan: network.gateway: 192.168.0.1 is outside network.subnet`},
		{"master outside", func(in *Input) { in.Master.IP = "192.168.0.1" }, `plan: network.master.ip: 192.168.0.1 is outside network.subnet`},
		{"zero n", func(in *Input) { in.N = 0 }, `plan: --n: 0 slaves: want 1 to 65536`},
		{"huge n", func(in *Input) { in.N = 1 << 30 }, `plan: --n: 1073741824 slaves: want 1 to 65536`},
		{"master label", func(in *Input) { in.Master.Hostname = "head..lab" }, `plan: network.master.hostname: "head..lab" has a label "" that is empty`},
		{"no cluster", func(in *Input) { in.Cluster = "" }, `plan: name: cluster name is empty`},
		{"target", func(in *Input) { in.Target = "zfs:tank" }, `plan: clone.target: "zfs:tank": want dir or lvm:VG`},
		{"bad vg", func(in *Input) { in.Target = "lvm:my vg" }, `plan: clone.target: volume group "my vg" is invalid: " " is not allowed in an LVM name`},
		{"empty vg", func(in *Input) { in.Target = "lvm:" }, `plan: clone.target: volume group "" is empty`},
		{"volume no {n}", func(in *Input) { in.RootVolume = "Root" }, `plan: clone.root_volume: "Root" has no {n}: every slave would get the same volume`},
		{"same volumes", func(in *Input) { in.SwapVolume = in.RootVolume }, `plan: clone.swap_volume: "Debian_Slave{n}_Root" is the same as clone.root_volume`},
		{"bad volume", func(in *Input) { in.RootVolume = "Slave{n}/Root" }, `plan: slave 1: volume "Slave1/Root" (from clone.root_volume) is invalid: "/" is not allowed in an LVM name`},
		{"reserved volume", func(in *Input) { in.RootVolume = "s{n}_tmeta" }, `plan: slave 1: volume "s1_tmeta" (from clone.root_volume) contains "_tmeta"`},
		{"volume clash", func(in *Input) { in.RootVolume = "r{n}"; in.SwapVolume = "r1{n}"; in.N = 12 },
			`plan: slave 11: volume "r11" is also slave 1's`},
		{"bad reserved mac", func(in *Input) { in.ReservedMACs = []string{"00:16:3e"} }, `plan: reserved MAC: "00:16:3e" is not a 48-bit MAC address`},
		{"slots", func(in *Input) { in.Slots = -1 }, `plan: xen.vcpus: -1 slots per slave`},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := good()
			c.edit(&in)
			_, err := New(in)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n%s\nwant it to contain\n%s", err, c.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *plan.Error", err)
			}
		})
	}
}

// testHostKeys returns deterministic host keys for every slave (RSA at
// 1024 bits to keep the test fast).
func testHostKeys(t *testing.T, p *Plan, era sshkey.Era) (HostKeys, map[string]*sshkey.Set) {
	t.Helper()
	keys := HostKeys{}
	sets := map[string]*sshkey.Set{}
	for _, s := range p.Slaves {
		set, err := sshkey.HostKeys(sshkey.DeriveSeed(sshkey.Seed{}, "plan test", s.Hostname), era, sshkey.Options{Comment: "root@" + s.Hostname, RSABits: 1024})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			keys[s.Hostname] = append(keys[s.Hostname], k.Public())
		}
		sets[s.Hostname] = set
	}
	return keys, sets
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden (go test ./clone/plan -update writes it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

// TestFiles compares every writer with goldens (written by
// "go test ./clone/plan -run TestFiles -update"; the inputs are good()
// and sshkey seeds derived from "plan test").
func TestFiles(t *testing.T) {
	p, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := testHostKeys(t, p, sshkey.Modern)
	golden(t, "hosts", p.Hosts())
	golden(t, "pvm_hosts", p.PVMHosts())
	golden(t, "mpi_hosts", p.MPIHosts())
	kh, err := p.KnownHosts(keys)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "known_hosts", kh)
	cfg, err := p.SSHConfig(SSHOptions{IdentityFile: "/srv/out/cluster/ssh/id_ed25519", KnownHostsFile: "/srv/out/cluster/known_hosts"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ssh_config", cfg)
	inv, err := p.InventoryJSON(keys)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inventory.json", inv)

	// Structure, independent of the goldens.
	if n := strings.Count(string(kh), "\n"); n != 9 {
		t.Errorf("known_hosts has %d lines, want 3 slaves x 3 keys", n)
	}
	if !strings.HasPrefix(strings.Split(string(kh), "\n")[0], "slave1,10.0.0.11 ssh-rsa AAAA") {
		t.Errorf("known_hosts starts %q", strings.Split(string(kh), "\n")[0])
	}
	var back Inventory
	if err := json.Unmarshal(inv, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Slaves) != 3 || back.Slaves[1].IP != "10.0.0.12" || back.Slaves[1].MAC != p.Slaves[1].MAC.String() ||
		len(back.Slaves[1].HostKeys) != 3 || back.Slaves[1].HostKeys[2].Type != "ssh-rsa" || back.Slaves[1].HostKeys[2].SHA256 != keys["slave2"][0].FingerprintSHA256() {
		t.Errorf("inventory round trip: %+v", back.Slaves[1])
	}
	if !strings.Contains(string(p.MPIHosts()), "slave2 slots=1\n") {
		t.Errorf("mpi_hosts: %s", p.MPIHosts())
	}

	// Same input, same bytes.
	p2, _ := New(good())
	keys2, _ := testHostKeys(t, p2, sshkey.Modern)
	inv2, _ := p2.InventoryJSON(keys2)
	if !bytes.Equal(inv, inv2) {
		t.Error("inventory.json differs between two runs")
	}
}

func TestFilesBadInput(t *testing.T) {
	p, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	keys := HostKeys{"slave1": nil}
	if _, err := p.KnownHosts(keys); err == nil || err.Error() != "writing known_hosts: plan: slave 1 (slave1) has no host keys" {
		t.Errorf("KnownHosts error %v", err)
	}
	if _, err := p.InventoryJSON(keys); err == nil || !strings.Contains(err.Error(), "slave 1 (slave1) has no host keys") {
		t.Errorf("InventoryJSON error %v", err)
	}
	if _, err := p.SSHConfig(SSHOptions{IdentityFile: "cluster/ssh/id_rsa", KnownHostsFile: "/k"}); err == nil || !strings.Contains(err.Error(), `identity file "cluster/ssh/id_rsa" is not an absolute path`) {
		t.Errorf("SSHConfig error %v", err)
	}
	if _, err := p.SSHConfig(SSHOptions{IdentityFile: "/a b/id_rsa", KnownHostsFile: "/k"}); err == nil || !strings.Contains(err.Error(), "white space") {
		t.Errorf("SSHConfig error %v", err)
	}
}

// TestSSHConfigAndKnownHosts lets OpenSSH judge the files: ssh -G parses
// ssh_config, and ssh-keygen -F finds each slave's key in known_hosts by
// name and by IP.
func TestSSHConfigAndKnownHosts(t *testing.T) {
	ssh := testenv.Tool(t, "ssh")
	keygen := testenv.Tool(t, "ssh-keygen")
	for _, era := range []sshkey.Era{sshkey.Legacy, sshkey.Modern} {
		t.Run(era.String(), func(t *testing.T) {
			p, err := New(good())
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			keys, _ := testHostKeys(t, p, era)
			kh, err := p.KnownHosts(keys)
			if err != nil {
				t.Fatal(err)
			}
			khPath := filepath.Join(dir, "known_hosts")
			cfgPath := filepath.Join(dir, "ssh_config")
			cfg, err := p.SSHConfig(SSHOptions{IdentityFile: filepath.Join(dir, "ssh", "id_rsa"), KnownHostsFile: khPath, Legacy: era != sshkey.Modern})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(khPath, kh, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ssh, "-F", cfgPath, "-G", "slave2").CombinedOutput()
			if err != nil {
				t.Fatalf("ssh -G: %v\n%s", err, out)
			}
			for _, want := range []string{"hostname 10.0.0.12", "user root", "stricthostkeychecking true", "userknownhostsfile " + khPath} {
				if !strings.Contains(string(out), want+"\n") {
					t.Errorf("ssh -G slave2 lacks %q", want)
				}
			}
			if era != sshkey.Modern && !strings.Contains(string(out), "ssh-rsa") {
				t.Errorf("legacy ssh -G does not allow ssh-rsa:\n%s", out)
			}
			for _, s := range p.Slaves {
				for _, host := range []string{s.Hostname, s.IP.String()} {
					out, err := exec.Command(keygen, "-F", host, "-f", khPath).CombinedOutput()
					if err != nil {
						t.Errorf("ssh-keygen -F %s: %v\n%s", host, err, out)
						continue
					}
					for _, k := range keys[s.Hostname] {
						if !strings.Contains(string(out), k.Algorithm+" "+k.Base64()) {
							t.Errorf("ssh-keygen -F %s does not find its %s key", host, k.Algorithm)
						}
					}
				}
			}
		})
	}
}

func ExamplePlan_Hosts() {
	p, err := New(Input{
		Cluster: "lab", N: 2, Hostname: "node{n}",
		Subnet: "192.168.7.0/24", FirstIP: "192.168.7.21", Gateway: "192.168.7.1",
		Master: Master{Hostname: "head", IP: "192.168.7.1"},
		Target: "dir",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(p.Hosts())
	os.Stdout.Write(p.MPIHosts())
	// Output:
	// # cluster lab: master and slaves (xenimg)
	// 192.168.7.1	head
	// 192.168.7.21	node1
	// 192.168.7.22	node2
	// # Open MPI hostfile for cluster lab: mpirun --hostfile mpi_hosts
	// node1 slots=1
	// node2 slots=1
}

// FuzzNew: no input panics, and an accepted plan keeps its promises.
func FuzzNew(f *testing.F) {
	f.Add("slave{n}", "10.0.0.0/24", "10.0.0.11", "10.0.0.1", "10.0.0.1", 3, "lvm:xen", "R{n}", "S{n}")
	f.Add("n-{n}-x", "192.168.0.0/30", "192.168.0.2", "", "192.168.0.1", 1, "dir", "", "")
	f.Fuzz(func(t *testing.T, host, subnet, first, gw, master string, n int, target, root, swap string) {
		if n > 300 {
			n = 300
		}
		in := Input{Cluster: "c", N: n, Hostname: host, Subnet: subnet, FirstIP: first, Gateway: gw,
			Master: Master{Hostname: "m", IP: master}, RootVolume: root, SwapVolume: swap, Target: target}
		p, err := New(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *plan.Error", err, err)
			}
			return
		}
		ips, macs := map[string]bool{}, map[string]bool{}
		for _, s := range p.Slaves {
			if !p.Subnet.Contains(s.IP) || s.IP == p.Subnet.Addr() || s.IP == p.Broadcast || s.IP == p.MasterIP || s.IP == p.Gateway {
				t.Fatalf("slave %d IP %s not usable in %s", s.Index, s.IP, p.Subnet)
			}
			if ips[s.IP.String()] || macs[s.MAC.String()] {
				t.Fatalf("slave %d repeats an IP or MAC", s.Index)
			}
			ips[s.IP.String()], macs[s.MAC.String()] = true, true
			if err := checkLabel(s.Hostname); err != nil {
				t.Fatalf("slave %d host name %q: %v", s.Index, s.Hostname, err)
			}
		}
	})
}
