package secondstage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// writeTriggerInterests writes dpkg's trigger interest database
// (/var/lib/dpkg/triggers/File and one file per explicit trigger) from the
// packages' triggers control files, as "dpkg --unpack" would have. Nothing
// is done when the database already has a File.
func writeTriggerInterests(root string) error {
	tdir := filepath.Join(root, "var/lib/dpkg/triggers")
	if _, err := os.Lstat(filepath.Join(tdir, "File")); err == nil {
		return nil
	}
	files, err := filepath.Glob(filepath.Join(root, "var/lib/dpkg/info/*.triggers"))
	if err != nil {
		return fmt.Errorf("reading trigger interests: %w", err)
	}
	slices.Sort(files)
	if err := addTriggerInterests(root, files); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(tdir, "File")); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(filepath.Join(tdir, "File"), nil, 0o644); err != nil {
			return fmt.Errorf("writing trigger interests: %w", err)
		}
	}
	if _, err := os.Lstat(filepath.Join(tdir, "Unincorp")); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(filepath.Join(tdir, "Unincorp"), nil, 0o644); err != nil {
			return fmt.Errorf("writing trigger interests: %w", err)
		}
	}
	return nil
}

// addTriggerInterests adds the interests of the given triggers control
// files to the root's trigger database, as unpacking their packages would.
func addTriggerInterests(root string, files []string) error {
	interests, err := parseInterests(files)
	if err != nil {
		return err
	}
	tdir := filepath.Join(root, "var/lib/dpkg/triggers")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return fmt.Errorf("writing trigger interests: %w", err)
	}
	names := slices.Sorted(maps.Keys(interests))
	for _, name := range names {
		p := filepath.Join(tdir, name)
		lines := interests[name]
		old, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("writing trigger interests: %w", err)
		}
		for l := range strings.Lines(string(old)) {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		slices.Sort(lines)
		lines = slices.Compact(lines)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing trigger interests: %w", err)
		}
	}
	return nil
}

// parseInterests maps each database file name ("File" or a trigger name)
// to its lines, from triggers control files named PKG.triggers.
func parseInterests(files []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading trigger interests: %w", err)
		}
		owner := strings.TrimSuffix(filepath.Base(f), ".triggers")
		for i, line := range bytes.Split(data, []byte("\n")) {
			fields := strings.Fields(string(line))
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			suffix := ""
			switch fields[0] {
			case "interest", "interest-await":
			case "interest-noawait":
				suffix = "/noawait"
			case "activate", "activate-await", "activate-noawait":
				continue
			default:
				return nil, fmt.Errorf("%s:%d: unknown trigger directive %q", f, i+1, fields[0])
			}
			if len(fields) != 2 {
				return nil, fmt.Errorf("%s:%d: want %q and one trigger name", f, i+1, fields[0])
			}
			name := fields[1]
			if strings.HasPrefix(name, "/") {
				out["File"] = append(out["File"], name+" "+owner+suffix)
				continue
			}
			if strings.ContainsAny(name, "/") || name == "." || name == ".." || name == "File" || name == "Unincorp" || name == "Lock" {
				return nil, fmt.Errorf("%s:%d: bad trigger name %q", f, i+1, name)
			}
			out[name] = append(out[name], owner+suffix)
		}
	}
	return out, nil
}
