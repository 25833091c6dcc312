package builder

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodRecipe = `name = "debian-slave"

[suite]
codename   = "bookworm"
arch       = "amd64"
mirror     = "http://deb.debian.org/debian"
variant    = "minbase"
include    = ["openssh-server", "pvm"]

[image]
size       = "1GiB"
swap       = "64MiB"

[network]
subnet      = "10.0.0.0/24"
gateway     = "10.0.0.1"
nameservers = ["10.0.0.1"]
master      = { hostname = "master", ip = "10.0.0.1" }
first_ip    = "10.0.0.11"

[clone]
hostname    = "slave{n}"
root_volume = "Debian_Slave{n}_Root"
swap_volume = "Debian_Slave{n}_Swap"
`

func TestParseRecipeGood(t *testing.T) {
	r, err := ParseRecipe("good.toml", []byte(goodRecipe))
	if err != nil {
		t.Fatal(err)
	}
	if r.Image.SizeBytes != 1<<30 || r.Image.SwapBytes != 64<<20 {
		t.Errorf("sizes = %d, %d", r.Image.SizeBytes, r.Image.SwapBytes)
	}
	if r.Suite.Components[0] != "main" || r.Xen.Toolstack != "xl" || r.Image.InodeSize != 256 || r.Image.Filesystem != "ext3" {
		t.Errorf("defaults not applied: %+v %+v", r.Suite, r.Image)
	}
	if len(r.Digest) != 64 {
		t.Errorf("digest %q", r.Digest)
	}
}

func TestParseRecipeErrors(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string
	}{
		{"unknown key", `variant    = "minbase"`, `variant    = "minbase"` + "\nvariantt = 1", `bad.toml:8: suite.variantt: unknown key`},
		{"wrong type", `size       = "1GiB"`, `size       = 12`, `bad.toml:11: image.size: cannot decode TOML integer`},
		{"unknown codename", `codename   = "bookworm"`, `codename   = "bookwrom"`, `bad.toml:4: suite.codename: unknown codename "bookwrom"`},
		{"unknown arch", `arch       = "amd64"`, `arch       = "amd46"`, `bad.toml:5: suite.arch: unknown architecture "amd46"`},
		{"bad clone host name", `hostname    = "slave{n}"`, `hostname    = "debian_slave{n}"`, `bad.toml:22: clone.hostname: "debian_slave{n}" gives "debian_slave1", which is not a valid host name`},
		{"ip outside subnet", `first_ip    = "10.0.0.11"`, `first_ip    = "10.0.1.11"`, `bad.toml:19: network.first_ip: 10.0.1.11 is outside subnet 10.0.0.0/24`},
		{"bad size", `swap       = "64MiB"`, `swap       = "64 parsecs"`, `bad.toml:12: image.swap: "64 parsecs" is not a size`},
		{"bad variant", `variant    = "minbase"`, `variant    = "maxbase"`, `bad.toml:7: suite.variant: unknown variant "maxbase"`},
		{"bad password hash", `[image]`, "[system]\nroot_password_hash = \"$6$x:0:0::\"\n\n[image]", `bad.toml:11: system.root_password_hash: "$6$x:0:0::" is not a crypt(3) hash`},
		{"bad package", `include    = ["openssh-server", "pvm"]`, `include    = ["openssh-server", "P V M"]`, `bad.toml:8: suite.include: "P V M" is not a Debian package name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(goodRecipe, tc.old, tc.new, 1)
			if src == goodRecipe {
				t.Fatalf("edit %q did not apply", tc.old)
			}
			_, err := ParseRecipe("bad.toml", []byte(src))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
			var re *RecipeError
			if !errors.As(err, &re) {
				t.Errorf("error %T is not a *RecipeError", err)
			}
		})
	}
}

func TestLoadRecipeMissingFile(t *testing.T) {
	_, err := LoadRecipe(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64MiB": 64 << 20, "512M": 512 << 20, "4096": 4096, "1G": 1 << 30, "0": 0} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1MiB", "1.5GiB", "99999999999TiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}
