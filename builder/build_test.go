package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/debootstrap"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/release"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/internal/testarchive"
	"github.com/xenimg/xenimg/internal/testenv"
)

// sargeMirror writes the tests' sarge-format archive and returns its
// file:// URL and directory.
func sargeMirror(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	a := &testarchive.Archive{
		Codename: "sarge", Suite: "stable", Version: "3.1r8", Style: testarchive.Sarge,
		Key: testarchive.SargeKey(t), Packages: testarchive.SargeUniverse(),
	}
	if err := a.Write(dir); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir, dir
}

// sargeRecipe is recipes/sarge-pvm.toml pointed at a test mirror and key.
func sargeRecipe(t *testing.T, mirror, keyring string, edits ...string) *Recipe {
	t.Helper()
	data, err := os.ReadFile("../recipes/sarge-pvm.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	s = strings.Replace(s, `mirror     = "http://archive.debian.org/debian"`, `mirror     = "`+mirror+`"`, 1)
	s = strings.Replace(s, `keyring    = ""`, `keyring    = "`+keyring+`"`, 1)
	s = strings.Replace(s, `configure  = "auto"`, `configure  = "none"`, 1)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("recipe edit %q does not apply", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	// Small images keep the tests fast; the tree is about 1 MiB.
	s = strings.Replace(s, `size       = "1GiB"`, `size       = "64MiB"`, 1)
	p := filepath.Join(t.TempDir(), "sarge-pvm.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRecipe(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func buildOpts(t *testing.T, r *Recipe, out string, log *bytes.Buffer) Options {
	t.Helper()
	f, err := fetch.New(fetch.Options{CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := release.LoadKeyring(r.KeyringPath())
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = new(bytes.Buffer)
	}
	return Options{
		OutDir: out, Fetcher: f, Log: slog.New(slog.NewTextHandler(log, nil)),
		First: debootstrap.Options{
			Mirror: r.Suite.Mirror, Codename: r.Suite.Codename, Arch: r.Suite.Arch,
			Components: r.Suite.Components, Variant: r.Suite.Variant, Include: r.Suite.Include,
			Exclude: r.Suite.Exclude, Keyring: kr, AllowExpired: r.Suite.AllowExpiredKeys,
			Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		},
	}
}

func sha(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestBuildSarge(t *testing.T) {
	e2fsck := testenv.Tool(t, "e2fsck")
	dumpe2fs := testenv.Tool(t, "dumpe2fs")
	python := testenv.Tool(t, "python3")
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false))
	out := filepath.Join(t.TempDir(), "out")
	var log bytes.Buffer
	res, err := Build(context.Background(), r, buildOpts(t, r, out, &log))
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "expired") {
		t.Errorf("no warning about the expired key in the log:\n%s", log.String())
	}
	for _, f := range []string{"root.img", "swap.img", "sarge-pvm.cfg", "manifest.json", "recipe.toml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 5 {
		t.Errorf("out has %d entries, want 5 (no staging leftovers)", len(ents))
	}
	img := filepath.Join(out, "root.img")
	if o, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, o)
	}
	o, err := exec.Command(dumpe2fs, "-h", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, o)
	}
	for _, want := range []string{"Inode size:\t          128", "has_journal", "Filesystem volume name:   sarge-pvm"} {
		if !bytes.Contains(o, []byte(want)) {
			t.Errorf("dumpe2fs -h lacks %q:\n%s", want, o)
		}
	}
	if bytes.Contains(o, []byte("dir_index")) || bytes.Contains(o, []byte("resize_inode")) {
		t.Errorf("sarge image uses features its kernel lacks:\n%s", o)
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("lib/tls.disabled"); err != nil {
		t.Errorf("lib/tls.disabled: %v", err)
	}
	if _, err := fsys.Stat("lib/tls"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lib/tls still there: %v", err)
	}
	for path, want := range map[string]string{
		"etc/fstab":                  "/dev/sda1\t/\text3",
		"etc/hostname":               "template\n",
		"etc/network/interfaces":     "address 10.0.0.11",
		"etc/apt/sources.list":       "deb " + mirror + " sarge main",
		"var/lib/dpkg/status":        "Package: base-files",
		"var/lib/dpkg/info/ssh.list": "/.",
	} {
		data, err := fsys.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, data)
		}
	}
	if d, err := fsys.ReadDir("var/cache/apt/archives"); err != nil || len(d) < 100 {
		t.Errorf("var/cache/apt/archives: %d entries, %v (want the .debs for the second stage)", len(d), err)
	}

	// The xm config is Python and names the article's devices and bridge.
	cfg := filepath.Join(out, "sarge-pvm.cfg")
	py := `import sys; g = {}; exec(open(sys.argv[1]).read(), g); print(g["disk"], g["vif"], g["root"], g["memory"])`
	o, err = exec.Command(python, "-c", py, cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 reading %s: %v\n%s", cfg, err, o)
	}
	for _, want := range []string{"file:" + img + ",sda1,w", ",sda2,w", "bridge=xen-br0", "/dev/sda1 ro", " 64"} {
		if !bytes.Contains(o, []byte(want)) {
			t.Errorf("xm config evaluates to %s; lacks %q", o, want)
		}
	}

	// The manifest names every package with the .deb's SHA-256.
	var m Manifest
	data, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Packages) != len(res.Manifest.Packages) || len(m.Packages) < 100 {
		t.Errorf("manifest lists %d packages", len(m.Packages))
	}
	if m.Images["root.img"].SHA256 != sha(t, img) {
		t.Errorf("manifest root.img sha256 %s does not match the file", m.Images["root.img"].SHA256)
	}
	if m.Recipe.SHA256 != r.Digest || m.Suite.Codename != "sarge" || m.Suite.ReleaseDate == "" {
		t.Errorf("manifest header: %+v %+v", m.Recipe, m.Suite)
	}
}

