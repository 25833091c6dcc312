package secondstage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// TestHostKeyPlaceholders: while configuring a root with an SSH server,
// every host key name the server's postinst would generate exists, so it
// generates none; undo removes only the empty placeholders it wrote.
func TestHostKeyPlaceholders(t *testing.T) {
	testenv.Root(t) // prepare makes device nodes
	for _, tc := range []struct {
		name      string
		postinst  string // package with a postinst in the root, "" for none
		realKey   bool   // a real ed25519 key is there before
		wantPlace bool
	}{
		{"openssh-server", "openssh-server", false, true},
		{"sarge ssh", "ssh", false, true},
		{"existing key kept", "openssh-server", true, true},
		{"no ssh server", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"etc/ssh", "var/lib/dpkg/info", "usr/sbin"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.postinst != "" {
				if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/info", tc.postinst+".postinst"), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			ed := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
			if tc.realKey {
				if err := os.WriteFile(ed, []byte("a real key\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			g, err := prepare(root)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range hostKeyNames {
				st, err := os.Lstat(filepath.Join(root, "etc/ssh", n))
				if tc.wantPlace && (err != nil || !st.Mode().IsRegular()) {
					t.Errorf("%s while configuring: %v, want a file", n, err)
				}
				if !tc.wantPlace && err == nil {
					t.Errorf("%s placed without an SSH server", n)
				}
			}
			// A postinst that did make a key (a non-empty file) keeps it.
			rsa := filepath.Join(root, "etc/ssh/ssh_host_rsa_key")
			if tc.wantPlace {
				if err := os.WriteFile(rsa, []byte("made while configuring\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.undo(root); err != nil {
				t.Fatal(err)
			}
			ms, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
			var want []string
			if tc.wantPlace {
				want = append(want, rsa)
			}
			if tc.realKey {
				want = append([]string{ed}, want...)
			}
			if len(ms) != len(want) {
				t.Fatalf("after undo: %v, want %v", ms, want)
			}
			for i := range ms {
				if ms[i] != want[i] {
					t.Errorf("after undo: %v, want %v", ms, want)
				}
			}
		})
	}
}
