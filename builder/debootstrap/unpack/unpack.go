// Package unpack extracts a set of .deb files into a tree.Tree and writes
// the dpkg database of a first stage.
//
// Packages are decompressed in parallel but merged into the tree one after
// the other in the order given, so the result never depends on timing: a
// path shipped by two packages ends as the later one left it, as with
// debootstrap's sequential extraction.
//
// Every entry is checked: a name or hard-link target with a ".." component
// is rejected with an error naming the package and the entry. Symbolic links
// met on the way are resolved inside the tree (an absolute target starts at
// the tree's root, ".." stops there), so an entry whose parent is a link to
// "/" or "../.." still lands inside the tree; nothing is ever written on the
// host.
//
// With Options.MergedUsr the links /bin -> usr/bin, /sbin, /lib and the
// architecture's lib32/lib64/libx32/libo32 are created first, as
// debootstrap's setup_merged_usr does, and entries under /bin and the rest
// go through them into /usr.
//
// # The dpkg database
//
// xenimg's second stage runs "dpkg --configure -a" on the unpacked tree, as
// multistrap and mmdebstrap's extract modes do, rather than unpacking every
// package a second time with "dpkg --install" as debootstrap's second stage
// does. So the database written here describes the packages as dpkg itself
// leaves them after "dpkg --unpack": /var/lib/dpkg/status holds each
// package's control paragraph (fields in the order dpkg writes them) with
// "Status: install ok unpacked" and a Conffiles field carrying each
// conffile's MD5 (the file is extracted in place, not as .dpkg-new, so
// configure keeps the hash); /var/lib/dpkg/info holds PKG.list (the paths in
// archive order, "/." first), md5sums, conffiles, maintainer scripts (mode
// 0755) and the other control files (triggers, shlibs, symbols, templates,
// config...), named PKG:ARCH.* for Multi-Arch: same packages (info/format
// says "1", the multiarch layout). available,
// diversions and statoverride are empty files, arch holds the native
// architecture, updates, triggers and alternatives are empty directories.
// Debootstrap's first stage instead writes a status with only Package,
// Version and "Status: install ok installed" stubs for the packages it
// extracted, since its second stage reinstalls them all.
//
// Not supported: dpkg diversions and statoverrides shipped by packages,
// sparse tar entries, extended attributes.
package unpack

import (
	"archive/tar"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/xenimg/xenimg/builder/debootstrap/deb"
	"github.com/xenimg/xenimg/builder/tree"
)

// Options tune Unpack.
type Options struct {
	// Arch is the native dpkg architecture ("amd64"): it goes to
	// /var/lib/dpkg/arch and chooses the merged-/usr links.
	Arch string
	// MergedUsr creates the merged-/usr links before unpacking.
	MergedUsr bool
	// Epoch is the modification time, in seconds, of the files and
	// directories Unpack creates itself (links, the dpkg database).
	Epoch int64
	// ArchiveCopies puts every .deb under /var/cache/apt/archives as
	// NAME_VERSION_ARCH.deb (epoch colon written %3a). The tree references
	// the host file, which must stay in place while the tree lives.
	ArchiveCopies bool
	// Jobs bounds the packages decompressed at once; 0 means
	// runtime.NumCPU().
	Jobs int
}

// Package is what Unpack learnt about one package.
type Package struct {
	Name, Version, Architecture, MultiArch string
	Deb                                    string // host path
	Entries                                int    // data.tar entries
}

