package unpack

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/xenimg/xenimg/builder/tree"
)

// field is one field of a control paragraph, its value kept verbatim
// (continuation lines included, without the final newline).
type field struct {
	name, value string
}

// parseFields splits a deb822 paragraph into fields.
func parseFields(b []byte) ([]field, error) {
	var out []field
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case line == "" || strings.TrimSpace(line) == "":
			return nil, fmt.Errorf("line %d: empty line inside the paragraph", i+1)
		case line[0] == '#':
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: continuation line before any field", i+1)
			}
			out[len(out)-1].value += "\n" + line
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("line %d: %q is not a field", i+1, line)
			}
			out = append(out, field{name, strings.TrimSpace(value)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty paragraph")
	}
	return out, nil
}

func fieldValue(fs []field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// statusOrder is the order dpkg writes the fields it knows in its status
// file (dpkg's lib/dpkg/parse.c field table); other fields follow in the
// order of the control file.
var statusOrder = []string{
	"Package", "Essential", "Protected", "Status", "Priority", "Section",
	"Installed-Size", "Origin", "Maintainer", "Bugs", "Architecture",
	"Multi-Arch", "Source", "Version", "Config-Version", "Replaces",
	"Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks",
	"Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending",
	"Triggers-Awaited",
}

// statusParagraph is the package's status entry after "dpkg --unpack".
func statusParagraph(r *result) []byte {
	fields := slices.Clone(r.fields)
	fields = append(fields, field{"Status", "install ok unpacked"})
	if len(r.conffile) > 0 {
		var b strings.Builder
		for _, p := range conffileOrder(r) {
			fmt.Fprintf(&b, "\n %s %s", p, r.conffile[p])
		}
		fields = append(fields, field{"Conffiles", b.String()})
	}
	var out bytes.Buffer
	used := make([]bool, len(fields))
	for _, name := range statusOrder {
		for i, f := range fields {
			if !used[i] && strings.EqualFold(f.name, name) {
				writeField(&out, name, f.value)
				used[i] = true
				break
			}
		}
	}
	for i, f := range fields {
		if !used[i] {
			writeField(&out, f.name, f.value)
		}
	}
	return out.Bytes()
}

func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	if value != "" && value[0] != '\n' {
		b.WriteByte(' ')
	}
	b.WriteString(value)
	b.WriteByte('\n')
}

// conffileOrder is the conffiles in the order the conffiles control file
// lists them.
func conffileOrder(r *result) []string {
	cf, _ := r.control.File("conffiles")
	var out []string
	for _, line := range strings.Split(string(cf), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		p := tree.Clean(fs[len(fs)-1])
		if _, ok := r.conffile[p]; ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// infoName is the base name of a package's files in /var/lib/dpkg/info.
func infoName(p Package) string {
	if p.MultiArch == "same" {
		return p.Name + ":" + p.Architecture
	}
	return p.Name
}

// listFile is PKG.list: "/." then every entry in archive order.
func listFile(r *result) []byte {
	var b bytes.Buffer
	b.WriteString("/.\n")
	for _, s := range r.entries {
		if s.name == "/" {
			continue
		}
		b.WriteString(s.name)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// archiveName is the apt cache name of a package's .deb.
func archiveName(p Package) string {
	return p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Architecture + ".deb"
}

var scripts = map[string]bool{"preinst": true, "postinst": true, "prerm": true, "postrm": true, "config": true}

// writeDatabase writes /var/lib/dpkg and the apt archive copies.
func writeDatabase(t *tree.Tree, results []*result, opts Options) error {
	dm := tree.Meta{Mode: 0o755, Mtime: opts.Epoch}
	fm := tree.Meta{Mode: 0o644, Mtime: opts.Epoch}
	for _, d := range []string{"/var/lib/dpkg/info", "/var/lib/dpkg/updates", "/var/lib/dpkg/triggers", "/var/lib/dpkg/alternatives"} {
		if err := t.MkdirAll(d, dm); err != nil {
			return fmt.Errorf("writing the dpkg database: %w", err)
		}
	}
	write := func(p string, m tree.Meta, b []byte) error {
		if err := t.WriteFile(p, m, b); err != nil {
			return fmt.Errorf("writing the dpkg database: %w", err)
		}
		return nil
	}
	// Later packages of the same name and architecture replace earlier
	// ones, as in the tree.
	byKey := map[string]*result{}
	var keys []string
	for _, r := range results {
		k := r.pkg.Name + ":" + r.pkg.Architecture
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = r
	}
	slices.Sort(keys)
	// Format 1 is the multiarch layout: PKG:ARCH.* names for Multi-Arch:
	// same packages. Without it dpkg looks for the old names.
	if err := write("/var/lib/dpkg/info/format", fm, []byte("1\n")); err != nil {
		return err
	}
	var status bytes.Buffer
	for _, k := range keys {
		r := byKey[k]
		status.Write(statusParagraph(r))
		status.WriteByte('\n')
		base := "/var/lib/dpkg/info/" + infoName(r.pkg) + "."
		if err := write(base+"list", fm, r.list); err != nil {
			return err
		}
		for _, f := range r.control.Files {
			if f.Name == "control" {
				continue
			}
			m := fm
			if scripts[f.Name] {
				m.Mode = 0o755
			}
			if err := write(base+f.Name, m, f.Data); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"status", status.Bytes()},
		{"available", nil},
		{"diversions", nil},
		{"statoverride", nil},
		{"arch", []byte(opts.Arch + "\n")},
	} {
		if f.name == "arch" && opts.Arch == "" {
			continue
		}
		if err := write("/var/lib/dpkg/"+f.name, fm, f.data); err != nil {
			return err
		}
	}
	if opts.ArchiveCopies {
		dir := "/var/cache/apt/archives"
		if err := t.MkdirAll(dir+"/partial", dm); err != nil {
			return fmt.Errorf("writing apt archive copies: %w", err)
		}
		for _, k := range keys {
			r := byKey[k]
			c := tree.HostFile(r.pkg.Deb, 0, r.size)
			if _, err := t.Create(dir+"/"+archiveName(r.pkg), fm, c); err != nil {
				return fmt.Errorf("writing apt archive copies: %w", err)
			}
		}
	}
	return nil
}
