package resolve

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"time"

	"github.com/xenimg/xenimg/builder/debootstrap/archive"
	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/internal/testenv"
	"golang.org/x/sync/errgroup"
)

// fetchIndex opens the suite with package archive (Release signature and
// index checksums verified) and parses its main Packages index.
func fetchIndex(ctx context.Context, cacheDir, mirror, codename, arch string) ([]control.Package, *control.Index, error) {
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir})
	if err != nil {
		return nil, nil, err
	}
	a, err := archive.Open(ctx, f, archive.Options{Mirror: mirror, Codename: codename,
		Components: []string{"main"}, Arch: arch, Now: time.Now()})
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s %s: %w", mirror, codename, err)
	}
	data, err := a.Packages(ctx, "main", arch)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s main %s: %w", codename, arch, err)
	}
	name := codename + "/main/binary-" + arch + "/Packages"
	// The parser keeps every field, in order: writing the paragraphs back
	// gives the index as published, up to what dpkg also drops (trailing
	// whitespace of values, extra blank lines at the end).
	paras, err := control.ParseBytes(name, data)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	if err := control.Write(&b, paras); err != nil {
		return nil, nil, err
	}
	if normalise(b.Bytes()) != normalise(data) {
		return nil, nil, fmt.Errorf("%s: parse and write changed the index (%d bytes, then %d)", name, len(data), b.Len())
	}
	pkgs, err := control.ParsePackagesBytes(name, data)
	if err != nil {
		return nil, nil, err
	}
	ix, err := control.ScanPackages(name, data)
	return pkgs, ix, err
}

