package resolve

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
)

// universe builds a universe from a Packages text as xenimg build does:
// from a scanned index, packages parsed when looked at. It also checks
// that the universe of the parsed packages has the same names, seeds and
// providers.
func universe(t *testing.T, arch, text string) *Universe {
	t.Helper()
	pkgs, err := control.ParsePackagesBytes("test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	parsed := NewUniverse(arch, pkgs)
	ix, err := control.ScanPackages("test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewIndexUniverse(arch, ix)
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != parsed.Len() || !reflect.DeepEqual(u.WithPriority("required"), parsed.WithPriority("required")) {
		t.Fatalf("scanned universe: %d packages, parsed %d", u.Len(), parsed.Len())
	}
	for _, p := range pkgs {
		if !reflect.DeepEqual(u.Versions(p.Name), parsed.Versions(p.Name)) {
			t.Fatalf("%s: scanned versions %v, parsed %v", p.Name, u.Versions(p.Name), parsed.Versions(p.Name))
		}
		for _, rel := range p.Provides {
			if n := rel[0].Name; !reflect.DeepEqual(u.Providers(n), parsed.Providers(n)) {
				t.Fatalf("%s: scanned providers %v, parsed %v", n, u.Providers(n), parsed.Providers(n))
			}
		}
	}
	return u
}

// base is a minimal required set every case starts from.
const base = `Package: base-files
Version: 1
Architecture: amd64
Priority: required

Package: apt
Version: 1
Architecture: amd64

`

func names(s *Set) string { return strings.Join(s.Names(), " ") }

func TestRelations(t *testing.T) {
	for _, tc := range []struct {
		name, pkgs, include, want, err string
	}{
		{name: "plain", include: "a", want: "a apt b base-files", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b

Package: b
Version: 1
Architecture: all
`},
		{name: "pre-depends and versions", include: "a", want: "a apt b base-files c", pkgs: `
Package: a
Version: 1
Architecture: amd64
Pre-Depends: b (>= 2)
Depends: c (<< 1:0)

Package: b
Version: 2
Architecture: amd64

Package: b
Version: 1
Architecture: amd64

Package: c
Version: 5
Architecture: amd64
`},
		{name: "alternatives first real", include: "a", want: "a apt base-files x", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: x | y

Package: x
Version: 1
Architecture: amd64

Package: y
Version: 1
Architecture: amd64
`},
		{name: "alternative first too old", include: "a", want: "a apt base-files y", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: x (>= 2) | y

Package: x
Version: 1
Architecture: amd64

Package: y
Version: 1
Architecture: amd64
`},
		{name: "alternative satisfied by selection", include: "a,y", want: "a apt base-files y", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: v | y

Package: y
Version: 1
Architecture: amd64

Package: p
Version: 1
Architecture: amd64
Provides: v
`},
		{name: "virtual one provider", include: "a", want: "a apt base-files mawk", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: awk

Package: mawk
Version: 1
Architecture: amd64
Priority: required
Provides: awk

Package: gawk
Version: 1
Architecture: amd64
Priority: optional
Provides: awk
`},
		{name: "virtual ranked by priority then name", include: "a", want: "a apt b-mta base-files", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: mail-transport-agent

Package: c-mta
Version: 1
Architecture: amd64
Priority: optional
Provides: mail-transport-agent

Package: b-mta
Version: 1
Architecture: amd64
Priority: standard
Provides: mail-transport-agent

Package: a-mta
Version: 1
Architecture: amd64
Priority: extra
Provides: mail-transport-agent
`},
		{name: "versioned provides", include: "a", want: "a apt base-files new", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: v (>= 2)

Package: old
Version: 9
Architecture: amd64
Provides: v (= 1)

Package: plain
Version: 9
Architecture: amd64
Provides: v

Package: new
Version: 1
Architecture: amd64
Priority: extra
Provides: v (= 2.1)
`},
		{name: "obsolete < and >", include: "a", want: "a apt b base-files c", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b (< 1), c (> 2)

Package: b
Version: 1
Architecture: amd64

Package: c
Version: 2
Architecture: amd64
`},
		{name: "obsolete < means <=", include: "a", err: "b 2 does not satisfy <= 1", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b (< 1)

Package: b
Version: 2
Architecture: amd64
`},
		{name: "any and native", include: "a", want: "a apt base-files perl python3", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: python3:any (>= 3.11), perl:native

Package: python3
Version: 3.11.2-1
Architecture: amd64
Multi-Arch: allowed

Package: perl
Version: 5.36
Architecture: amd64
Multi-Arch: allowed
`},
		{name: "any needs Multi-Arch allowed", include: "a", err: "a -> b:any: no candidate: b 1 is not Multi-Arch: allowed", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b:any

Package: b
Version: 1
Architecture: amd64
Multi-Arch: foreign
`},
		{name: "foreign arch qualifier", include: "a", err: "architecture i386 is not amd64", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b:i386

Package: b
Version: 1
Architecture: amd64
Multi-Arch: same
`},
		{name: "multi-arch same and foreign resolve normally", include: "a", want: "a apt b base-files c", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b, c

Package: b
Version: 1
Architecture: amd64
Multi-Arch: same

Package: c
Version: 1
Architecture: all
Multi-Arch: foreign
`},
		{name: "other arch ignored", include: "a", err: "b: not in the archive", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b

Package: b
Version: 1
Architecture: i386
`},
		{name: "missing dependency chain", include: "openssh-server", err: "resolve: openssh-server -> libssl3 (>= 3.0.9): no candidate: libssl3 3.0.8 does not satisfy >= 3.0.9", pkgs: `
Package: openssh-server
Version: 1
Architecture: amd64
Depends: libssl3 (>= 3.0.9)

Package: libssl3
Version: 3.0.8
Architecture: amd64
`},
		{name: "deep chain", include: "a", err: "resolve: a -> b -> c (= 2): no candidate: c 1 does not satisfy = 2", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b

Package: b
Version: 1
Architecture: amd64
Depends: c (= 2)

Package: c
Version: 1
Architecture: amd64
`},
		{name: "missing include", include: "nosuch", err: "resolve: nosuch: no candidate: nosuch: not in the archive"},
		{name: "include virtual", include: "awk", err: "awk: a virtual package", pkgs: `
Package: mawk
Version: 1
Architecture: amd64
Provides: awk
`},
		{name: "unsatisfiable virtual", include: "a", err: "a -> v (>= 3) | w: no candidate: p provides v 2, >= 3 needed; w: not in the archive", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: v (>= 3) | w

Package: p
Version: 1
Architecture: amd64
Provides: v (= 2)
`},
		{name: "one version per name", include: "a,c", err: "resolve: c -> b (>= 2): no candidate: b 1 is already selected (a -> b)", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b (<< 2)

Package: c
Version: 1
Architecture: amd64
Depends: b (>= 2)

Package: b
Version: 2
Architecture: amd64

Package: b
Version: 1
Architecture: amd64
`},
		{name: "older version when the newest does not fit", include: "a", want: "a apt b base-files", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b (<< 2)

Package: b
Version: 2
Architecture: amd64

Package: b
Version: 1
Architecture: amd64
`},
		{name: "cycle", include: "a", want: "a apt b base-files", pkgs: `
Package: a
Version: 1
Architecture: amd64
Depends: b

Package: b
Version: 1
Architecture: amd64
Pre-Depends: a
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := universe(t, "amd64", base+tc.pkgs)
			set, err := Resolve(u, Options{Codename: "bullseye", Variant: Minbase, Include: strings.Split(tc.include, ",")})
			if tc.err != "" {
				var de *DepError
				if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want DepError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(set); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMinbaseNeedsApt(t *testing.T) {
	u := universe(t, "amd64", base[:strings.Index(base, "Package: apt")])
	_, err := Resolve(u, Options{Codename: "bullseye", Variant: Minbase})
	if err == nil || !strings.Contains(err.Error(), "apt: not in the archive") {
		t.Fatalf("err = %v", err)
	}
}

const smallArchive = `Package: base-files
Version: 1
Architecture: amd64
Priority: required
Pre-Depends: awk
Depends: init-system-helpers

Package: mawk
Version: 1
Architecture: amd64
Priority: required
Provides: awk

Package: init-system-helpers
Version: 1.65
Architecture: all
Priority: optional
Depends: usrmerge | usr-is-merged

Package: usrmerge
Version: 1
Architecture: all
Priority: optional

Package: usr-is-merged
Version: 1
Architecture: all
Priority: optional

Package: apt
Version: 2.6
Architecture: amd64
Priority: important
Depends: libapt

Package: libapt
Version: 2.6
Architecture: amd64
Priority: optional

Package: cron
Version: 3
Architecture: amd64
Priority: important
Breaks: apt (<< 3), ghost

Package: less
Version: 590
Architecture: amd64
Priority: standard
Conflicts: mawk (<< 0.5)

Package: build-essential
Version: 12.9
Architecture: amd64
Priority: optional

Package: ghost-provider
Version: 1
Architecture: amd64
Priority: optional
Provides: ghost

Package: ca-certificates
Version: 1
Architecture: all
Priority: optional
`

func TestVariants(t *testing.T) {
	u := universe(t, "amd64", smallArchive)
	for _, tc := range []struct {
		opt       Options
		req, base string
	}{
		{Options{Codename: "bookworm", Variant: Minbase}, "base-files init-system-helpers mawk usr-is-merged", "apt libapt"},
		{Options{Codename: "bookworm", Variant: "important"}, "base-files init-system-helpers mawk usr-is-merged", "apt cron libapt"},
		{Options{Codename: "bookworm", Variant: "-", MirrorHTTPS: true}, "base-files init-system-helpers mawk usr-is-merged", "apt ca-certificates cron libapt"},
		{Options{Codename: "trixie", Variant: Buildd}, "base-files init-system-helpers mawk usr-is-merged", "apt build-essential libapt"},
		{Options{Codename: "trixie", Variant: Standard}, "base-files init-system-helpers mawk usr-is-merged", "apt cron less libapt"},
		// Before bookworm debootstrap follows usrmerge, the first alternative.
		{Options{Codename: "bullseye", Variant: Minbase}, "base-files init-system-helpers mawk usrmerge", "apt libapt"},
		// Exclude drops seeds only; a dependency brings libapt back.
		{Options{Codename: "bookworm", Variant: Minbase, Exclude: []string{"libapt", "mawk"}, Include: []string{"ghost-provider"}},
			"base-files init-system-helpers mawk usr-is-merged", "apt ghost-provider libapt"},
	} {
		set, err := Resolve(u, tc.opt)
		if err != nil {
			t.Errorf("%+v: %v", tc.opt, err)
			continue
		}
		var req, bs []string
		for _, p := range set.List(Required) {
			req = append(req, p.Name)
		}
		for _, p := range set.List(Base) {
			bs = append(bs, p.Name)
		}
		if strings.Join(req, " ") != tc.req || strings.Join(bs, " ") != tc.base {
			t.Errorf("%+v:\n required %v, want %s\n base %v, want %s", tc.opt, req, tc.req, bs, tc.base)
		}
	}
}

func TestConflicts(t *testing.T) {
	u := universe(t, "amd64", smallArchive)
	set, err := Resolve(u, Options{Codename: "bookworm", Variant: Standard, Include: []string{"ghost-provider"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range set.Conflicts {
		got = append(got, c.String())
	}
	want := []string{
		"cron breaks apt (<< 3) (apt is selected)",
		"cron breaks ghost (ghost-provider is selected)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conflicts = %q, want %q", got, want)
	}
}

func TestUnknownVariant(t *testing.T) {
	u := universe(t, "amd64", smallArchive)
	for _, o := range []Options{{Codename: "bookworm", Variant: "fakechroot"}, {Codename: "sarge", Variant: Minbase}} {
		if _, err := Resolve(u, o); !errors.Is(err, ErrUnknownVariant) {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
}

func TestSelectedFields(t *testing.T) {
	u := universe(t, "amd64", base+`
Package: a
Version: 1:2.0-1
Architecture: all
Priority: important
Essential: yes
Filename: pool/main/a/a_2.0-1_all.deb
Size: 1234
MD5sum: 11
SHA1: 22
SHA256: 33
`)
	set, err := Resolve(u, Options{Codename: "stretch", Variant: Important})
	if err != nil {
		t.Fatal(err)
	}
	a := set.Packages[0]
	if a.Name != "a" || a.Version.String() != "1:2.0-1" || a.Arch != "all" || a.Filename != "pool/main/a/a_2.0-1_all.deb" ||
		a.Size != 1234 || a.MD5sum != "11" || a.SHA1 != "22" || a.SHA256 != "33" || a.Priority != "important" || !a.Essential || a.List != Base {
		t.Errorf("%+v", a)
	}
	if b := set.Packages[1]; b.Name != "base-files" || b.List != Required {
		t.Errorf("%+v", b)
	}
}

func TestSargeLists(t *testing.T) {
	r386 := SargeRequired("i386")
	for _, n := range r386 {
		if n == "libperl5.8" {
			t.Error("i386 required has libperl5.8")
		}
	}
	if len(r386) != len(SargeRequired("arm"))-1 {
		t.Errorf("i386 %d, arm %d", len(r386), len(SargeRequired("arm")))
	}
	b := SargeBase("i386")
	if got := strings.Join(b[len(b)-4:], " "); got != "pciutils psmisc ipchains iptables" {
		t.Errorf("i386 base tail = %q", got)
	}
	if a := SargeRequired("alpha"); strings.Contains(" "+strings.Join(a, " ")+" ", " libc6 ") {
		t.Error("alpha still has libc6")
	}
	// Sarge seeds come from the fixed lists, not Priority fields.
	var text strings.Builder
	for _, n := range append(SargeRequired("i386"), SargeBase("i386")...) {
		text.WriteString("Package: " + n + "\nVersion: 1\nArchitecture: i386\nPriority: optional\n\n")
	}
	text.WriteString("Package: other\nVersion: 1\nArchitecture: i386\nPriority: required\n")
	set, err := Resolve(universe(t, "i386", text.String()), Options{Codename: "sarge"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(set.List(Required)); n != len(r386) {
		t.Errorf("%d required, want %d", n, len(r386))
	}
	for _, p := range set.Packages {
		if p.Name == "other" {
			t.Error("sarge picked a Priority: required package")
		}
	}
}

func TestDeterministic(t *testing.T) {
	u := universe(t, "amd64", smallArchive)
	opt := Options{Codename: "bookworm", Variant: Standard, Include: []string{"ghost-provider"}}
	a, err := Resolve(u, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b, err := Resolve(universe(t, "amd64", smallArchive), opt)
		if err != nil {
			t.Fatal(err)
		}
		if names(a) != names(b) || !reflect.DeepEqual(a.Conflicts, b.Conflicts) {
			t.Fatalf("run %d differs", i)
		}
	}
}

func TestSeedsUsrMerge(t *testing.T) {
	u := universe(t, "amd64", smallArchive)
	for _, tc := range []struct {
		codename, required, excl string
	}{
		{"bullseye", "base-files mawk", ""},
		{"bookworm", "base-files mawk usr-is-merged", "usrmerge"},
		{"trixie", "base-files mawk", "usrmerge"},
		{"sid", "base-files mawk", "usrmerge"},
	} {
		req, _, excl, err := Seeds(u, Options{Codename: tc.codename, Variant: Minbase})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(req, " ") != tc.required || strings.Join(excl, " ") != tc.excl {
			t.Errorf("%s: required %v excludeDeps %v", tc.codename, req, excl)
		}
	}
}
