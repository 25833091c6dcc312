package secondstage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestChrootFailures checks that a failing maintainer script is reported
// with its package and output, and that cancelling leaves no mount, no
// process and no work directory behind.
func TestChrootFailures(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	testenv.Tool(t, "chroot")
	u := firstStage(t, "minbase")
	setPreinst := func(pkgName, script string) func() {
		p := "/var/lib/dpkg/info/" + pkgName + ".preinst"
		old, oldErr := u.tree.ReadFile(p)
		if err := u.tree.WriteFile(p, tree.Meta{Mode: 0o755}, []byte(script)); err != nil {
			t.Fatal(err)
		}
		return func() {
			if oldErr != nil {
				u.tree.Remove(p)
			} else {
				u.tree.WriteFile(p, tree.Meta{Mode: 0o755}, old)
			}
		}
	}
	opts := func(work string) Options {
		return Options{Mode: Chroot, Arch: "amd64", Epoch: u.epoch, Required: u.required, WorkDir: work, Log: testLog(t)}
	}
	noLeftovers := func(work string) {
		t.Helper()
		if ents, _ := os.ReadDir(work); len(ents) > 0 {
			t.Errorf("work directory not removed: %v", ents)
		}
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		if bytes.Contains(mi, []byte(work)) {
			t.Errorf("mounts left under %s:\n%s", work, mi)
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("xenimg-test-marker")) {
				t.Errorf("process left running: %s %q", p, b)
			}
		}
	}

	t.Run("preinst fails", func(t *testing.T) {
		defer setPreinst("base-files", "#!/bin/sh\necho \"preinst got $1 for $DPKG_MAINTSCRIPT_PACKAGE\"\ncp /bin/sleep /tmp/xenimg-test-marker\n/tmp/xenimg-test-marker 3000 &\nexit 3\n")()
		work := t.TempDir()
		_, _, err := Run(context.Background(), u.tree, opts(work))
		var ee *ExecError
		if !errors.As(err, &ee) {
			t.Fatalf("got %v, want an *ExecError", err)
		}
		if ee.Package != "base-files" || !strings.Contains(ee.Tail, "preinst got install for base-files") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("error does not name the package and its output: %v", err)
		}
		noLeftovers(work)
	})
	t.Run("preinst fails among others", func(t *testing.T) {
		// hostname is a required package: its preinst runs in one guest
		// shell with the other required packages' preinsts.
		defer setPreinst("hostname", "#!/bin/sh\necho \"hostname preinst: $1 $DPKG_MAINTSCRIPT_PACKAGE $DPKG_MAINTSCRIPT_NAME\"\nexit 4\n")()
		work := t.TempDir()
		_, _, err := Run(context.Background(), u.tree, opts(work))
		var ee *ExecError
		if !errors.As(err, &ee) {
			t.Fatalf("got %v, want an *ExecError", err)
		}
		if ee.Package != "hostname" || !strings.Contains(ee.Tail, "hostname preinst: install hostname preinst") ||
			!strings.Contains(err.Error(), `"/var/lib/dpkg/info/hostname.preinst install"`) || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("error does not name the package, its script and its output: %v", err)
		}
		noLeftovers(work)
	})
	t.Run("dpkg fails", func(t *testing.T) {
		defer setPreinst("hostname", "#!/bin/sh\nrm -f /var/lib/dpkg/info/hostname.postinst\nprintf '#!/bin/sh\\necho broken postinst\\nexit 1\\n' >/var/lib/dpkg/info/hostname.postinst\nchmod 755 /var/lib/dpkg/info/hostname.postinst\n")()
		work := t.TempDir()
		_, _, err := Run(context.Background(), u.tree, opts(work))
		var ee *ExecError
		if !errors.As(err, &ee) || ee.Package != "hostname" || !strings.Contains(ee.Tail, "broken postinst") {
			t.Errorf("got %v, want an *ExecError naming hostname", err)
		}
		noLeftovers(work)
	})
	t.Run("cancel", func(t *testing.T) {
		defer setPreinst("base-passwd", "#!/bin/sh\ntouch /started\ncp /bin/sleep /tmp/xenimg-test-marker\nexec /tmp/xenimg-test-marker 3000\n")()
		work := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				if m, _ := filepath.Glob(filepath.Join(work, "*/root/started")); len(m) > 0 {
					cancel()
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		_, _, err := Run(ctx, u.tree, opts(work))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		noLeftovers(work)
	})
}