func normalise(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

func run(ctx context.Context, name string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("running %s %s: %w\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), err
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	sort.Strings(f)
	out := f[:0]
	for i, n := range f {
		if i == 0 || n != f[i-1] {
			out = append(out, n)
		}
	}
	return out
}

func diff(want, got []string) (missing, extra []string) {
	w, g := map[string]bool{}, map[string]bool{}
	for _, n := range want {
		w[n] = true
	}
	for _, n := range got {
		g[n] = true
		if !w[n] {
			extra = append(extra, n)
		}
	}
	for _, n := range want {
		if !g[n] {
			missing = append(missing, n)
		}
	}
	return missing, extra
}

// TestAgainstDebootstrap is the acceptance of issue 2: our names equal
// `debootstrap --print-debs` for bookworm amd64 minbase and important and
// trixie i386 minbase, and what `mmdebstrap --simulate` installs for
// bookworm important + openssh-server,make,m4,pvm,build-essential.
func TestAgainstDebootstrap(t *testing.T) {
	testenv.Network(t)
	testenv.Root(t)
	debootstrap := testenv.Tool(t, "debootstrap")
	mmdebstrap := testenv.Tool(t, "mmdebstrap")
	mirror := testenv.Mirror()
	ctx := t.Context()

	type suite struct{ codename, arch string }
	suites := []suite{{"bookworm", "amd64"}, {"trixie", "i386"}}
	indexes := make([][]control.Package, len(suites))
	scanned := make([]*control.Index, len(suites))

	type dbCase struct {
		suite   int
		variant string
	}
	dbCases := []dbCase{{0, "minbase"}, {0, "-"}, {1, "minbase"}}
	dbOut := make([]string, len(dbCases))
	var mmErr string
	include := []string{"openssh-server", "make", "m4", "pvm", "build-essential"}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(6)
	for i, s := range suites {
		cache := t.TempDir()
		g.Go(func() error {
			var err error
			indexes[i], scanned[i], err = fetchIndex(gctx, cache, mirror, s.codename, s.arch)
			return err
		})
	}
	for i, c := range dbCases {
		dir := t.TempDir()
		g.Go(func() error {
			s := suites[c.suite]
			var err error
			dbOut[i], _, err = run(gctx, debootstrap, "--print-debs", "--variant="+c.variant, "--arch="+s.arch, s.codename, dir, mirror)
			return err
		})
	}
	mmTar := t.TempDir() + "/out.tar"
	g.Go(func() error {
		var err error
		_, mmErr, err = run(gctx, mmdebstrap, "--simulate", "--verbose", "--variant=important",
			"--include="+strings.Join(include, ","), "--architectures=amd64", "bookworm", mmTar, mirror)
		return err
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	universes := make([]*Universe, len(suites))
	lazy := make([]*Universe, len(suites)) // what xenimg build uses
	for i, s := range suites {
		universes[i] = NewUniverse(s.arch, indexes[i])
		var err error
		if lazy[i], err = NewIndexUniverse(s.arch, scanned[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range dbCases {
		s := suites[c.suite]
		set, err := Resolve(universes[c.suite], Options{Codename: s.codename, Variant: Variant(c.variant)})
		sameResolve(t, lazy[c.suite], Options{Codename: s.codename, Variant: Variant(c.variant)}, set, err)
		if err != nil {
			t.Errorf("%s %s %s: %v", s.codename, s.arch, c.variant, err)
			continue
		}
		want := sortedFields(dbOut[i])
		missing, extra := diff(want, set.Names())
		if len(missing)+len(extra) > 0 || len(want) < 50 {
			t.Errorf("%s %s %s: %d names from debootstrap, %d from us; missing %v, extra %v",
				s.codename, s.arch, c.variant, len(want), len(set.Names()), missing, extra)
		} else {
			t.Logf("%s %s %s: %d packages, same as debootstrap", s.codename, s.arch, c.variant, len(want))
		}
		if len(set.Conflicts) > 0 {
			t.Errorf("%s %s %s: conflicts %v", s.codename, s.arch, c.variant, set.Conflicts)
		}
	}

	// mmdebstrap prints apt's "Inst NAME (VERSION ...)" lines with --verbose.
	var mm []string
	for _, l := range strings.Split(mmErr, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Inst" {
			mm = append(mm, f[1])
		}
	}
	mm = sortedFields(strings.Join(mm, " "))
	u := universes[0]
	set, err := Resolve(u, Options{Codename: "bookworm", Variant: Important, Include: include})
	sameResolve(t, lazy[0], Options{Codename: "bookworm", Variant: Important, Include: include}, set, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Conflicts) > 0 {
		t.Errorf("include set: conflicts %v", set.Conflicts)
	}
	// Deliberate difference: for bookworm debootstrap (and we) seed
	// usr-is-merged and never follow usrmerge; mmdebstrap lets apt take
	// usrmerge, the first alternative of init-system-helpers'
	// "usrmerge | usr-is-merged", which brings usrmerge's own dependencies.
	// So mmdebstrap's extra names must be exactly usrmerge and packages
	// reachable from it only, and ours exactly usr-is-merged.
	missing, extra := diff(mm, set.Names())
	if len(extra) != 1 || extra[0] != "usr-is-merged" {
		t.Errorf("names we select that mmdebstrap does not: %v, want [usr-is-merged]", extra)
	}
	fromUsrmerge := map[string]bool{}
	queue := []string{"usrmerge"}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if fromUsrmerge[n] {
			continue
		}
		fromUsrmerge[n] = true
		if p, ok := u.Candidate(n); ok {
			for _, rels := range []control.Relations{p.PreDepends, p.Depends} {
				for _, r := range rels {
					queue = append(queue, r[0].Name)
				}
			}
		}
	}
	sawUsrmerge := false
	for _, n := range missing {
		sawUsrmerge = sawUsrmerge || n == "usrmerge"
		if !fromUsrmerge[n] {
			t.Errorf("mmdebstrap installs %s, we do not, and usrmerge does not explain it", n)
		}
	}
	if len(mm) < 150 || !sawUsrmerge {
		t.Errorf("mmdebstrap output not understood: %d names, usrmerge seen %v", len(mm), sawUsrmerge)
	}
	t.Logf("bookworm important + %v: %d packages; mmdebstrap %d (usrmerge difference: -%v +%v)", include, len(set.Packages), len(mm), missing, extra)
}

// sameResolve checks that resolving opt from u (a universe over a scanned
// index) gives what resolving from the parsed index gave: want, wantErr.
func sameResolve(t *testing.T, u *Universe, opt Options, want *Set, wantErr error) {
	t.Helper()
	got, err := Resolve(u, opt)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Errorf("%+v: scanned index: error %v, parsed: %v", opt, err, wantErr)
		return
	}
	if err != nil {
		return
	}
	if len(got.Packages) != len(want.Packages) || !reflect.DeepEqual(got.Conflicts, want.Conflicts) {
		t.Errorf("%+v: scanned index: %d packages, %v conflicts; parsed: %d, %v", opt, len(got.Packages), got.Conflicts, len(want.Packages), want.Conflicts)
		return
	}
	for i := range got.Packages {
		g, w := got.Packages[i], want.Packages[i]
		if !reflect.DeepEqual(*g.Package, *w.Package) {
			t.Errorf("%+v: %s: scanned index parses to %+v, want %+v", opt, g.Name, *g.Package, *w.Package)
		}
		g.Package, w.Package = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%+v: scanned index selects %+v, parsed %+v", opt, g, w)
		}
	}
}
