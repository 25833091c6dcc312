package builder

import (
	"strings"

	"github.com/xenimg/xenimg/builder/xencfg"
)

// DomainInput is what differs between the template's and a slave's
// domain configs.
type DomainInput struct {
	Name       string // domain name
	RootTarget string // image file path or /dev/VG/LV
	SwapTarget string // "" for no swap disk
	MAC        string
	Firstboot  bool // boot through /sbin/xenimg-firstboot
}

// DomainConfig renders the recipe's Xen domain config.
func DomainConfig(r *Recipe, in DomainInput) ([]byte, error) {
	x := r.Xen
	extra := x.Extra
	if in.Firstboot {
		extra = strings.TrimSpace(extra + " init=/sbin/xenimg-firstboot")
	}
	c := xencfg.Config{
		Name: in.Name, Kernel: x.Kernel, Ramdisk: x.Ramdisk, Bootloader: x.Bootloader,
		Memory: x.Memory, VCPUs: x.VCPUs, Root: "/dev/" + x.RootDevice + " ro", Extra: extra,
		Disks: []xencfg.Disk{{Target: in.RootTarget, VDev: x.RootDevice}},
		VIFs:  []xencfg.VIF{{MAC: in.MAC, Bridge: x.Bridge}},
	}
	if in.SwapTarget != "" && r.Image.SwapBytes > 0 {
		c.Disks = append(c.Disks, xencfg.Disk{Target: in.SwapTarget, VDev: x.SwapDevice})
	}
	return xencfg.Render(c, xencfg.Toolstack(x.Toolstack))
}