func TestBuildSourcesMirror(t *testing.T) {
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false),
		"allow_expired_keys = true", "allow_expired_keys = true\nsources_mirror = \"http://10.0.0.1/debian\"")
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Build(context.Background(), r, buildOpts(t, r, out, nil)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "root.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := fsys.ReadFile("etc/apt/sources.list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "deb http://10.0.0.1/debian sarge main") || strings.Contains(string(data), mirror) {
		t.Errorf("sources.list does not name the sources mirror only:\n%s", data)
	}
}

func TestBuildReproducible(t *testing.T) {
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false))
	var sums [2][3]string
	for i := range sums {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Build(context.Background(), r, buildOpts(t, r, out, nil)); err != nil {
			t.Fatal(err)
		}
		for j, f := range []string{"root.img", "swap.img", "manifest.json"} {
			sums[i][j] = sha(t, filepath.Join(out, f))
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds differ: %v vs %v", sums[0], sums[1])
	}
}

func TestBuildBadInput(t *testing.T) {
	mirror, dir := sargeMirror(t)
	sargeKey := testarchive.PublicKeyring(t, testarchive.KeySarge, false)
	for _, tc := range []struct {
		name   string
		r      func() *Recipe
		tamper func(t *testing.T)
		want   string
	}{
		{name: "image too small", want: "needs at least",
			r: func() *Recipe { return sargeRecipe(t, mirror, sargeKey, `size       = "1GiB"`, `size       = "8MiB"`) }},
		{name: "unknown signer", want: "unknown",
			r: func() *Recipe {
				return sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeyOther, false))
			}},
		{name: "expired key without allow_expired_keys", want: "expired",
			r: func() *Recipe {
				return sargeRecipe(t, mirror, sargeKey, "allow_expired_keys = true", "allow_expired_keys = false")
			}},
		{name: "missing package", want: "no-such-package",
			r: func() *Recipe {
				return sargeRecipe(t, mirror, sargeKey, `include    = ["ssh", "pvm", "make", "m4"]`, `include    = ["ssh", "no-such-package"]`)
			}},
		{name: "root password without a second stage", want: "system.root_password: needs a second stage",
			r: func() *Recipe {
				return sargeRecipe(t, mirror, sargeKey, `disable_tls = true`, `disable_tls = true`+"\n"+`root_password = "s3cret"`)
			}},
		{name: "tampered Release", want: "verifying",
			r: func() *Recipe { return sargeRecipe(t, mirror, sargeKey) },
			tamper: func(t *testing.T) {
				data, err := os.ReadFile(filepath.Join(dir, "dists/sarge/Release"))
				if err != nil {
					t.Fatal(err)
				}
				data = []byte(strings.Replace(string(data), "Codename: sarge", "Codename: sarge ", 1))
				if err := os.WriteFile(filepath.Join(dir, "dists/sarge/Release"), data, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					os.WriteFile(filepath.Join(dir, "dists/sarge/Release"), []byte(strings.Replace(string(data), "Codename: sarge ", "Codename: sarge", 1)), 0o644)
				})
			}},
		{name: "corrupt deb", want: "pvm",
			r: func() *Recipe { return sargeRecipe(t, mirror, sargeKey) },
			tamper: func(t *testing.T) {
				a := &testarchive.Archive{Codename: "sarge", Style: testarchive.Sarge, Packages: testarchive.SargeUniverse()}
				p, err := a.DebPath("pvm")
				if err != nil {
					t.Fatal(err)
				}
				if err := testarchive.CorruptFile(dir, p); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r()
			if tc.tamper != nil {
				tc.tamper(t)
			}
			out := filepath.Join(t.TempDir(), "out")
			_, err := Build(context.Background(), r, buildOpts(t, r, out, nil))
			if err == nil {
				t.Fatal("build succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("failed build left %s behind (%v)", out, serr)
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	mirror, _ := sargeMirror(t)
	r := sargeRecipe(t, mirror, testarchive.PublicKeyring(t, testarchive.KeySarge, false))
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, r, buildOpts(t, r, out, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled build left %s behind", out)
	}
}
