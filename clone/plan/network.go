package plan

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// network parses and checks the [network] settings.
func (p *Plan) network(in Input) error {
	var err error
	if p.Subnet, err = netip.ParsePrefix(in.Subnet); err != nil {
		return errf("network.subnet", "%q is not a CIDR prefix like 10.0.0.0/24", in.Subnet)
	}
	if !p.Subnet.Addr().Is4() {
		return errf("network.subnet", "%s: only IPv4 subnets are supported", p.Subnet)
	}
	if p.Subnet.Masked() != p.Subnet {
		return errf("network.subnet", "%s has host bits set; did you mean %s?", p.Subnet, p.Subnet.Masked())
	}
	if p.Subnet.Bits() > 30 {
		return errf("network.subnet", "%s has no room for a master and slaves (/30 is the smallest usable)", p.Subnet)
	}
	p.Broadcast = broadcast(p.Subnet)
	inside := func(key, s string, optional bool) (netip.Addr, error) {
		if s == "" && optional {
			return netip.Addr{}, nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Addr{}, errf(key, "%q is not an IPv4 address", s)
		}
		if !p.Subnet.Contains(a) {
			return netip.Addr{}, errf(key, "%s is outside network.subnet %s", a, p.Subnet)
		}
		if a == p.Subnet.Addr() {
			return netip.Addr{}, errf(key, "%s is the network address of %s", a, p.Subnet)
		}
		if a == p.Broadcast {
			return netip.Addr{}, errf(key, "%s is the broadcast address of %s", a, p.Subnet)
		}
		return a, nil
	}
	if p.MasterIP, err = inside("network.master.ip", in.Master.IP, false); err != nil {
		return err
	}
	if p.Gateway, err = inside("network.gateway", in.Gateway, true); err != nil {
		return err
	}
	if p.FirstIP, err = inside("network.first_ip", in.FirstIP, false); err != nil {
		return err
	}
	// The whole range first_ip .. first_ip+N-1 must fit before broadcast.
	room := int64(u32(p.Broadcast)) - int64(u32(p.FirstIP)) // usable addresses from first_ip
	if int64(in.N) > room {
		return errf("network.subnet", "%s is too small for %d slaves from network.first_ip %s: at most %d fit (%s to %s)",
			p.Subnet, in.N, p.FirstIP, room, p.FirstIP, p.Broadcast.Prev())
	}
	return nil
}

// slaveIP returns first_ip + n - 1 and checks it against the master and
// the gateway.
func (p *Plan) slaveIP(n int) (netip.Addr, error) {
	ip := fromU32(u32(p.FirstIP) + uint32(n-1)) // in the subnet: network() checked the range
	where := fmt.Sprintf("slave %d", n)
	fits := n - 1 // slaves that fit below ip
	switch ip {
	case p.MasterIP:
		return ip, errf(where, "IP collision: %s (network.first_ip %s + %d) is the master's (network.master.ip); move network.first_ip or use at most %d slaves", ip, p.FirstIP, n-1, fits)
	case p.Gateway:
		return ip, errf(where, "IP collision: %s (network.first_ip %s + %d) is network.gateway; move network.first_ip or use at most %d slaves", ip, p.FirstIP, n-1, fits)
	}
	return ip, nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func fromU32(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := 32 - p.Bits()
	for i := 3; i >= 0 && host > 0; i-- {
		take := min(host, 8)
		b[i] |= byte(1<<take - 1)
		host -= take
	}
	return netip.AddrFrom4(b)
}
