package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/xenimg/xenimg/builder/debootstrap/fetch"
	"github.com/xenimg/xenimg/builder/debootstrap/release"
	"github.com/xenimg/xenimg/internal/testarchive"
)

var now = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func keyring(t *testing.T, name testarchive.KeyName) openpgp.EntityList {
	t.Helper()
	b, err := testarchive.PublicKey(name, false)
	if err != nil {
		t.Fatal(err)
	}
	el, err := release.ReadKeyring(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func newFetcher(t *testing.T, offline bool, cache string) *fetch.Fetcher {
	t.Helper()
	if cache == "" {
		cache = t.TempDir()
	}
	f, err := fetch.New(fetch.Options{CacheDir: cache, Backoff: time.Millisecond, Attempts: 2, Offline: offline})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func modernArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a := &testarchive.Archive{
		Codename: "bookworm", Version: "12.5", Style: testarchive.Modern,
		Key: testarchive.ModernKey(t), Arches: []string{"amd64", "i386"},
		Packages: []testarchive.Package{
			{Name: "hello", Version: "2.10-3", Arch: "amd64"},
			{Name: "hello", Version: "2.10-3", Arch: "i386"},
			{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
		},
	}
	if err := a.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sargeArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a := &testarchive.Archive{
		Codename: "sarge", Suite: "oldstable", Version: "3.1r8", Style: testarchive.Sarge,
		Key: testarchive.SargeKey(t), Arches: []string{"i386"},
		Packages: []testarchive.Package{{Name: "base-files", Version: "3.1.2", Arch: "i386"}},
	}
	if err := a.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func packageNames(idx []byte) []string {
	var out []string
	for _, ln := range strings.Split(string(idx), "\n") {
		if name, ok := strings.CutPrefix(ln, "Package: "); ok {
			out = append(out, name)
		}
	}
	return out
}

func TestOpenModern(t *testing.T) {
	dir := modernArchive(t)
	mirror := testarchive.Serve(t, dir)
	ctx := context.Background()
	cache := t.TempDir()
	a, err := Open(ctx, newFetcher(t, false, cache), Options{Mirror: mirror + "/", Codename: "bookworm", Arch: "amd64",
		Components: []string{"main"}, Keyring: keyring(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 0 || a.Release.Codename != "bookworm" || !a.Date().Equal(testarchive.ModernEpoch) {
		t.Errorf("warnings %q, codename %q, date %v", a.Warnings, a.Release.Codename, a.Date())
	}
	for _, arch := range []string{"amd64", "i386"} {
		idx, err := a.Packages(ctx, "main", arch)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(packageNames(idx), " "); got != "hello tzdata" {
			t.Errorf("%s: packages %q", arch, got)
		}
		if !bytes.Contains(idx, []byte("Architecture: "+arch+"\n")) {
			t.Errorf("%s index lacks its own packages", arch)
		}
	}
	var paths []string
	for _, f := range a.IndexFiles() {
		paths = append(paths, f.Path)
		if f.Sum.SHA256 == "" || !strings.HasPrefix(f.URL, mirror+"/dists/") {
			t.Errorf("index file %+v", f)
		}
	}
	want := "dists/bookworm/InRelease dists/bookworm/main/binary-amd64/Packages.gz dists/bookworm/main/binary-i386/Packages.gz"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("IndexFiles %s, want %s", got, want)
	}

	// Offline, from the same cache, with the mirror gone.
	off, err := Open(ctx, newFetcher(t, true, cache), Options{Mirror: mirror, Codename: "bookworm", Arch: "amd64",
		Keyring: keyring(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatalf("offline: %v", err)
	}
	if _, err := off.Packages(ctx, "main", "amd64"); err != nil {
		t.Errorf("offline Packages: %v", err)
	}
	_, err = off.Packages(ctx, "main", "i386")
	if err != nil {
		t.Errorf("offline i386: %v", err)
	}
}

// Only xz published (the .gz Release lists is gone): the next form is used.
func TestFallbackToXZ(t *testing.T) {
	dir := modernArchive(t)
	if err := testarchive.RemoveFile(dir, "dists/bookworm/main/binary-amd64/Packages.gz"); err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), newFetcher(t, false, ""), Options{Mirror: testarchive.Serve(t, dir), Codename: "bookworm",
		Arch: "amd64", Keyring: keyring(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := a.Packages(context.Background(), "main", "amd64")
	if err != nil || len(packageNames(idx)) != 2 {
		t.Fatalf("%v, %q", err, packageNames(idx))
	}
	if f := a.IndexFiles(); f[len(f)-1].Path != "dists/bookworm/main/binary-amd64/Packages.xz" {
		t.Errorf("IndexFiles %+v", f)
	}
}

func TestOpenSarge(t *testing.T) {
	dir := sargeArchive(t)
	ctx := context.Background()
	for _, mirror := range []string{"file://" + dir, testarchive.Serve(t, dir)} {
		opts := Options{Mirror: mirror, Codename: "sarge", Arch: "i386", Components: []string{"main"}, Keyring: keyring(t, testarchive.KeySarge), Now: now}
		_, err := Open(ctx, newFetcher(t, false, ""), opts)
		var ee *release.ExpiredKeyError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), "verifying "+mirror+"/dists/sarge/Release with "+mirror+"/dists/sarge/Release.gpg") ||
			!strings.Contains(err.Error(), "expired on 2006-06-01") {
			t.Fatalf("%s without AllowExpired: %v", mirror, err)
		}
		opts.AllowExpired = true
		a, err := Open(ctx, newFetcher(t, false, ""), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "expired key") {
			t.Errorf("warnings %q", a.Warnings)
		}
		idx, err := a.Packages(ctx, "main", "i386")
		if err != nil {
			t.Fatal(err)
		}
		if got := packageNames(idx); len(got) != 1 || got[0] != "base-files" {
			t.Errorf("packages %q", got)
		}
		f := a.IndexFiles()
		if len(f) != 3 || f[0].Path != "dists/sarge/Release" || f[1].Path != "dists/sarge/Release.gpg" ||
			f[2].Path != "dists/sarge/main/binary-i386/Packages.gz" || f[2].Sum.MD5 == "" || f[2].Sum.SHA256 != "" {
			t.Errorf("IndexFiles %+v", f)
		}
	}
}

func TestSargeWithDefaultKeyring(t *testing.T) {
	// The test key is not Debian's: the embedded removed-keys keyring must
	// not accept it, and the message names the test key.
	dir := sargeArchive(t)
	_, err := Open(context.Background(), newFetcher(t, false, ""), Options{Mirror: "file://" + dir, Codename: "sarge", Arch: "i386", Now: now, AllowExpired: true})
	var ue *release.UnknownSignerError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), testarchive.SargeKey(t).PrimaryKey.KeyIdString()) {
		t.Errorf("error %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	type edit func(t *testing.T, dir string)
	noEdit := func(*testing.T, string) {}
	tests := []struct {
		name     string
		archive  func(*testing.T) string
		edit     edit
		opts     Options
		packages string // arch to load after Open; "" = Open must fail
		want     []string
	}{
		{"tampered InRelease", modernArchive, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "dists/bookworm/InRelease")
			b, _ := os.ReadFile(p)
			testarchive.ReplaceFile(dir, "dists/bookworm/InRelease", bytes.Replace(b, []byte("Components: main"), []byte("Components: mainx"), 1))
		}, Options{Codename: "bookworm", Arch: "amd64"}, "",
			[]string{"verifying MIRROR/dists/bookworm/InRelease: release: bad signature by key"}},
		{"unknown signer", modernArchive, noEdit, Options{Codename: "bookworm", Arch: "amd64", Keyring: nil}, "",
			[]string{"release: signed by unknown key(s) " + testarchive.ModernKey(t).PrimaryKey.KeyIdString()}},
		{"unknown codename", modernArchive, noEdit, Options{Codename: "bookwurm", Arch: "amd64"}, "",
			[]string{`archive: unknown codename "bookwurm": neither MIRROR/dists/bookwurm/InRelease nor MIRROR/dists/bookwurm/Release exists`}},
		{"unknown arch", modernArchive, noEdit, Options{Codename: "bookworm", Arch: "sparc"}, "",
			[]string{`archive: architecture not in archive: "sparc" is not one of MIRROR/dists/bookworm/'s architectures (amd64 i386)`}},
		{"unknown component", modernArchive, noEdit, Options{Codename: "bookworm", Arch: "amd64", Components: []string{"main", "contrib"}}, "",
			[]string{`component not in archive: "contrib"`}},
		{"unsigned sarge", sargeArchive, func(t *testing.T, dir string) { testarchive.RemoveFile(dir, "dists/sarge/Release.gpg") },
			Options{Codename: "sarge", Arch: "i386", AllowExpired: true}, "",
			[]string{"archive: MIRROR/dists/sarge/Release is not signed", "Release.gpg"}},
		{"index checksum mismatch", modernArchive, func(t *testing.T, dir string) {
			testarchive.CorruptFile(dir, "dists/bookworm/main/binary-amd64/Packages.gz")
		}, Options{Codename: "bookworm", Arch: "amd64"}, "amd64",
			[]string{"fetch: MIRROR/dists/bookworm/main/binary-amd64/Packages.gz: SHA256 mismatch"}},
		{"truncated index", modernArchive, func(t *testing.T, dir string) {
			testarchive.TruncateFile(dir, "dists/bookworm/main/binary-amd64/Packages.gz", -10)
		}, Options{Codename: "bookworm", Arch: "amd64"}, "amd64",
			[]string{"MIRROR/dists/bookworm/main/binary-amd64/Packages.gz: size mismatch: want"}},
		{"sarge truncated index", sargeArchive, func(t *testing.T, dir string) {
			testarchive.TruncateFile(dir, "dists/sarge/main/binary-i386/Packages.gz", 20)
		}, Options{Codename: "sarge", Arch: "i386", AllowExpired: true}, "i386",
			[]string{"MIRROR/dists/sarge/main/binary-i386/Packages.gz: size mismatch: want"}},
		{"index missing everywhere", modernArchive, func(t *testing.T, dir string) {
			testarchive.RemoveFile(dir, "dists/bookworm/main/binary-amd64/Packages.gz")
			testarchive.RemoveFile(dir, "dists/bookworm/main/binary-amd64/Packages.xz")
		}, Options{Codename: "bookworm", Arch: "amd64"}, "amd64",
			[]string{"archive: no Packages index: none of MIRROR/dists/bookworm/main/binary-amd64/Packages.gz, MIRROR/dists/bookworm/main/binary-amd64/Packages.xz, MIRROR/dists/bookworm/main/binary-amd64/Packages exists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.archive(t)
			tt.edit(t, dir)
			for _, mirror := range []string{testarchive.Serve(t, dir), "file://" + dir} {
				opts := tt.opts
				opts.Mirror, opts.Now = mirror, now
				if opts.Keyring == nil && tt.name != "unknown signer" {
					opts.Keyring = append(keyring(t, testarchive.KeyModern), keyring(t, testarchive.KeySarge)...)
				} else if tt.name == "unknown signer" {
					opts.Keyring = keyring(t, testarchive.KeyOther)
				}
				a, err := Open(ctx, newFetcher(t, false, ""), opts)
				if tt.packages != "" {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					_, err = a.Packages(ctx, "main", tt.packages)
				}
				if err == nil {
					t.Fatalf("%s: no error", mirror)
				}
				for _, w := range tt.want {
					if w = strings.ReplaceAll(w, "MIRROR", mirror); !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error\n  %v\ndoes not contain\n  %s", mirror, err, w)
					}
				}
			}
		})
	}
}

// handArchive writes a modern-style suite by hand: the given index files
// under dists/test/, a Release listing them (plus listOnly, listed but not
// written) and an InRelease clearsigned by the modern test key.
func handArchive(t *testing.T, files map[string][]byte, listOnly map[string][]byte, extra string) string {
	t.Helper()
	dir := t.TempDir()
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: Test\nCodename: test\nDate: Sat, 10 Feb 2024 00:00:00 UTC\nArchitectures: amd64\nComponents: main\n%sSHA256:\n", extra)
	all := map[string][]byte{}
	for p, b := range files {
		all[p] = b
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, "dists/test", p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "dists/test", p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range listOnly {
		all[p] = b
	}
	for _, p := range sortedKeys(all) {
		fmt.Fprintf(&rel, " %x %d %s\n", sha256.Sum256(all[p]), len(all[p]), p)
	}
	var buf bytes.Buffer
	cfg := &packet.Config{Time: func() time.Time { return testarchive.ModernEpoch }, DefaultHash: crypto.SHA256}
	w, err := clearsign.Encode(&buf, testarchive.ModernKey(t).PrivateKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(rel.String()))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dists/test/InRelease"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sortedKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestBinaryAll(t *testing.T) {
	amd := []byte("Package: a\nArchitecture: amd64\n")
	all := []byte("Package: b\nArchitecture: all\n")
	files := map[string][]byte{
		"main/binary-amd64/Packages.gz": gz(t, amd),
		"main/binary-all/Packages.gz":   gz(t, all),
	}
	listOnly := map[string][]byte{"main/binary-amd64/Packages": amd, "main/binary-all/Packages": all}
	for _, tc := range []struct {
		extra, want string
	}{
		{"", "a b"}, // binary-all kept separately: appended
		{"No-Support-for-Architecture-all: Packages\n", "a"}, // already in binary-amd64 (Debian since bullseye)
	} {
		dir := handArchive(t, files, listOnly, tc.extra)
		a, err := Open(context.Background(), newFetcher(t, false, ""), Options{Mirror: "file://" + dir, Codename: "test", Arch: "amd64", Keyring: keyring(t, testarchive.KeyModern), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		idx, err := a.Packages(context.Background(), "main", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(packageNames(idx), " "); got != tc.want {
			t.Errorf("%q: packages %q, want %q", tc.extra, got, tc.want)
		}
		if tc.want == "a b" && !bytes.Contains(idx, []byte("amd64\n\nPackage: b")) {
			t.Errorf("indexes not separated by a blank line: %q", idx)
		}
	}
}

// The compressed file matches its sum but decompresses to something else
// than the plain Packages the Release file lists.
func TestDecompressedMismatch(t *testing.T) {
	real := []byte("Package: a\nVersion: 1\n")
	evil := []byte("Package: a\nVersion: 2\n")
	dir := handArchive(t, map[string][]byte{"main/binary-amd64/Packages.gz": gz(t, evil)},
		map[string][]byte{"main/binary-amd64/Packages": real}, "")
	a, err := Open(context.Background(), newFetcher(t, false, ""), Options{Mirror: "file://" + dir, Codename: "test", Arch: "amd64", Keyring: keyring(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Packages(context.Background(), "main", "amd64")
	if err == nil || !strings.Contains(err.Error(), "decompressing file://"+dir+"/dists/test/main/binary-amd64/Packages.gz: decompressed SHA256 mismatch for main/binary-amd64/Packages") {
		t.Errorf("error %v", err)
	}
	// Corrupt gzip data with a matching outer sum.
	dir = handArchive(t, map[string][]byte{"main/binary-amd64/Packages.gz": []byte("not gzip at all")}, nil, "")
	a, err = Open(context.Background(), newFetcher(t, false, ""), Options{Mirror: "file://" + dir, Codename: "test", Arch: "amd64", Keyring: keyring(t, testarchive.KeyModern), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = a.Packages(context.Background(), "main", "amd64"); err == nil || !strings.Contains(err.Error(), "decompressing file://") {
		t.Errorf("corrupt gzip: %v", err)
	}
}
