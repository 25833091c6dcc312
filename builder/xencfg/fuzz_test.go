package xencfg

import (
	"reflect"
	"testing"
)

// FuzzRoundTrip renders configs with arbitrary strings and checks that
// whatever Render accepts reads back, through the xl grammar reader, as
// exactly the values that went in: no string can end early or inject a
// setting.
func FuzzRoundTrip(f *testing.F) {
	f.Add(`evil"name`, `/srv/a'b,c\d`, "console=hvc0", "xvda1", "xenbr0")
	f.Add("slave1", "/dev/vg/lv", "", "sda1", "xen-br0")
	f.Add("a#b", `\`, `"]`, "hda", "br")
	f.Fuzz(func(t *testing.T, name, target, extra, vdev, bridge string) {
		c := Config{
			Name: name, Kernel: "/boot/vmlinuz", Memory: 64, Extra: extra,
			Disks: []Disk{{Target: target, VDev: vdev}},
			VIFs:  []VIF{{MAC: "00:16:3e:01:02:03", Bridge: bridge}},
		}
		for _, ts := range []Toolstack{XL, XM} {
			out, err := Render(c, ts)
			if err != nil {
				continue
			}
			got, err := parseXL(string(out))
			if err != nil {
				t.Fatalf("%s output does not parse: %v\n%s", ts, err, out)
			}
			if want := expected(c, ts); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s read\n%v\nwant\n%v\n%s", ts, got, want, out)
			}
		}
	})
}
