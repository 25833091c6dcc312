package debootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/xenimg/xenimg/builder/debootstrap/archive"
	"github.com/xenimg/xenimg/builder/debootstrap/control"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/resolve"
)

// Options say which Debian to bootstrap.
type Options struct {
	Mirror     string // http(s):// or file:// archive root
	Codename   string
	Arch       string
	Components []string
	Variant    string
	Include    []string
	Exclude    []string
	// Keyring verifies the archive; nil means the default for Codename.
	Keyring      openpgp.EntityList
	AllowExpired bool
	// Now is the time signatures are checked against (the caller's clock).
	Now time.Time
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Plan is a verified archive and the package set resolved from it.
type Plan struct {
	Suite   Suite
	Archive *archive.Archive
	Set     *resolve.Set
	opts    Options
}

// Resolve opens and verifies the archive, loads its indexes and resolves
// the package set.
func Resolve(ctx context.Context, f *fetch.Fetcher, o Options) (*Plan, error) {
	suite, ok := LookupSuite(o.Codename)
	if !ok {
		return nil, fmt.Errorf("debootstrap: unknown codename %q", o.Codename)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a, err := archive.Open(ctx, f, archive.Options{
		Mirror: o.Mirror, Codename: o.Codename, Components: o.Components, Arch: o.Arch,
		Keyring: o.Keyring, AllowExpired: o.AllowExpired, Now: o.Now,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range a.Warnings {
		log.Warn(w)
	}
	log.Info("archive verified", "mirror", o.Mirror, "suite", o.Codename, "date", a.Date().Format(time.RFC1123Z))
	u, err := loadUniverse(ctx, a, o)
	if err != nil {
		return nil, err
	}
	set, err := resolve.Resolve(u, resolve.Options{
		Codename: o.Codename, Variant: resolve.Variant(o.Variant),
		Include: o.Include, Exclude: o.Exclude,
		MirrorHTTPS: strings.HasPrefix(o.Mirror, "https://"),
	})
	if err != nil {
		return nil, fmt.Errorf("resolving %s %s %s: %w", o.Codename, o.Arch, o.Variant, err)
	}
	for _, c := range set.Conflicts {
		log.Warn("conflict inside the package set", "conflict", c.String())
	}
	detach(set)
	log.Info("resolved", "packages", len(set.Packages))
	return &Plan{Suite: suite, Archive: a, Set: set, opts: o}, nil
}

// loadUniverse loads the Packages indexes of every component and builds
// the universe while they are decompressed: decompression keeps one core
// busy, checksumming, scanning and indexing the other.
func loadUniverse(ctx context.Context, a *archive.Archive, o Options) (*resolve.Universe, error) {
	var streams []*archive.Stream
	defer func() {
		for _, s := range streams {
			s.Close() // stops the ones not read to the end after an error
		}
	}()
	hint := 0
	for _, comp := range o.Components {
		ss, err := a.PackagesStreams(ctx, comp, o.Arch)
		if err != nil {
			return nil, fmt.Errorf("loading %s/binary-%s/Packages: %w", comp, o.Arch, err)
		}
		streams = append(streams, ss...)
		for _, s := range ss {
			hint += s.SizeHint / 700 // bytes per paragraph in bookworm: 790
		}
	}
	b := resolve.NewBuilder(o.Arch, hint)
	for _, s := range streams {
		sc := control.NewIndexScanner(a.URL("dists/"+o.Codename+"/"+s.Index), s.SizeHint)
		added := 0
		for {
			data, final, err := s.Next()
			if err != nil {
				return nil, fmt.Errorf("loading %s: %w", s.Index, err)
			}
			if err := sc.Scan(data, final); err != nil {
				return nil, err
			}
			ix := sc.Partial()
			if err := b.Add(ix, added); err != nil {
				return nil, err
			}
			added = ix.Len()
			if final {
				break
			}
		}
		if _, err := sc.Index(); err != nil {
			return nil, err
		}
	}
	return b.Universe(), nil
}

// detach copies what the plan keeps of each selected package out of the
// parsed indexes, so that they (tens of MB for a current suite) can be
// freed before unpacking starts.
func detach(set *resolve.Set) {
	for i := range set.Packages {
		s := &set.Packages[i]
		s.Name, s.Arch, s.Filename = strings.Clone(s.Name), strings.Clone(s.Arch), strings.Clone(s.Filename)
		s.MD5sum, s.SHA1, s.SHA256 = strings.Clone(s.MD5sum), strings.Clone(s.SHA1), strings.Clone(s.SHA256)
		s.Priority = strings.Clone(s.Priority)
		s.Version.Version, s.Version.Revision = strings.Clone(s.Version.Version), strings.Clone(s.Version.Revision)
		s.Package = nil
	}
}

// Requests lists the .debs of the plan as fetch requests, in set order.
func (p *Plan) Requests() ([]fetch.Request, error) {
	reqs := make([]fetch.Request, len(p.Set.Packages))
	for i, s := range p.Set.Packages {
		if s.Filename == "" || strings.Contains(s.Filename, "..") {
			return nil, fmt.Errorf("package %s %s: bad Filename %q in the index", s.Name, s.Version, s.Filename)
		}
		sum := fetch.Sum{Size: s.Size, MD5: s.MD5sum, SHA1: s.SHA1, SHA256: s.SHA256}
		if sum.MD5 == "" && sum.SHA1 == "" && sum.SHA256 == "" {
			return nil, fmt.Errorf("package %s %s: the index gives no checksum", s.Name, s.Version)
		}
		reqs[i] = fetch.Request{URL: p.Archive.URL(s.Filename), Sum: sum}
	}
	return reqs, nil
}

// Fetch downloads (or finds in the cache) every .deb of the plan and
// returns their local paths, in set order.
func (p *Plan) Fetch(ctx context.Context, f *fetch.Fetcher) ([]string, error) {
	reqs, err := p.Requests()
	if err != nil {
		return nil, err
	}
	paths, err := f.Files(ctx, reqs)
	if err != nil {
		var miss *fetch.MissingError
		if errors.As(err, &miss) {
			return nil, err
		}
		return nil, fmt.Errorf("fetching packages: %w", err)
	}
	return paths, nil
}
