package testarchive

import (
	"bytes"
	"crypto"
	"crypto/md5" //nolint:gosec // Release and Packages carry MD5 sums.
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Archive describes a Debian archive to write: one suite (dists/<Codename>)
// and its pool.
type Archive struct {
	Codename string // dists/<Codename>; required
	Suite    string // Suite: field; default "stable"
	// Version is the Release Version: field (e.g. "3.1r8", "12.5").
	Version    string
	Components []string // default ["main"]
	Arches     []string // default: the arches of the packages (not "all")
	Style      Style
	// Key signs Release.gpg (and InRelease for Modern). Nil: unsigned.
	Key *openpgp.Entity
	// SignTime is the signature creation time; zero: Date.
	SignTime time.Time
	// Date is the Release Date: field; zero: the style's epoch.
	Date time.Time
	// ValidUntil adds a Valid-Until: field when not zero.
	ValidUntil time.Time
	// Indexes lists the Packages files written per component and arch, as
	// suffixes: "" (plain), ".gz", ".xz". Default: Sarge [".gz"], Modern
	// [".xz", ".gz"]. The plain Packages is always listed in Release (as
	// Debian does) even when it is not written.
	Indexes  []string
	Packages []Package
}

// sortedPackages returns the packages sorted by name, version, arch.
func (a *Archive) sortedPackages() []Package {
	ps := append([]Package(nil), a.Packages...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		if ps[i].Version != ps[j].Version {
			return ps[i].Version < ps[j].Version
		}
		return ps[i].Arch < ps[j].Arch
	})
	return ps
}

func (a *Archive) components() []string {
	if len(a.Components) == 0 {
		return []string{"main"}
	}
	return a.Components
}

