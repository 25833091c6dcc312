// Package testenv decides what a test may do on this machine.
//
// A test that needs root, a loop device, the network or an external tool
// calls one of these helpers. Outside CI a missing prerequisite skips the
// test; with CI=true it fails it, so a green CI run proves the real parts
// were exercised.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the test runs under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips the test outside CI and fails it under CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing under CI: "+format, args...)
	}
	t.Skipf("prerequisite missing: "+format, args...)
}

// Tool returns the path of an external program, or skips/fails.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		missing(t, "tool %s not found", name)
	}
	return p
}

// Root requires uid 0.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root")
	}
}

// Binfmt requires an enabled binfmt_misc handler (e.g. "qemu-aarch64")
// with the F flag, which chroots into foreign-architecture trees need.
func Binfmt(t testing.TB, handler string) {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + handler)
	if err != nil {
		missing(t, "binfmt_misc handler %s: %v (qemu-user-static, binfmt-support)", handler, err)
		return
	}
	enabled, fix := false, false
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSpace(l)
		enabled = enabled || l == "enabled"
		if f, ok := strings.CutPrefix(l, "flags: "); ok {
			fix = strings.Contains(f, "F")
		}
	}
	if !enabled || !fix {
		missing(t, "binfmt_misc handler %s is not enabled with the F flag:\n%s", handler, data)
	}
}

// Network requires that deb.debian.org answers on port 80.
func Network(t testing.TB) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skip("network test skipped in -short mode")
	}
	c, err := net.DialTimeout("tcp", "deb.debian.org:80", 10*time.Second)
	if err != nil {
		missing(t, "network: %v", err)
		return
	}
	c.Close()
}

// Mirror is the Debian mirror the tests use (XENIMG_TEST_MIRROR overrides).
func Mirror() string {
	if m := os.Getenv("XENIMG_TEST_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}
