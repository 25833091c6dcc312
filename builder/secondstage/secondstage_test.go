package secondstage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/tree"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		err  bool
	}{
		{"", Auto, false}, {"auto", Auto, false}, {"chroot", Chroot, false},
		{"firstboot", Firstboot, false}, {"none", None, false},
		{"Chroot", "", true}, {"foreign", "", true},
	} {
		got, err := ParseMode(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMode(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrMode) {
			t.Errorf("ParseMode(%q): %v does not wrap ErrMode", tc.in, err)
		}
	}
}

const statusFixture = `Package: zlib1g
Status: install ok unpacked
Architecture: amd64
Multi-Arch: same
Version: 1:1.2.13

Package: mawk
Status: install ok unpacked
Architecture: amd64
Version: 1.3.4

Package: libc6
Status: install ok unpacked
Architecture: amd64
Multi-Arch: same
Version: 2.36-9

Package: adduser
Status: install ok unpacked
Architecture: all
Version: 3.134

Package: base-passwd
Status: install ok unpacked
Architecture: amd64
Version: 3.6.1

Package: already
Status: install ok installed
Architecture: amd64
Version: 1

Package: openssh-server
Status: install ok unpacked
Architecture: amd64
Version: 1:9.2p1

Package: dpkg
Status: install ok unpacked
Architecture: amd64
Version: 1.21.22
`

func TestOrder(t *testing.T) {
	ps, err := parseStatus([]byte(statusFixture))
	if err != nil {
		t.Fatal(err)
	}
	pl := order(ps, []string{"zlib1g", "mawk", "adduser:amd64", "missing"})
	names := func(ps []pkg) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.infoName())
		}
		return out
	}
	if got, want := names(pl.Core), []string{"base-passwd", "dpkg", "libc6:amd64", "mawk"}; !slices.Equal(got, want) {
		t.Errorf("core %v, want %v", got, want)
	}
	if got, want := names(pl.Required), []string{"zlib1g:amd64", "adduser"}; !slices.Equal(got, want) {
		t.Errorf("required %v, want %v", got, want)
	}
	if got, want := names(pl.Rest), []string{"openssh-server"}; !slices.Equal(got, want) {
		t.Errorf("rest %v, want %v", got, want)
	}
	if dpkgVersion(pl) != "1.21.22" {
		t.Errorf("dpkg version %q", dpkgVersion(pl))
	}
}

func TestParseStatusBad(t *testing.T) {
	for _, s := range []string{
		"Status: install ok unpacked\n",
		"Package: a;rm -rf /\nStatus: install ok unpacked\n",
		"Package: ../x\n",
		"Package: a b\n",
	} {
		if _, err := parseStatus([]byte(s)); err == nil {
			t.Errorf("parseStatus(%q) accepted", s)
		}
	}
}

func TestTriggerInterests(t *testing.T) {
	root := t.TempDir()
	info := filepath.Join(root, "var/lib/dpkg/info")
	os.MkdirAll(info, 0o755)
	os.WriteFile(filepath.Join(info, "libc-bin.triggers"), []byte("# comment\ninterest-await ldconfig\n"), 0o644)
	os.WriteFile(filepath.Join(info, "man-db.triggers"), []byte("interest-noawait /usr/share/man\nactivate-noawait ldconfig\n"), 0o644)
	os.WriteFile(filepath.Join(info, "x:amd64.triggers"), []byte("interest ldconfig\ninterest /usr/lib/x\n"), 0o644)
	if err := writeTriggerInterests(root); err != nil {
		t.Fatal(err)
	}
	read := func(n string) string {
		b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/triggers", n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("File"), "/usr/lib/x x:amd64\n/usr/share/man man-db/noawait\n"; got != want {
		t.Errorf("File = %q, want %q", got, want)
	}
	if got, want := read("ldconfig"), "libc-bin\nx:amd64\n"; got != want {
		t.Errorf("ldconfig = %q, want %q", got, want)
	}
	if read("Unincorp") != "" {
		t.Error("Unincorp not empty")
	}
	for _, bad := range []string{"interest\n", "interest a b\n", "frobnicate x\n", "interest ../x\n", "interest File\n"} {
		os.WriteFile(filepath.Join(info, "bad.triggers"), []byte(bad), 0o644)
		if _, err := parseInterests([]string{filepath.Join(info, "bad.triggers")}); err == nil || !strings.Contains(err.Error(), "bad.triggers:1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestBinfmt(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) { os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644) }
	write("register", "")
	write("status", "enabled\n")
	write("qemu-aarch64", "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n")
	write("qemu-arm", "enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: OC\n")
	write("qemu-riscv64", "disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\n")
	for _, tc := range []struct {
		arch string
		ok   bool
		why  string
	}{
		{"arm64", true, "qemu-aarch64"},
		{"armhf", false, "F flag"},
		{"riscv64", false, "no binfmt_misc emulator"},
		{"s390x", false, "no binfmt_misc emulator"},
		{"vax", false, "no emulator is known"},
	} {
		ok, why := binfmt(dir, tc.arch)
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("binfmt(%s) = %v %q", tc.arch, ok, why)
		}
	}
	if ok, why := binfmt(filepath.Join(dir, "missing"), "arm64"); ok || !strings.Contains(why, "not mounted") {
		t.Errorf("missing binfmt_misc: %v %q", ok, why)
	}
	if !nativeArch("amd64", "i386") || nativeArch("amd64", "arm64") || !nativeArch("arm64", "arm64") {
		t.Error("nativeArch")
	}
}

func TestShadowDates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "shadow")
	in := "root:*:20400:0:99999:7:::\nsshd:!:20401::::::\nnodate:*::0:99999:7:::\n"
	os.WriteFile(p, []byte(in), 0o640)
	if err := shadowDates(p, 1700000000); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "root:*:19675:0:99999:7:::\nsshd:!:19675::::::\nnodate:*::0:99999:7:::\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	if err := shadowDates(filepath.Join(t.TempDir(), "none"), 1700000000); err != nil {
		t.Error(err)
	}
}

