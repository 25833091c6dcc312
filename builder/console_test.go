package builder

import (
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/tree"
)

func TestXenConsole(t *testing.T) {
	const inittab = "id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\n"
	for _, tc := range []struct {
		codename string
		hvc0     bool
	}{{"sarge", false}, {"squeeze", true}, {"wheezy", true}} {
		tr, err := tree.New(tree.Options{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := tr.MkdirAll("/etc", tree.Meta{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteFile("/etc/inittab", tree.Meta{Mode: 0o644}, []byte(inittab)); err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteFile("/etc/securetty", tree.Meta{Mode: 0o644}, []byte("console\ntty1\n")); err != nil {
			t.Fatal(err)
		}
		for range 2 { // idempotent
			if err := xenConsole(tr, tc.codename, 0); err != nil {
				t.Fatal(err)
			}
		}
		it, _ := tr.ReadFile("/etc/inittab")
		st, _ := tr.ReadFile("/etc/securetty")
		got := strings.Count(string(it), "hvc0:2345:respawn:/sbin/getty 38400 hvc0")
		if (got == 1) != tc.hvc0 || got > 1 {
			t.Errorf("%s: inittab has %d hvc0 getty lines:\n%s", tc.codename, got, it)
		}
		if strings.Contains(string(st), "hvc0") != tc.hvc0 {
			t.Errorf("%s: securetty %q", tc.codename, st)
		}
		if !strings.HasPrefix(string(it), inittab) {
			t.Errorf("%s: the guest's own lines were changed:\n%s", tc.codename, it)
		}
	}
	// Without an inittab (systemd) nothing happens.
	tr, err := tree.New(tree.Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := xenConsole(tr, "bookworm", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Lookup("/etc/inittab"); err == nil {
		t.Error("xenConsole created an inittab")
	}
}
