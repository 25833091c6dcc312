package clone_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/swap"
	"github.com/xenimg/xenimg/internal/testenv"
)

// Template UUIDs, as the builder would have put them in fstab.
const (
	tmplRootUUID = "11111111-2222-4333-8444-555555555555"
	tmplSwapUUID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
)

// tmplOptions shape a test template.
type tmplOptions struct {
	size     string // image.size, e.g. "64MiB"
	sizeMiB  int
	swapMiB  int
	codename string
	edits    []string // recipe text replacements, in pairs
	filler   int64    // bytes of extra file data in /usr/share/filler
}

// makeTemplate writes a template directory as xenimg build would: root.img
// made by mke2fs -t ext3 -d from a small tree with the /etc files clone
// edits, swap.img, recipe.toml (recipes/bookworm-pvm.toml resized) and
// manifest.json.
func makeTemplate(t testing.TB, o tmplOptions) string {
	t.Helper()
	mke2fs := testenv.Tool(t, "mke2fs")
	if o.sizeMiB == 0 {
		o.sizeMiB, o.size = 64, "64MiB"
	}
	if o.swapMiB == 0 {
		o.swapMiB = 16
	}
	if o.codename == "" {
		o.codename = "bookworm"
	}
	dir := t.TempDir()
	tree := filepath.Join(t.TempDir(), "tree")
	files := map[string]string{
		"etc/hostname": "template\n",
		"etc/mailname": "template\n",
		"etc/hosts":    "127.0.0.1\tlocalhost\n10.0.0.11\ttemplate\n10.0.0.1\tmaster\n\n# The following lines are desirable for IPv6 capable hosts\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n",
		"etc/fstab": "# /etc/fstab: static file system information.\n#\n# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n" +
			"UUID=" + tmplRootUUID + "\t/\text3\terrors=remount-ro\t0\t1\n" +
			"UUID=" + tmplSwapUUID + "\tnone\tswap\tsw\t0\t0\n",
		"etc/network/interfaces": "# /etc/network/interfaces: see interfaces(5).\n\nsource /etc/network/interfaces.d/*\n\n# The loopback network interface\nauto lo\niface lo inet loopback\n\n" +
			"# The primary network interface\nauto eth0\niface eth0 inet static\n  address 10.0.0.11\n  netmask 255.255.255.0\n  gateway 10.0.0.1\n",
		"etc/ssh/sshd_config":                                "PermitRootLogin prohibit-password\n",
		"etc/ssh/ssh_host_dsa_key":                           "template key, must go\n",
		"etc/ssh/ssh_host_dsa_key.pub":                       "ssh-dss AAAA template\n",
		"etc/ssh/ssh_host_ed25519_key":                       "template key, must be replaced\n",
		"etc/machine-id":                                     "0123456789abcdef0123456789abcdef\n",
		"var/lib/dbus/machine-id":                            "0123456789abcdef0123456789abcdef\n",
		"var/lib/systemd/random-seed":                        strings.Repeat("\x42", 512),
		"etc/udev/rules.d/70-persistent-net.rules":           "SUBSYSTEM==\"net\", NAME=\"eth0\"\n",
		"var/lib/dhcp/dhclient.eth0.leases":                  "lease {}\n",
		"usr/share/doc/README":                               "a template\n",
		"etc/network/interfaces.d/.keep":                     "",
		"etc/default/keep-me":                                "unchanged\n",
		"root/.profile":                                      "# ~/.profile\n",
		"var/lib/dpkg/status":                                "Package: openssh-server\nStatus: install ok installed\n\n",
		"etc/udev/rules.d/75-persistent-net-generator.rules": "# stays\n",
	}
	for p, data := range files {
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"etc/ssh/ssh_host_dsa_key", "etc/ssh/ssh_host_ed25519_key"} {
		os.Chmod(filepath.Join(tree, p), 0o600)
	}
	os.Chmod(filepath.Join(tree, "root"), 0o700)
	if o.filler > 0 {
		// Files of pseudo-random bytes, so the template has data blocks to copy.
		fd := filepath.Join(tree, "usr/share/filler")
		os.MkdirAll(fd, 0o755)
		const chunk = 1 << 20
		buf := make([]byte, chunk)
		x := uint64(88172645463325252)
		for i := int64(0); i*chunk < o.filler; i++ {
			for j := 0; j < chunk; j += 8 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				for k := 0; k < 8; k++ {
					buf[j+k] = byte(x >> (8 * k))
				}
			}
			if err := os.WriteFile(filepath.Join(fd, fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	root := filepath.Join(dir, "root.img")
	cmd := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-b", "4096", "-I", "256", "-U", tmplRootUUID,
		"-E", "hash_seed=00000000-0000-4000-8000-000000000000,root_owner=0:0", "-L", "template", "-d", tree, root, fmt.Sprintf("%dM", o.sizeMiB))
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000", "MKE2FS_DETERMINISTIC=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	sf, err := os.Create(filepath.Join(dir, "swap.img"))
	if err != nil {
		t.Fatal(err)
	}
	var su [16]byte
	copy(su[:], mustHex(t, strings.ReplaceAll(tmplSwapUUID, "-", "")))
	if err := swap.Write(sf, int64(o.swapMiB)<<20, swap.Options{UUID: su, Label: "swap"}); err != nil {
		t.Fatal(err)
	}
	sf.Close()

	rdata, err := os.ReadFile("../recipes/bookworm-pvm.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := string(rdata)
	edits := append([]string{
		`size       = "1GiB"`, `size       = "` + fmt.Sprintf("%dMiB", o.sizeMiB) + `"`,
		`swap       = "64MiB"`, `swap       = "` + fmt.Sprintf("%dMiB", o.swapMiB) + `"`,
		`codename   = "bookworm"`, `codename   = "` + o.codename + `"`,
	}, o.edits...)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(r, edits[i]) {
			t.Fatalf("recipe edit %q does not apply", edits[i])
		}
		r = strings.Replace(r, edits[i], edits[i+1], 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte(r), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(map[string]any{"name": "bookworm-pvm", "epoch": 1700000000, "configure": "none"})
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), m, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
