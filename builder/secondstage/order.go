package secondstage

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"github.com/xenimg/xenimg/builder/tree"
)

const statusPath = "/var/lib/dpkg/status"

// pkg is one package of the dpkg status file.
type pkg struct {
	Name      string
	Version   string
	Arch      string
	MultiArch string
	Status    string // "install ok unpacked", ...
}

// infoName is the base name of the package's files in /var/lib/dpkg/info.
func (p pkg) infoName() string {
	if p.MultiArch == "same" {
		return p.Name + ":" + p.Arch
	}
	return p.Name
}

// readStatus parses the tree's dpkg status file.
func readStatus(t *tree.Tree) ([]pkg, error) {
	data, err := t.ReadFile(statusPath)
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	return parseStatus(data)
}

func parseStatus(data []byte) ([]pkg, error) {
	paras, err := control.ParseBytes(statusPath, data)
	if err != nil {
		return nil, fmt.Errorf("parsing the dpkg status: %w", err)
	}
	out := make([]pkg, 0, len(paras))
	for i, p := range paras {
		name := p.Get("Package")
		if name == "" {
			return nil, fmt.Errorf("parsing the dpkg status: paragraph %d has no Package field", i+1)
		}
		if strings.ContainsAny(name, "/ \t'\"\\$`;&|<>") || strings.Contains(name, "..") {
			return nil, fmt.Errorf("parsing the dpkg status: bad package name %q", name)
		}
		out = append(out, pkg{Name: name, Version: p.Get("Version"), Arch: p.Get("Architecture"), MultiArch: p.Get("Multi-Arch"), Status: p.Get("Status")})
	}
	return out, nil
}

// corePackages is the order in which debootstrap's second stage installs
// the packages everything else needs ("x_core_install"), libc under each
// of its names.
var corePackages = []string{"base-passwd", "base-files", "dpkg", "libc6", "libc6.1", "libc0.1", "libc0.3", "perl-base", "mawk", "debconf"}

// plan is the configuration order: core packages one by one, then the
// rest of the required list, then everything else.
type plan struct {
	Core     []pkg
	Required []pkg
	Rest     []pkg
}

func (p plan) all() []pkg {
	return slices.Concat(p.Core, p.Required, p.Rest)
}

// order splits the packages that still need configuring into the three
// groups; within Required the caller's order is kept, Rest is sorted by
// name. Packages already installed are left out.
func order(pkgs []pkg, required []string) plan {
	byName := map[string][]pkg{}
	for _, p := range pkgs {
		if strings.HasSuffix(p.Status, " installed") {
			continue
		}
		byName[p.Name] = append(byName[p.Name], p)
	}
	var pl plan
	take := func(name string) []pkg {
		ps := byName[name]
		delete(byName, name)
		return ps
	}
	for _, n := range corePackages {
		pl.Core = append(pl.Core, take(n)...)
	}
	for _, n := range required {
		n, _, _ = strings.Cut(n, ":")
		pl.Required = append(pl.Required, take(n)...)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pl.Rest = append(pl.Rest, byName[n]...)
	}
	return pl
}

// dpkgNames are the names to hand dpkg --configure: arch-qualified for
// Multi-Arch: same.
func dpkgNames(ps []pkg) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.infoName()
	}
	return out
}
