package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/debootstrap"
	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/release"
)

// cacheFlags is where downloads are kept, and whether the network may be used.
type cacheFlags struct {
	dir      string
	offline  bool
	jobs     int
	progress *progress // nil: not a terminal
}

func (c *cacheFlags) register(fs *flag.FlagSet) {
	def := ""
	if d, err := os.UserCacheDir(); err == nil {
		def = filepath.Join(d, "xenimg")
	}
	fs.StringVar(&c.dir, "cache", def, "download cache `DIR`")
	fs.BoolVar(&c.offline, "offline", false, "use only the cache, never the network")
	fs.IntVar(&c.jobs, "jobs", 4, "parallel downloads")
}

func (c *cacheFlags) fetcher() (*fetch.Fetcher, error) {
	if c.dir == "" {
		return nil, usageError{"no cache directory: set --cache"}
	}
	o := fetch.Options{CacheDir: c.dir, Offline: c.offline, Jobs: c.jobs, UserAgent: "xenimg"}
	if c.progress != nil {
		o.Progress = c.progress.add
	}
	return fetch.New(o)
}

// firstStage turns a recipe into debootstrap options. now is the clock
// that signatures are checked against.
func firstStage(r *builder.Recipe, now time.Time) (debootstrap.Options, error) {
	o := debootstrap.Options{
		Mirror: r.Suite.Mirror, Codename: r.Suite.Codename, Arch: r.Suite.Arch,
		Components: r.Suite.Components, Variant: r.Suite.Variant,
		Include: r.Suite.Include, Exclude: r.Suite.Exclude,
		AllowExpired: r.Suite.AllowExpiredKeys, Now: now,
	}
	var (
		kr  openpgp.EntityList
		err error
	)
	if p := r.KeyringPath(); p != "" {
		kr, err = release.LoadKeyring(p)
	} else {
		kr, err = release.DefaultKeyring(r.Suite.Codename)
	}
	if err != nil {
		if r.Suite.Keyring != "" {
			return o, r.Fail("suite.keyring", err)
		}
		return o, fmt.Errorf("loading the default keyring for %s: %w", r.Suite.Codename, err)
	}
	o.Keyring = kr
	return o, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH, if set.
func sourceDateEpoch() (time.Time, bool, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, usageError{fmt.Sprintf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)}
	}
	return time.Unix(n, 0).UTC(), true, nil
}
