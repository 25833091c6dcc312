package secondstage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xenimg/xenimg/builder/tree"
)

// removeGlobs are removed from a configured tree to make it a clean,
// reproducible template (paths relative to the root, filepath.Match
// patterns). Each slave gets its own host keys and ids later; logs,
// caches and package lists are stale or host-specific.
var removeGlobs = []string{
	"etc/ssh/ssh_host_*",
	"var/lib/dbus/machine-id",
	"var/lib/systemd/random-seed",
	"var/lib/systemd/credential.secret",
	"var/lib/urandom/random-seed",
	"var/log/dpkg.log",
	"var/log/alternatives.log",
	"var/log/bootstrap.log",
	"var/log/apt/*",
	"var/cache/ldconfig/aux-cache",
	"var/cache/debconf/*-old",
	"var/lib/dpkg/*-old",
	"var/cache/apt/*.bin",
	"var/cache/apt/archives/*.deb",
}

// cleanTemplate removes what must not be shared between guests or would
// differ between two builds, in the host directory root.
func cleanTemplate(root string, o Options) error {
	var removed int
	for _, g := range removeGlobs {
		ms, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return fmt.Errorf("cleaning the template: %w", err)
		}
		for _, m := range ms {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("cleaning the template: %w", err)
			}
			removed++
		}
	}
	// apt lists: everything but the lock and the partial directory.
	lists := filepath.Join(root, "var/lib/apt/lists")
	if ents, err := os.ReadDir(lists); err == nil {
		for _, e := range ents {
			if e.Name() == "lock" || e.Name() == "partial" {
				continue
			}
			if err := os.RemoveAll(filepath.Join(lists, e.Name())); err != nil {
				return fmt.Errorf("cleaning the template: %w", err)
			}
			removed++
		}
	}
	// An empty machine-id tells systemd to make one at the first boot.
	mid := filepath.Join(root, "etc/machine-id")
	if st, err := os.Lstat(mid); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		if err := os.Truncate(mid, 0); err != nil {
			return fmt.Errorf("emptying /etc/machine-id: %w", err)
		}
	}
	if err := shadowDates(filepath.Join(root, "etc/shadow"), o.Epoch); err != nil {
		return err
	}
	o.Log.Debug("template cleaned", "removed", removed)
	return nil
}

// shadowDates sets the "last password change" field of every account in a
// shadow file to the epoch's day, the date a SOURCE_DATE_EPOCH-aware
// shadow would have written (older suites write today's date). An empty
// field stays empty; nothing is done when the epoch is in the first day
// (day 0 would force a password change).
func shadowDates(path string, epoch int64) error {
	day := epoch / 86400
	if day <= 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	lines := strings.Split(string(data), "\n")
	changed := false
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) < 3 || f[2] == "" {
			continue
		}
		if _, err := strconv.ParseInt(f[2], 10, 64); err != nil {
			continue
		}
		if d := strconv.FormatInt(day, 10); f[2] != d {
			f[2] = d
			lines[i] = strings.Join(f, ":")
			changed = true
		}
	}
	if !changed {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), st.Mode().Perm()); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// clampMtimes sets every modification time later than epoch to epoch, as
// mmdebstrap does with SOURCE_DATE_EPOCH.
func clampMtimes(t *tree.Tree, epoch int64) {
	_ = t.Walk(func(_ string, n *tree.Node) error {
		if n.Mtime > epoch {
			n.Mtime = epoch
		}
		return nil
	})
}