func (a *Archive) arches() []string {
	if len(a.Arches) > 0 {
		return a.Arches
	}
	set := map[string]bool{}
	for _, p := range a.Packages {
		if p.Arch != "all" {
			set[p.Arch] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *Archive) component(p Package) string {
	if p.Component != "" {
		return p.Component
	}
	return a.components()[0]
}

// PoolPath returns the pool path of p in component comp, as dak lays it
// out: pool/<comp>/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb,
// where prefix is "libX" for lib* sources and the first letter otherwise.
func PoolPath(comp string, p Package) string {
	src := p.Source
	if src == "" {
		src = p.Name
	}
	if i := strings.IndexByte(src, ' '); i >= 0 { // "Source: foo (1.2)"
		src = src[:i]
	}
	prefix := src[:1]
	if strings.HasPrefix(src, "lib") && len(src) > 3 {
		prefix = src[:4]
	}
	ver := p.Version
	if i := strings.IndexByte(ver, ':'); i >= 0 {
		ver = ver[i+1:]
	}
	return fmt.Sprintf("pool/%s/%s/%s/%s_%s_%s.deb", comp, prefix, src, p.Name, ver, p.Arch)
}

// DebPath returns the pool path of the named package in this archive.
func (a *Archive) DebPath(name string) (string, error) {
	for _, p := range a.Packages {
		if p.Name == name {
			return PoolPath(a.component(p), p), nil
		}
	}
	return "", fmt.Errorf("testarchive: no package %s", name)
}

// Write writes dists/<Codename>/ and pool/ under dir. The bytes depend only
// on the Archive value.
func (a *Archive) Write(dir string) error {
	if a.Codename == "" {
		return fmt.Errorf("testarchive: archive without codename")
	}
	date := a.Date
	if date.IsZero() {
		date = a.Style.epoch()
	}
	signTime := a.SignTime
	if signTime.IsZero() {
		signTime = date
	}
	indexes := a.Indexes
	if indexes == nil {
		if a.Style == Sarge {
			indexes = []string{".gz"}
		} else {
			indexes = []string{".xz", ".gz"}
		}
	}
	suite := a.Suite
	if suite == "" {
		suite = "stable"
	}
	comps, arches := a.components(), a.arches()
	compSet := map[string]bool{}
	for _, c := range comps {
		compSet[c] = true
	}

	// Build and write every .deb, remember its Packages paragraph.
	type entry struct {
		pkg  Package
		para []field
	}
	var entries []entry
	for _, p := range a.sortedPackages() {
		comp := a.component(p)
		if !compSet[comp] {
			return fmt.Errorf("package %s: component %s not in archive components %v", p.Name, comp, comps)
		}
		deb, ctl, err := buildDeb(p, a.Style)
		if err != nil {
			return fmt.Errorf("building %s_%s_%s.deb: %w", p.Name, p.Version, p.Arch, err)
		}
		rel := PoolPath(comp, p)
		if err := writeFile(dir, rel, deb); err != nil {
			return err
		}
		entries = append(entries, entry{p, packagesParagraph(a.Style, ctl, rel, deb)})
	}

	distRel := filepath.ToSlash(filepath.Join("dists", a.Codename))
	type sum struct {
		path string
		body []byte
	}
	var sums []sum
	for _, comp := range comps {
		for _, arch := range arches {
			var idx bytes.Buffer
			for _, e := range entries {
				if a.component(e.pkg) != comp || (e.pkg.Arch != arch && e.pkg.Arch != "all") {
					continue
				}
				if idx.Len() > 0 {
					idx.WriteByte('\n')
				}
				writeParagraph(&idx, e.para)
			}
			base := comp + "/binary-" + arch + "/"
			sums = append(sums, sum{base + "Packages", idx.Bytes()})
			for _, ext := range indexes {
				var body []byte
				switch ext {
				case "":
					body = idx.Bytes()
				case ".gz", ".xz", ".zst":
					var err error
					body, _, err = compress(idx.Bytes(), strings.TrimPrefix(ext, "."))
					if err != nil {
						return fmt.Errorf("compressing %sPackages%s: %w", base, ext, err)
					}
				default:
					return fmt.Errorf("testarchive: unknown index suffix %q", ext)
				}
				if err := writeFile(dir, distRel+"/"+base+"Packages"+ext, body); err != nil {
					return err
				}
				if ext != "" {
					sums = append(sums, sum{base + "Packages" + ext, body})
				}
			}
			var rel bytes.Buffer
			writeParagraph(&rel, []field{{"Archive", suite}, {"Version", a.Version}, {"Component", comp},
				{"Origin", "Debian"}, {"Label", "Debian"}, {"Architecture", arch}})
			if err := writeFile(dir, distRel+"/"+base+"Release", rel.Bytes()); err != nil {
				return err
			}
			sums = append(sums, sum{base + "Release", rel.Bytes()})
		}
	}
	sort.SliceStable(sums, func(i, j int) bool { return sums[i].path < sums[j].path })

	var rel bytes.Buffer
	desc := "Debian " + a.Version + " test archive"
	fs := []field{{"Origin", "Debian"}, {"Label", "Debian"}, {"Suite", suite}, {"Version", a.Version},
		{"Codename", a.Codename}, {"Date", date.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC")}}
	if !a.ValidUntil.IsZero() {
		fs = append(fs, field{"Valid-Until", a.ValidUntil.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC")})
	}
	fs = append(fs, field{"Architectures", strings.Join(arches, " ")},
		field{"Components", strings.Join(comps, " ")}, field{"Description", desc})
	writeParagraph(&rel, fs)
	rel.WriteString("MD5Sum:\n")
	width := 8
	if a.Style == Sarge {
		width = 16 // apt-ftparchive's layout
	}
	for _, s := range sums {
		fmt.Fprintf(&rel, " %x %*d %s\n", md5.Sum(s.body), width, len(s.body), s.path)
	}
	if a.Style != Sarge {
		rel.WriteString("SHA256:\n")
		for _, s := range sums {
			fmt.Fprintf(&rel, " %x %*d %s\n", sha256.Sum256(s.body), width, len(s.body), s.path)
		}
	}
	if err := writeFile(dir, distRel+"/Release", rel.Bytes()); err != nil {
		return err
	}
	if a.Key == nil {
		return nil
	}
	sg := signer{key: a.Key, time: signTime, hash: crypto.SHA256}
	if a.Style == Sarge {
		sg.hash = crypto.SHA1
	}
	sig, err := sg.detach(rel.Bytes(), sigTypeBinary)
	if err != nil {
		return fmt.Errorf("signing %s/Release: %w", distRel, err)
	}
	if err := writeFile(dir, distRel+"/Release.gpg", sig); err != nil {
		return err
	}
	if a.Style == Sarge {
		return nil
	}
	in, err := sg.clearsign(rel.Bytes())
	if err != nil {
		return fmt.Errorf("clearsigning %s/InRelease: %w", distRel, err)
	}
	return writeFile(dir, distRel+"/InRelease", in)
}

// packagesParagraph returns the Packages stanza of a .deb in the field
// order of the style's archive software (katie for sarge, dak today).
func packagesParagraph(style Style, ctl []field, filename string, deb []byte) []field {
	get := func(name string) string {
		for _, f := range ctl {
			if f.name == name {
				return f.value
			}
		}
		return ""
	}
	size := fmt.Sprint(len(deb))
	md := fmt.Sprintf("%x", md5.Sum(deb))
	if style == Sarge {
		return []field{
			{"Package", get("Package")}, {"Essential", get("Essential")}, {"Priority", get("Priority")},
			{"Section", get("Section")}, {"Installed-Size", get("Installed-Size")},
			{"Maintainer", get("Maintainer")}, {"Architecture", get("Architecture")},
			{"Source", get("Source")}, {"Version", get("Version")}, {"Replaces", get("Replaces")},
			{"Provides", get("Provides")}, {"Pre-Depends", get("Pre-Depends")}, {"Depends", get("Depends")},
			{"Recommends", get("Recommends")}, {"Suggests", get("Suggests")}, {"Conflicts", get("Conflicts")},
			{"Filename", filename}, {"Size", size}, {"MD5sum", md},
			{"Description", get("Description")},
		}
	}
	desc := get("Description")
	return []field{
		{"Package", get("Package")}, {"Source", get("Source")}, {"Version", get("Version")},
		{"Installed-Size", get("Installed-Size")}, {"Maintainer", get("Maintainer")},
		{"Architecture", get("Architecture")}, {"Replaces", get("Replaces")}, {"Provides", get("Provides")},
		{"Pre-Depends", get("Pre-Depends")}, {"Depends", get("Depends")}, {"Recommends", get("Recommends")},
		{"Suggests", get("Suggests")}, {"Breaks", get("Breaks")}, {"Conflicts", get("Conflicts")},
		{"Description", strings.SplitN(desc, "\n", 2)[0]}, {"Multi-Arch", get("Multi-Arch")},
		{"Description-md5", fmt.Sprintf("%x", md5.Sum([]byte(descriptionMD5Text(desc))))},
		{"Essential", get("Essential")}, {"Section", get("Section")}, {"Priority", get("Priority")},
		{"Filename", filename}, {"Size", size}, {"MD5sum", md},
		{"SHA256", fmt.Sprintf("%x", sha256.Sum256(deb))},
	}
}

// descriptionMD5Text is the text Description-md5 covers: the description
// with continuation lines unindented, newline-terminated.
func descriptionMD5Text(desc string) string {
	lines := strings.Split(desc, "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = strings.TrimPrefix(lines[i], " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

func writeFile(dir, rel string, body []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	return nil
}
