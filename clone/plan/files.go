package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xenimg/xenimg/clone/sshkey"
)

// HostKeys maps a slave's host name to its public host keys.
type HostKeys map[string][]sshkey.PublicKey

// Hosts returns the cluster's hosts(5) lines: the master, then every slave.
func (p *Plan) Hosts() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# cluster %s: master and slaves (xenimg)\n", p.Cluster)
	fmt.Fprintf(&b, "%s\t%s\n", p.MasterIP, p.Master.Hostname)
	for _, s := range p.Slaves {
		fmt.Fprintf(&b, "%s\t%s\n", s.IP, s.Hostname)
	}
	return b.Bytes()
}

// PVMHosts returns a PVM hostfile (pvm(1): "pvm pvm_hosts" adds every
// slave; the master runs the console).
func (p *Plan) PVMHosts() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# PVM hostfile for cluster %s: pvm pvm_hosts\n", p.Cluster)
	for _, s := range p.Slaves {
		b.WriteString(s.Hostname + "\n")
	}
	return b.Bytes()
}

// MPIHosts returns an Open MPI hostfile: "slave1 slots=1" per slave.
func (p *Plan) MPIHosts() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Open MPI hostfile for cluster %s: mpirun --hostfile mpi_hosts\n", p.Cluster)
	for _, s := range p.Slaves {
		fmt.Fprintf(&b, "%s slots=%d\n", s.Hostname, p.Slots)
	}
	return b.Bytes()
}

// keysOf returns a slave's keys or an error naming it.
func (k HostKeys) keysOf(s Slave) ([]sshkey.PublicKey, error) {
	keys := k[s.Hostname]
	if len(keys) == 0 {
		return nil, fmt.Errorf("plan: slave %d (%s) has no host keys", s.Index, s.Hostname)
	}
	return keys, nil
}

// KnownHosts returns known_hosts lines "name,ip algorithm base64" for every
// host key of every slave, slaves in order, keys in the given order.
func (p *Plan) KnownHosts(keys HostKeys) ([]byte, error) {
	var b bytes.Buffer
	for _, s := range p.Slaves {
		ks, err := keys.keysOf(s)
		if err != nil {
			return nil, fmt.Errorf("writing known_hosts: %w", err)
		}
		for _, k := range ks {
			fmt.Fprintf(&b, "%s,%s %s %s\n", s.Hostname, s.IP, k.Algorithm, k.Base64())
		}
	}
	return b.Bytes(), nil
}

// SSHOptions say where the master's files are.
type SSHOptions struct {
	IdentityFile   string // absolute path of the master's private key, e.g. DIR/cluster/ssh/id_ed25519
	KnownHostsFile string // absolute path of DIR/cluster/known_hosts
	// Legacy lets a modern OpenSSH client talk to OpenSSH 3.8–6.x slaves:
	// ssh-rsa (SHA-1) host keys and user keys, and their key exchanges.
	Legacy bool
}

// SSHConfig returns an ssh_config(5) with one Host block per slave, for
// "ssh -F ssh_config slave1".
func (p *Plan) SSHConfig(o SSHOptions) ([]byte, error) {
	for _, f := range []struct{ name, path string }{{"identity file", o.IdentityFile}, {"known_hosts file", o.KnownHostsFile}} {
		if !filepath.IsAbs(f.path) {
			return nil, fmt.Errorf("plan: ssh_config %s %q is not an absolute path", f.name, f.path)
		}
		if strings.ContainsAny(f.path, " \t\n\"") {
			return nil, fmt.Errorf("plan: ssh_config %s %q contains white space or quotes", f.name, f.path)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# cluster %s (xenimg): ssh -F %s %s\n", p.Cluster, filepath.Join(filepath.Dir(o.KnownHostsFile), "ssh_config"), p.Slaves[0].Hostname)
	for _, s := range p.Slaves {
		fmt.Fprintf(&b, "\nHost %s\n", s.Hostname)
		fmt.Fprintf(&b, "\tHostName %s\n", s.IP)
		b.WriteString("\tUser root\n")
		fmt.Fprintf(&b, "\tIdentityFile %s\n", o.IdentityFile)
		b.WriteString("\tIdentitiesOnly yes\n")
		fmt.Fprintf(&b, "\tUserKnownHostsFile %s\n", o.KnownHostsFile)
		b.WriteString("\tStrictHostKeyChecking yes\n")
		if o.Legacy {
			b.WriteString("\tHostKeyAlgorithms +ssh-rsa\n")
			b.WriteString("\tPubkeyAcceptedKeyTypes +ssh-rsa\n")
			b.WriteString("\tKexAlgorithms +diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1\n")
		}
	}
	return b.Bytes(), nil
}

// Inventory is the content of inventory.json.
type Inventory struct {
	Cluster string        `json:"cluster"`
	Subnet  string        `json:"subnet"`
	Gateway string        `json:"gateway,omitempty"`
	Master  InventoryHost `json:"master"`
	Target  string        `json:"target"`
	Slaves  []InventoryVM `json:"slaves"`
}

// InventoryHost is the master's entry.
type InventoryHost struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// InventoryVM is a slave's entry.
type InventoryVM struct {
	Index    int                `json:"index"`
	Name     string             `json:"name"`
	IP       string             `json:"ip"`
	MAC      string             `json:"mac"`
	Volumes  InventoryVolumes   `json:"volumes"`
	HostKeys []InventoryHostKey `json:"host_keys"`
}

// InventoryVolumes names a slave's volumes.
type InventoryVolumes struct {
	Root string `json:"root"`
	Swap string `json:"swap"`
}

// InventoryHostKey is one host key fingerprint.
type InventoryHostKey struct {
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5"`
}

// Inventory returns the inventory value (slaves in order, host keys sorted
// by algorithm).
func (p *Plan) Inventory(keys HostKeys) (*Inventory, error) {
	inv := &Inventory{
		Cluster: p.Cluster,
		Subnet:  p.Subnet.String(),
		Master:  InventoryHost{Name: p.Master.Hostname, IP: p.MasterIP.String()},
		Target:  p.Target.String(),
		Slaves:  []InventoryVM{},
	}
	if p.Gateway.IsValid() {
		inv.Gateway = p.Gateway.String()
	}
	for _, s := range p.Slaves {
		ks, err := keys.keysOf(s)
		if err != nil {
			return nil, fmt.Errorf("writing inventory: %w", err)
		}
		vm := InventoryVM{
			Index: s.Index, Name: s.Hostname, IP: s.IP.String(), MAC: s.MAC.String(),
			Volumes:  InventoryVolumes{Root: s.RootPath, Swap: s.SwapPath},
			HostKeys: []InventoryHostKey{},
		}
		for _, k := range ks {
			vm.HostKeys = append(vm.HostKeys, InventoryHostKey{Type: k.Algorithm, SHA256: k.FingerprintSHA256(), MD5: k.FingerprintMD5()})
		}
		sort.SliceStable(vm.HostKeys, func(i, j int) bool { return vm.HostKeys[i].Type < vm.HostKeys[j].Type })
		inv.Slaves = append(inv.Slaves, vm)
	}
	return inv, nil
}

// InventoryJSON returns inventory.json: indented, fields in a fixed order,
// a final newline.
func (p *Plan) InventoryJSON(keys HostKeys) ([]byte, error) {
	inv, err := p.Inventory(keys)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding inventory.json: %w", err)
	}
	return append(b, '\n'), nil
}