// Error is an unpacking error naming the package, its .deb and the entry.
type Error struct {
	Deb     string // host path of the .deb
	Package string // package name, "" if the control file was not read
	Entry   string // data.tar entry name, "" if none
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("unpacking ")
	if e.Package != "" {
		fmt.Fprintf(&b, "package %s (%s)", e.Package, e.Deb)
	} else {
		b.WriteString(e.Deb)
	}
	if e.Entry != "" {
		fmt.Fprintf(&b, ": entry %q", e.Entry)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnsafePath is wrapped by errors about entries that would leave the tree.
var ErrUnsafePath = errors.New("unpack: unsafe path")

// mergedUsrLinks returns debootstrap's setup_merged_usr link list.
func mergedUsrLinks(arch string) []string {
	extra := map[string][]string{
		"amd64":   {"lib32", "lib64", "libx32"},
		"i386":    {"lib64", "libx32"},
		"mips":    {"lib32", "lib64"},
		"mipsel":  {"lib32", "lib64"},
		"powerpc": {"lib64"},
		"ppc64":   {"lib32", "lib64"},
		"ppc64el": {"lib64"},
		"s390x":   {"lib32"},
		"sparc":   {"lib64"},
		"sparc64": {"lib32", "lib64"},
		"x32":     {"lib32", "lib64", "libx32"},
	}[arch]
	switch {
	case strings.HasPrefix(arch, "mips64"), strings.HasPrefix(arch, "mipsn32"):
		extra = []string{"lib32", "lib64", "libo32"}
	case strings.HasPrefix(arch, "loong64"), strings.HasPrefix(arch, "loongarch64"):
		extra = []string{"lib32", "lib64"}
	}
	return append([]string{"bin", "sbin", "lib"}, extra...)
}

// staged is one data entry, decoded and spooled, waiting to be merged.
type staged struct {
	name    string // canonical, "/usr/bin/x"; "/" for the archive root
	raw     string // name as in the archive
	typ     byte
	link    string // symlink target (verbatim) or hard-link target (canonical)
	meta    tree.Meta
	content tree.Content
	major   uint32
	minor   uint32
}

type result struct {
	pkg      Package
	control  *deb.Control
	fields   []field
	entries  []staged
	conffile map[string]string // canonical path -> md5 hex
	size     int64             // .deb size
	list     []byte            // PKG.list
}

// Unpack extracts debs, in order, into t and writes the dpkg database.
func Unpack(ctx context.Context, t *tree.Tree, debs []string, opts Options) ([]Package, error) {
	dm := tree.Meta{Mode: 0o755, Mtime: opts.Epoch}
	if opts.MergedUsr {
		for _, d := range mergedUsrLinks(opts.Arch) {
			if err := t.MkdirAll("/usr/"+d, dm); err != nil {
				return nil, fmt.Errorf("creating merged-/usr links: %w", err)
			}
			if err := t.Symlink("usr/"+d, "/"+d, tree.Meta{Mode: 0o777, Mtime: opts.Epoch}); err != nil {
				return nil, fmt.Errorf("creating merged-/usr links: %w", err)
			}
		}
	}

	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	results := make([]*result, len(debs))
	ready := make([]chan struct{}, len(debs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs + 1)
	pkgs := make([]Package, len(debs))
	// The merger: applies results in the given order as they arrive.
	g.Go(func() error {
		for i := range debs {
			select {
			case <-ready[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			r := results[i]
			if err := merge(t, r); err != nil {
				return err
			}
			pkgs[i] = r.pkg
			results[i].entries = nil // let the headers go
		}
		return nil
	})
	for i, path := range debs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r, err := decode(gctx, t, path)
			if err != nil {
				return err
			}
			results[i] = r
			close(ready[i])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := writeDatabase(t, results, opts); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// decode reads one .deb into a result, spooling file contents into t.
func decode(ctx context.Context, t *tree.Tree, path string) (*result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Deb: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Deb: path, Err: err}
	}
	d, err := deb.NewReader(f, path)
	if err != nil {
		return nil, &Error{Deb: path, Err: err}
	}
	defer d.Close()
	r := &result{control: d.Control(), size: st.Size(), pkg: Package{Deb: path}}
	ctl, _ := r.control.File("control")
	if r.fields, err = parseFields(ctl); err != nil {
		return nil, &Error{Deb: path, Err: fmt.Errorf("control file: %w", err)}
	}
	r.pkg.Name = fieldValue(r.fields, "Package")
	r.pkg.Version = fieldValue(r.fields, "Version")
	r.pkg.Architecture = fieldValue(r.fields, "Architecture")
	r.pkg.MultiArch = fieldValue(r.fields, "Multi-Arch")
	if r.pkg.Name == "" || r.pkg.Version == "" || r.pkg.Architecture == "" {
		return nil, &Error{Deb: path, Err: fmt.Errorf("control file lacks Package, Version or Architecture")}
	}
	fail := func(entry string, err error) error {
		return &Error{Deb: path, Package: r.pkg.Name, Entry: entry, Err: err}
	}
	conffiles := map[string]bool{}
	if cf, ok := r.control.File("conffiles"); ok {
		for _, line := range strings.Split(string(cf), "\n") {
			fs := strings.Fields(line)
			if len(fs) == 0 || (len(fs) > 1 && fs[0] == "remove-on-upgrade") {
				continue
			}
			conffiles[tree.Clean(fs[len(fs)-1])] = true
		}
	}
	r.conffile = map[string]string{}
	for n := 0; ; n++ {
		if n%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fail("", err)
		}
		name, err := safeName(h.Name)
		if err != nil {
			return nil, fail(h.Name, err)
		}
		s := staged{
			name: name, raw: h.Name, typ: h.Typeflag,
			meta:  tree.Meta{Mode: uint32(h.Mode & 07777), UID: h.Uid, GID: h.Gid, Mtime: h.ModTime.Unix()},
			major: uint32(h.Devmajor), minor: uint32(h.Devminor),
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			s.typ = tar.TypeReg
			var src io.Reader = d
			var sum = md5.New()
			if conffiles[name] {
				src = io.TeeReader(d, sum)
			}
			if s.content, err = t.Store(src, h.Size); err != nil {
				return nil, fail(h.Name, err)
			}
			if conffiles[name] {
				r.conffile[name] = fmt.Sprintf("%x", sum.Sum(nil))
			}
		case tar.TypeLink:
			if s.link, err = safeName(h.Linkname); err != nil {
				return nil, fail(h.Name, fmt.Errorf("hard link target %q: %w", h.Linkname, err))
			}
		case tar.TypeSymlink:
			if h.Linkname == "" {
				return nil, fail(h.Name, fmt.Errorf("symbolic link without a target"))
			}
			s.link = h.Linkname
		case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return nil, fail(h.Name, fmt.Errorf("unsupported tar entry type %q", h.Typeflag))
		}
		r.entries = append(r.entries, s)
	}
	r.pkg.Entries = len(r.entries)
	r.list = listFile(r)
	return r, nil
}

// safeName turns a tar entry name into a canonical tree path, rejecting
// ".." components.
func safeName(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" component", ErrUnsafePath, name)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q has a NUL byte", ErrUnsafePath, name)
	}
	return tree.Clean(name), nil
}

// merge applies one package's entries to the tree.
func merge(t *tree.Tree, r *result) error {
	for i := range r.entries {
		s := &r.entries[i]
		if err := apply(t, s); err != nil {
			return &Error{Deb: r.pkg.Deb, Package: r.pkg.Name, Entry: s.raw, Err: err}
		}
	}
	return nil
}

func apply(t *tree.Tree, s *staged) error {
	if s.name == "/" {
		return nil // the archive's "./": the root stays as it is
	}
	if err := ensureParent(t, s.name, s.meta.Mtime); err != nil {
		return err
	}
	switch s.typ {
	case tar.TypeDir:
		n, err := t.Lstat(s.name)
		switch {
		case err == nil && n.Type == tree.TypeDir:
			// tar sets an existing directory's metadata.
			n.Mode, n.UID, n.GID, n.Mtime = s.meta.Mode, s.meta.UID, s.meta.GID, s.meta.Mtime
			return nil
		case err == nil && n.Type == tree.TypeSymlink:
			// A link to a directory stays (merged /usr: ./bin/).
			if d, err := t.Lookup(s.name); err == nil && d.Type == tree.TypeDir {
				return nil
			}
			fallthrough
		case err == nil:
			if err := t.Remove(s.name); err != nil {
				return err
			}
		}
		return t.Mkdir(s.name, s.meta)
	case tar.TypeReg:
		_, err := t.Create(s.name, s.meta, s.content)
		return err
	case tar.TypeSymlink:
		return t.Symlink(s.link, s.name, s.meta)
	case tar.TypeLink:
		return t.Link(s.link, s.name)
	case tar.TypeChar:
		return t.Mknod(s.name, tree.TypeChar, s.meta, s.major, s.minor)
	case tar.TypeBlock:
		return t.Mknod(s.name, tree.TypeBlock, s.meta, s.major, s.minor)
	case tar.TypeFifo:
		return t.Mknod(s.name, tree.TypeFifo, s.meta, 0, 0)
	}
	return fmt.Errorf("unsupported tar entry type %q", s.typ)
}

// ensureParent creates missing parent directories (0755 root), as tar does.
func ensureParent(t *tree.Tree, name string, mtime int64) error {
	i := strings.LastIndexByte(name, '/')
	if i <= 0 {
		return nil
	}
	dir := name[:i]
	if n, err := t.Lookup(dir); err == nil {
		if n.Type != tree.TypeDir {
			return fmt.Errorf("parent %s is a %s, not a directory", dir, n.Type)
		}
		return nil
	}
	return t.MkdirAll(dir, tree.Meta{Mode: 0o755, Mtime: mtime})
}