func TestRenderFirstboot(t *testing.T) {
	ps, _ := parseStatus([]byte(statusFixture))
	s, err := renderFirstboot(order(ps, []string{"zlib1g"}), 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#!/bin/sh\n", "SOURCE_DATE_EPOCH=1700000000\n", "echo 'libc6:amd64 libc6 amd64'", "echo 'adduser adduser all'", "DPKG_RUNNING_VERSION='1.21.22'", "exec /sbin/init \"$@\"\n"} {
		if !strings.Contains(string(s), want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Contains(string(s), "already") {
		t.Error("script configures an installed package")
	}
	bad := plan{Core: []pkg{{Name: "dpkg", Version: "1'2"}}}
	if _, err := renderFirstboot(bad, 1); err == nil {
		t.Error("a quote in a version went into the script")
	}
}

func TestRunModes(t *testing.T) {
	tr, err := tree.New(tree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	got, mode, err := Run(context.Background(), tr, Options{Mode: None})
	if err != nil || mode != None || got != tr {
		t.Errorf("None: %v %v", mode, err)
	}
	if _, _, err := Run(context.Background(), tr, Options{Mode: "foreign"}); !errors.Is(err, ErrMode) {
		t.Errorf("bad mode: %v", err)
	}
	// An architecture nothing here runs: Chroot refuses before any work,
	// Auto falls back to Firstboot (which needs a dpkg status).
	if _, _, err := Run(context.Background(), tr, Options{Mode: Chroot, Arch: "vax"}); !errors.Is(err, ErrCannotChroot) {
		t.Errorf("chroot for vax: %v", err)
	}
	_, _, err = Run(context.Background(), tr, Options{Mode: Auto, Arch: "vax"})
	if err == nil || !strings.Contains(err.Error(), "dpkg status") {
		t.Errorf("auto for vax without a status: %v", err)
	}
	if err := tr.MkdirAll("/var/lib/dpkg", tree.Meta{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteFile(statusPath, tree.Meta{Mode: 0o644}, []byte(statusFixture)); err != nil {
		t.Fatal(err)
	}
	got, mode, err = Run(context.Background(), tr, Options{Mode: Auto, Arch: "vax", Epoch: 1700000000})
	if err != nil || mode != Firstboot || got != tr {
		t.Fatalf("auto for vax: %v %v", mode, err)
	}
	if n, err := tr.Lookup(FirstbootPath); err != nil || n.Mode != 0o755 || n.Mtime != 1700000000 {
		t.Errorf("firstboot script: %v", err)
	}
	if os.Geteuid() == 0 && runtime.GOARCH == "amd64" {
		for _, a := range []string{"amd64", "i386"} {
			if why := cannotChroot(a); why != "" {
				t.Errorf("cannot chroot %s as root on amd64: %s", a, why)
			}
		}
	}
	if cannotChroot("") == "" {
		t.Error("chroot without an architecture")
	}
}
