package unpack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenimg/xenimg/builder/tree"
	"github.com/xenimg/xenimg/internal/testenv"
)

// tarEnt is one entry of a crafted data.tar.
type tarEnt struct {
	name, link string
	typ        byte
	mode       int64
	body       string
}

func tarOf(t testing.TB, ents []tarEnt) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatGNU}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// craftDeb writes an uncompressed .deb with the given control paragraph,
// extra control files and data entries, the way a hostile mirror could.
func craftDeb(t testing.TB, dir, control string, extra map[string]string, ents []tarEnt) string {
	t.Helper()
	cents := []tarEnt{{name: "./", typ: tar.TypeDir, mode: 0o755}, {name: "./control", typ: tar.TypeReg, mode: 0o644, body: control}}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		cents = append(cents, tarEnt{name: "./" + n, typ: tar.TypeReg, mode: 0o644, body: extra[n]})
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, data []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, 0, 0, 0, 0o100644, len(data))
		ar.Write(data)
		if len(data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar", tarOf(t, cents))
	member("data.tar", tarOf(t, ents))
	pkg := strings.Fields(strings.SplitN(control, "\n", 2)[0])[1]
	p := filepath.Join(dir, pkg+".deb")
	if err := os.WriteFile(p, ar.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctl(name string) string {
	return "Package: " + name + "\nVersion: 1.0\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: test\n"
}

func newTree(t testing.TB) *tree.Tree {
	tr, err := tree.New(tree.Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTraversal(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		ents []tarEnt
	}{
		{"dotdot", []tarEnt{{name: "./../../etc/evil", typ: tar.TypeReg, mode: 0o644, body: "x"}}},
		{"dotdot-mid", []tarEnt{{name: "./usr/../../evil", typ: tar.TypeReg, mode: 0o644, body: "x"}}},
		{"dotdot-hardlink", []tarEnt{
			{name: "./a", typ: tar.TypeLink, link: "../../etc/shadow"},
		}},
	} {
		deb := craftDeb(t, dir, ctl(tc.name), nil, tc.ents)
		_, err := Unpack(context.Background(), newTree(t), []string{deb}, Options{Arch: "amd64"})
		var ue *Error
		if !errors.Is(err, ErrUnsafePath) || !errors.As(err, &ue) || ue.Package != tc.name || ue.Entry == "" {
			t.Errorf("%s: error %v, want an unsafe-path error naming package and entry", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), ue.Entry) {
			t.Errorf("%s: message %q lacks package or entry", tc.name, err)
		}
	}

	// Links out of the root, then files through them: kept inside.
	deb := craftDeb(t, dir, ctl("links"), nil, []tarEnt{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "./r", typ: tar.TypeSymlink, link: "/"},
		{name: "./etc/up", typ: tar.TypeSymlink, link: "../../../.."},
		{name: "./r/tmp/evil", typ: tar.TypeReg, mode: 0o644, body: "one"},
		{name: "./etc/up/etc/evil2", typ: tar.TypeReg, mode: 0o644, body: "two"},
		{name: "./r/etc/up/r/hard", typ: tar.TypeLink, link: "./r/tmp/evil"},
	})
	tr := newTree(t)
	if _, err := Unpack(context.Background(), tr, []string{deb}, Options{Arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/tmp/evil": "one", "/etc/evil2": "two", "/hard": "one"} {
		b, err := tr.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q inside the tree", p, b, err, want)
		}
	}
	for _, p := range []string{"/tmp/evil", "/etc/evil2"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s written on the host", p)
		}
	}
}

func TestMergedUsr(t *testing.T) {
	dir := t.TempDir()
	deb := craftDeb(t, dir, ctl("coreutils-ish"), nil, []tarEnt{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/cat", typ: tar.TypeReg, mode: 0o755, body: "cat"},
		{name: "./lib64/", typ: tar.TypeDir, mode: 0o755},
		{name: "./lib64/ld-linux-x86-64.so.2", typ: tar.TypeSymlink, link: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		{name: "./usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/bin/tac", typ: tar.TypeReg, mode: 0o755, body: "tac"},
	})
	tr := newTree(t)
	if _, err := Unpack(context.Background(), tr, []string{deb}, Options{Arch: "amd64", MergedUsr: true, Epoch: 42}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		n, err := tr.Lstat("/" + l)
		if err != nil || n.Type != tree.TypeSymlink || n.Target != "usr/"+l || n.Mtime != 42 {
			t.Errorf("/%s: %+v %v", l, n, err)
		}
		if d, err := tr.Lstat("/usr/" + l); err != nil || d.Type != tree.TypeDir {
			t.Errorf("/usr/%s: %v", l, err)
		}
	}
	if b, _ := tr.ReadFile("/usr/bin/cat"); string(b) != "cat" {
		t.Errorf("/usr/bin/cat = %q", b)
	}
	if n, err := tr.Lstat("/usr/lib64/ld-linux-x86-64.so.2"); err != nil || n.Type != tree.TypeSymlink {
		t.Errorf("loader link: %v", err)
	}
	list, _ := tr.ReadFile("/var/lib/dpkg/info/coreutils-ish.list")
	if !strings.HasPrefix(string(list), "/.\n/bin\n/bin/cat\n/lib64\n") {
		t.Errorf(".list keeps the package's paths: %q", list)
	}
	// Without merged /usr, /bin is a directory.
	tr2 := newTree(t)
	if _, err := Unpack(context.Background(), tr2, []string{deb}, Options{Arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if n, err := tr2.Lstat("/bin"); err != nil || n.Type != tree.TypeDir {
		t.Errorf("unmerged /bin: %v", err)
	}
}

// treeDump lists every node of a tree with its metadata and content hash.
func treeDump(t testing.TB, tr *tree.Tree) string {
	var b strings.Builder
	err := tr.Walk(func(p string, n *tree.Node) error {
		fmt.Fprintf(&b, "%s %s %o %d:%d %d %d %q %d,%d %d", p, n.Type, n.Mode, n.UID, n.GID, n.Mtime, n.Size(), n.Target, n.Major, n.Minor, n.Links())
		if n.Type == tree.TypeRegular {
			rc, err := n.Content().Open()
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", h.Sum(nil))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// testdataDebs are the deb package's test .debs (dpkg-deb built, every
// compression), recompiled under distinct package names is not needed:
// they share one name, so later ones replace earlier ones.
func testdataDebs(t testing.TB) []string {
	m, _ := filepath.Glob("../deb/testdata/*.deb")
	if len(m) < 5 {
		t.Fatalf("no test debs in ../deb/testdata: %v", m)
	}
	return m
}

// TestCompressions unpacks each dpkg-deb-built test package (gzip, xz,
// zstd, bzip2, none) and compares the tree with dpkg-deb's view.
func TestCompressions(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb")
	for _, deb := range testdataDebs(t) {
		tr := newTree(t)
		pk, err := Unpack(context.Background(), tr, []string{deb}, Options{Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		compareTree(t, dpkgDeb, tr, deb, pk[0])
	}
}

// compareTree checks that every entry of deb, as `dpkg-deb --fsys-tarfile`
// gives it, is in the tree with the same type, mode, owner, size, content
// and link target.
func compareTree(t testing.TB, dpkgDeb string, tr *tree.Tree, deb string, pkg Package) {
	t.Helper()
	out, err := exec.Command(dpkgDeb, "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile %s: %v", deb, err)
	}
	rd := tar.NewReader(bytes.NewReader(out))
	var list []string
	n := 0
	for {
		h, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		name := tree.Clean(h.Name)
		if name != "/" {
			list = append(list, name)
		}
		if h.Typeflag == tar.TypeDir {
			nd, err := tr.Lookup(name)
			if err != nil || nd.Type != tree.TypeDir {
				t.Errorf("%s: %s: not a directory in the tree: %v", deb, name, err)
			}
			continue
		}
		nd, err := tr.Lstat(name)
		if err != nil {
			t.Errorf("%s: %s missing: %v", deb, name, err)
			continue
		}
		if h.Typeflag == tar.TypeLink {
			target, err := tr.Lstat(tree.Clean(h.Linkname))
			if err != nil || target != nd {
				t.Errorf("%s: hard link %s -> %s not shared", deb, name, h.Linkname)
			}
			continue
		}
		wantType := map[byte]tree.Type{tar.TypeReg: tree.TypeRegular, tar.TypeSymlink: tree.TypeSymlink, tar.TypeChar: tree.TypeChar, tar.TypeBlock: tree.TypeBlock, tar.TypeFifo: tree.TypeFifo}[h.Typeflag]
		if nd.Type != wantType || int64(nd.Mode) != h.Mode&07777 || nd.UID != h.Uid || nd.GID != h.Gid || nd.Mtime != h.ModTime.Unix() {
			t.Errorf("%s: %s: tree has %s %o %d:%d %d, tar has %c %o %d:%d %d", deb, name, nd.Type, nd.Mode, nd.UID, nd.GID, nd.Mtime, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.Unix())
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			if nd.Target != h.Linkname {
				t.Errorf("%s: %s -> %q, tar says %q", deb, name, nd.Target, h.Linkname)
			}
		case tar.TypeReg:
			want := sha256.New()
			io.Copy(want, rd)
			got := sha256.New()
			rc, err := nd.Content().Open()
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(got, rc)
			rc.Close()
			if nd.Size() != h.Size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Errorf("%s: %s: content differs (%d bytes, tar %d)", deb, name, nd.Size(), h.Size)
			}
		}
	}
	if n != pkg.Entries {
		t.Errorf("%s: %d entries unpacked, dpkg-deb has %d", deb, pkg.Entries, n)
	}
	got, err := tr.ReadFile("/var/lib/dpkg/info/" + infoName(pkg) + ".list")
	if want := "/.\n" + strings.Join(list, "\n") + "\n"; err != nil || string(got) != want {
		t.Errorf("%s: .list differs from the archive's order: %v", deb, err)
	}
}

// TestDeterministic unpacks the same set with 1 and many jobs and compares.
func TestDeterministic(t *testing.T) {
	debs := testdataDebs(t)
	dir := t.TempDir()
	for i := range 6 {
		debs = append(debs, craftDeb(t, dir, ctl(fmt.Sprintf("p%d", i)), map[string]string{"conffiles": "/etc/shared\n"}, []tarEnt{
			{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
			{name: "./etc/shared", typ: tar.TypeReg, mode: 0o644, body: strings.Repeat(fmt.Sprint(i), 1000+i)},
		}))
	}
	var dumps []string
	for _, jobs := range []int{1, 4, 16} {
		tr := newTree(t)
		if _, err := Unpack(context.Background(), tr, debs, Options{Arch: "amd64", MergedUsr: true, Jobs: jobs, ArchiveCopies: true}); err != nil {
			t.Fatal(err)
		}
		dumps = append(dumps, treeDump(t, tr))
		if b, _ := tr.ReadFile("/etc/shared"); !strings.HasPrefix(string(b), "5") {
			t.Errorf("jobs=%d: the last package must win, got %.5q", jobs, b)
		}
	}
	if dumps[0] != dumps[1] || dumps[0] != dumps[2] {
		t.Error("trees differ between job counts")
	}
}

func TestBadDeb(t *testing.T) {
	dir := t.TempDir()
	good := craftDeb(t, dir, ctl("good"), nil, []tarEnt{{name: "./a", typ: tar.TypeReg, mode: 0o644, body: "a"}})
	b, _ := os.ReadFile(good)
	bad := filepath.Join(dir, "bad_1.0_amd64.deb")
	os.WriteFile(bad, b[:len(b)-700], 0o644)
	_, err := Unpack(context.Background(), newTree(t), []string{good, bad}, Options{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated deb: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Unpack(ctx, newTree(t), []string{good}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// BenchmarkUnpack unpacks every .deb in $XENIMG_BENCH_DEBS (for example
// the minbase set from `debootstrap --download-only --variant=minbase`),
// beside `dpkg-deb -x` of the same debs one after the other.
func BenchmarkUnpack(b *testing.B) {
	dir := os.Getenv("XENIMG_BENCH_DEBS")
	if dir == "" {
		b.Skip("XENIMG_BENCH_DEBS not set")
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	var total int64
	for _, d := range debs {
		st, _ := os.Stat(d)
		total += st.Size()
	}
	b.Run("xenimg", func(b *testing.B) {
		b.SetBytes(total)
		c0 := cpuTime(syscall.RUSAGE_SELF)
		for b.Loop() {
			tr, err := tree.New(tree.Options{SpoolDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Unpack(context.Background(), tr, debs, Options{Arch: "amd64", MergedUsr: true}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(tr.SpoolSize())/1e6, "spoolMB")
			tr.Close()
		}
		b.ReportMetric(float64(cpuTime(syscall.RUSAGE_SELF)-c0)/float64(b.N)/1e6, "cpu-ms/op")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.Sys)/1e6, "sysMB")
	})
	b.Run("dpkg-deb-x", func(b *testing.B) {
		dpkgDeb := testenv.Tool(b, "dpkg-deb")
		b.SetBytes(total)
		c0 := cpuTime(syscall.RUSAGE_CHILDREN)
		defer func() {
			b.ReportMetric(float64(cpuTime(syscall.RUSAGE_CHILDREN)-c0)/float64(b.N)/1e6, "cpu-ms/op")
		}()
		for b.Loop() {
			out := b.TempDir()
			for _, d := range debs {
				if err := exec.Command(dpkgDeb, "-x", d, out).Run(); err != nil {
					b.Fatal(d, err)
				}
			}
		}
	})
}

// fetchBookworm downloads the named packages of bookworm/main/amd64 from
// the test mirror into dir, checking their SHA256 from the Packages index.
func fetchBookworm(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	mirror := testenv.Mirror()
	get := func(url string) []byte {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("fetching %s: %v", url, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("fetching %s: %s", url, resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("fetching %s: %v", url, err)
		}
		return b
	}
	idx := get(mirror + "/dists/bookworm/main/binary-amd64/Packages.gz")
	zr, err := gzip.NewReader(bytes.NewReader(idx))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := map[string][2]string{}
	for _, para := range strings.Split(string(plain), "\n\n") {
		fs, err := parseFields([]byte(para))
		if err != nil {
			continue
		}
		if p := fieldValue(fs, "Package"); want[p] {
			found[p] = [2]string{fieldValue(fs, "Filename"), fieldValue(fs, "SHA256")}
		}
	}
	var out []string
	for _, n := range names {
		f, ok := found[n]
		if !ok {
			t.Fatalf("%s not in bookworm's Packages", n)
		}
		b := get(mirror + "/" + f[0])
		if fmt.Sprintf("%x", sha256.Sum256(b)) != f[1] {
			t.Fatalf("%s: SHA256 mismatch", f[0])
		}
		p := filepath.Join(dir, filepath.Base(f[0]))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestRealDebs unpacks real bookworm packages, compares every entry with
// dpkg-deb's view, then checks the dpkg database with dpkg itself on the
// materialized tree.
func TestRealDebs(t *testing.T) {
	testenv.Network(t)
	dpkgDeb := testenv.Tool(t, "dpkg-deb")
	names := []string{"base-files", "libc6", "coreutils", "perl-base", "dpkg", "tzdata", "libgcc-s1"}
	debs := fetchBookworm(t, t.TempDir(), names...)
	tr := newTree(t)
	pkgs, err := Unpack(context.Background(), tr, debs, Options{Arch: "amd64", MergedUsr: true, ArchiveCopies: true, Epoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	for i, deb := range debs {
		compareTree(t, dpkgDeb, tr, deb, pkgs[i])
	}
	// libc6 is Multi-Arch: same.
	if _, err := tr.Lstat("/var/lib/dpkg/info/libc6:amd64.list"); err != nil {
		t.Errorf("libc6 info files: %v", err)
	}
	if n, err := tr.Lstat("/var/lib/dpkg/info/dpkg.postinst"); err != nil || n.Mode != 0o755 {
		t.Errorf("dpkg.postinst: %v", err)
	}
	for i, p := range pkgs {
		n, err := tr.Lstat("/var/cache/apt/archives/" + archiveName(p))
		if err != nil || n.Size() <= 0 {
			t.Errorf("archive copy of %s: %v", p.Name, err)
			continue
		}
		b, _ := tr.ReadFile("/var/cache/apt/archives/" + archiveName(p))
		orig, _ := os.ReadFile(debs[i])
		if !bytes.Equal(b, orig) {
			t.Errorf("archive copy of %s differs", p.Name)
		}
	}

	testenv.Root(t)
	dpkgQuery := testenv.Tool(t, "dpkg-query")
	dpkg := testenv.Tool(t, "dpkg")
	root := filepath.Join(t.TempDir(), "root")
	if err := tr.Materialize(root, tree.MaterializeOptions{Owners: true, Devices: true}); err != nil {
		t.Fatal(err)
	}
	admin := filepath.Join(root, "var/lib/dpkg")
	out, err := exec.Command(dpkgQuery, "--admindir="+admin, "-W", "-f", "${Package} ${Status} ${Version}\n").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query: %v\n%s", err, out)
	}
	for _, p := range pkgs {
		if line := p.Name + " install ok unpacked " + p.Version; !strings.Contains(string(out), line+"\n") {
			t.Errorf("dpkg-query lacks %q:\n%s", line, out)
		}
	}
	out, _ = exec.Command(dpkg, "--admindir="+admin, "--audit").CombinedOutput()
	if !strings.Contains(string(out), "unpacked but not yet configured") {
		t.Errorf("dpkg --audit:\n%s", out)
	}
	for _, p := range pkgs {
		if !strings.Contains(string(out), " "+p.Name+" ") && !strings.Contains(string(out), " "+p.Name+":"+p.Architecture+" ") {
			t.Errorf("dpkg --audit does not list %s as unpacked:\n%s", p.Name, out)
		}
	}
	// Every file's MD5 as dpkg checks it against the .md5sums we wrote.
	out, err = exec.Command(dpkg, "--root="+root, "--verify").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("dpkg --verify: %v\n%s", err, out)
	}
	out, err = exec.Command(dpkg, "--root="+root, "-L", "coreutils").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/bin/cat\n") {
		t.Errorf("dpkg -L coreutils: %v\n%.300s", err, out)
	}
	out, err = exec.Command(dpkgQuery, "--admindir="+admin, "-W", "-f", "${Conffiles}\n", "base-files").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/etc/debian_version ") || strings.Contains(string(out), "newconffile") {
		t.Errorf("base-files conffiles: %v\n%s", err, out)
	}
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
