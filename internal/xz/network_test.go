package xz

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/internal/testenv"
)

// TestDebian decodes bookworm's Packages.xz and the xz members of a few
// real .debs (the largest users of xz in a build, and small ones) from the
// test mirror, and compares each with xz -dc. Downloads are cached in
// $TMPDIR/xenimg-xz-cache.
func TestDebian(t *testing.T) {
	testenv.Network(t)
	xz := testenv.Tool(t, "xz")
	ctx := context.Background()
	f, err := fetch.New(fetch.Options{CacheDir: filepath.Join(os.TempDir(), "xenimg-xz-cache")})
	if err != nil {
		t.Fatal(err)
	}
	mirror := testenv.Mirror()
	idx, err := f.Unverified(ctx, mirror+"/dists/bookworm/main/binary-amd64/Packages.xz")
	if err != nil {
		t.Fatal(err)
	}
	compareWithXZ(t, xz, "Packages.xz", idx)
	plain, err := decode(idx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"libc6": true, "perl-base": true, "coreutils": true, "tzdata": true, "base-files": true, "debconf": true}
	found := 0
	for _, para := range bytes.Split(plain, []byte("\n\n")) {
		fields := map[string]string{}
		for _, line := range strings.Split(string(para), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
				fields[k] = v
			}
		}
		name := fields["Package"]
		if !want[name] {
			continue
		}
		delete(want, name)
		size, _ := strconv.ParseInt(fields["Size"], 10, 64)
		path, err := f.File(ctx, mirror+"/"+fields["Filename"], fetch.Sum{Size: size, SHA256: fields["SHA256"]})
		if err != nil {
			t.Fatal(err)
		}
		for member, b := range xzMembers(t, path) {
			compareWithXZ(t, xz, member, b)
			found++
		}
	}
	if len(want) > 0 || found < 6 {
		t.Errorf("%d xz members compared; not in the index: %v", found, want)
	}
}
