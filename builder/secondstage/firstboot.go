package secondstage

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/xenimg/xenimg/builder/tree"
)

// RootHashFile is where the builder leaves root's password hash (crypt(3)
// format) for the first boot to set; the script removes it once set.
const RootHashFile = "/etc/xenimg/root-password-hash"

// FirstbootPath is where Firstboot mode installs its script; the guest's
// kernel command line must carry init=FirstbootPath.
const FirstbootPath = "/sbin/xenimg-firstboot"

// firstbootScript configures the unpacked packages at the first boot. It
// is POSIX sh (sarge's /bin/sh is bash, later ones dash) and uses only
// essential tools (mount, dpkg, grep, ln, mv, rm). Package lists are
// "INFONAME NAME ARCH" lines. A package already configured is skipped, so
// a boot after a failure resumes where the last one stopped. On success
// the script replaces itself by a stub that execs /sbin/init: a kernel
// whose init= names a missing file panics.
var firstbootScript = template.Must(template.New("firstboot").Parse(`#!/bin/sh
# xenimg-firstboot: configure the packages xenimg unpacked into this image,
# then start the real init. Boot with init={{.Path}} once.
PATH={{.Path_}}
DEBIAN_FRONTEND=noninteractive
DEBCONF_NONINTERACTIVE_SEEN=true
LC_ALL=C
HOME=/root
SOURCE_DATE_EPOCH={{.Epoch}}
export PATH DEBIAN_FRONTEND DEBCONF_NONINTERACTIVE_SEEN LC_ALL HOME SOURCE_DATE_EPOCH
unset DPKG_ROOT

log() { echo "xenimg-firstboot: $*"; }

mounted=
mount -t proc proc /proc 2>/dev/null && mounted="/proc $mounted"
mount -t sysfs sysfs /sys 2>/dev/null && mounted="/sys $mounted"
if grep -q devtmpfs /proc/filesystems 2>/dev/null; then
	mount -t devtmpfs devtmpfs /dev 2>/dev/null && mounted="/dev $mounted"
fi
wasro=
if grep -q '^[^ ]* / [^ ]* ro[, ]' /proc/mounts 2>/dev/null; then
	wasro=1
	mount -o remount,rw / || log "cannot remount / read-write"
fi

installed() {
	case "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" in
	*" installed") return 0 ;;
	esac
	return 1
}

preinst() { # INFONAME NAME ARCH
	s=/var/lib/dpkg/info/$1.preinst
	[ -f "$s" ] || return 0
	DPKG_MAINTSCRIPT_PACKAGE=$2 DPKG_MAINTSCRIPT_ARCH=$3 \
	DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
	DPKG_MAINTSCRIPT_DEBUG=0 DPKG_ADMINDIR=/var/lib/dpkg \
	DPKG_RUNNING_VERSION='{{.DpkgVersion}}' "$s" install </dev/null || {
		log "preinst of $2 failed"
		return 1
	}
}

core() {
{{- range .Core}}
	echo '{{.}}'
{{- end}}
	:
}
required() {
{{- range .Required}}
	echo '{{.}}'
{{- end}}
	:
}
rest() {
{{- range .Rest}}
	echo '{{.}}'
{{- end}}
	:
}

guard() {
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	for s in /sbin/start-stop-daemon /usr/sbin/start-stop-daemon; do
		if [ -f "$s" ] && [ ! -L "$s" ] && [ ! -e "$s.REAL" ]; then
			mv "$s" "$s.REAL"
			printf '#!/bin/sh\necho\necho "Warning: Fake start-stop-daemon called, doing nothing"\n' >"$s"
			chmod 755 "$s"
			ssd="$s $ssd"
		fi
	done
}

unguard() {
	for s in $ssd; do mv -f "$s.REAL" "$s"; done
	ssd=
	[ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
	policy=
}

configure() {
	ldconfig
	if [ ! -e /usr/bin/awk ] && [ ! -L /usr/bin/awk ] && [ -x /usr/bin/mawk ]; then
		ln -s mawk /usr/bin/awk && tmpawk=1
	fi
	core | while read -r info name arch; do
		if [ "$name" = mawk ] && [ -n "$tmpawk" ] && [ "$(readlink /usr/bin/awk)" = mawk ]; then
			rm -f /usr/bin/awk
		fi
		installed "$info" && continue
		preinst "$info" "$name" "$arch" || exit 1
		dpkg --configure --force-depends "$info" || exit 1
		if [ "$name" = dpkg ] && [ ! -e /etc/localtime ] && [ ! -L /etc/localtime ]; then
			ln -s /usr/share/zoneinfo/UTC /etc/localtime
		fi
	done || return 1
	required | while read -r info name arch; do
		installed "$info" && continue
		preinst "$info" "$name" "$arch" || exit 1
	done || return 1
	req=$(required | while read -r info name arch; do installed "$info" || echo "$info"; done)
	if [ -n "$req" ]; then
		dpkg --configure --force-depends --force-configure-any $req || return 1
	fi
	rest | while read -r info name arch; do
		installed "$info" && continue
		preinst "$info" "$name" "$arch" || exit 1
	done || return 1
	dpkg --configure -a || return 1
	ldconfig
}

log "configuring packages"
guard
if configure; then
	unguard
	if [ -f {{.HashFile}} ]; then
		usermod -p "$(cat {{.HashFile}})" root && rm -rf "$(dirname {{.HashFile}})" ||
			log "could not set root's password"
	fi
	printf '#!/bin/sh\nexec /sbin/init "$@"\n' >{{.Path}}.new &&
		chmod 755 {{.Path}}.new && mv -f {{.Path}}.new {{.Path}}
	log "packages configured; next boots go straight to /sbin/init"
else
	unguard
	log "configuring failed; this script runs again at the next boot (or run dpkg --configure -a)"
fi
for m in $mounted; do umount "$m" 2>/dev/null; done
sync
[ -z "$wasro" ] || mount -o remount,ro / 2>/dev/null
exec /sbin/init "$@"
`))

type firstbootData struct {
	Path, Path_          string
	HashFile             string // root's password hash left by the builder
	Epoch                int64
	DpkgVersion          string
	Core, Required, Rest []string
}

func scriptLines(ps []pkg) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		arch := p.Arch
		if arch == "" {
			arch = "all"
		}
		out[i] = p.infoName() + " " + p.Name + " " + arch
	}
	return out
}

// safeWord reports whether s can go between single quotes unchanged.
func safeWord(s string) bool { return !strings.ContainsAny(s, "'\n\\") }

// renderFirstboot returns the script for the packages of pl.
func renderFirstboot(pl plan, epoch int64) ([]byte, error) {
	d := firstbootData{
		Path: FirstbootPath, Path_: guestPath, Epoch: epoch, HashFile: RootHashFile,
		DpkgVersion: dpkgVersion(pl),
		Core:        scriptLines(pl.Core), Required: scriptLines(pl.Required), Rest: scriptLines(pl.Rest),
	}
	for _, w := range append(append(append([]string{d.DpkgVersion}, d.Core...), d.Required...), d.Rest...) {
		if !safeWord(w) {
			return nil, fmt.Errorf("secondstage: %q cannot go into the firstboot script", w)
		}
	}
	var b bytes.Buffer
	if err := firstbootScript.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("rendering the firstboot script: %w", err)
	}
	return b.Bytes(), nil
}

// installFirstboot writes the firstboot script and the basic device nodes
// into t, and drops the cached .debs the script does not need.
func installFirstboot(t *tree.Tree, o Options) error {
	pkgs, err := readStatus(t)
	if err != nil {
		return err
	}
	script, err := renderFirstboot(order(pkgs, o.Required), o.Epoch)
	if err != nil {
		return err
	}
	if _, err := t.Lookup("/sbin"); err != nil {
		if err := t.MkdirAll("/sbin", tree.Meta{Mode: 0o755, Mtime: o.Epoch}); err != nil {
			return fmt.Errorf("installing %s: %w", FirstbootPath, err)
		}
	}
	if err := t.WriteFile(FirstbootPath, tree.Meta{Mode: 0o755, Mtime: o.Epoch}, script); err != nil {
		return fmt.Errorf("installing %s: %w", FirstbootPath, err)
	}
	if err := treeDevices(t, o.Epoch); err != nil {
		return err
	}
	if n, err := t.Lookup("/var/cache/apt/archives"); err == nil && n.Type == tree.TypeDir {
		for _, name := range n.Names() {
			if strings.HasSuffix(name, ".deb") {
				if err := t.Remove("/var/cache/apt/archives/" + name); err != nil {
					return fmt.Errorf("removing cached .debs: %w", err)
				}
			}
		}
	}
	o.Log.Info("firstboot script installed", "path", FirstbootPath, "packages", len(pkgs))
	return nil
}

// treeDevices is makeDevices for a tree.
func treeDevices(t *tree.Tree, epoch int64) error {
	dm := tree.Meta{Mode: 0o755, Mtime: epoch}
	for _, d := range []string{"/dev", "/dev/pts", "/dev/shm", "/proc", "/sys"} {
		if _, err := t.Lstat(d); err == nil {
			continue
		}
		m := dm
		switch d {
		case "/dev/shm":
			m.Mode = 0o1777
		case "/proc", "/sys":
			m.Mode = 0o555
		}
		if err := t.MkdirAll(d, m); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	for _, n := range devNodes {
		p := "/dev/" + n.name
		if _, err := t.Lstat(p); err == nil {
			continue
		}
		if err := t.Mknod(p, tree.TypeChar, tree.Meta{Mode: n.mode, Mtime: epoch}, n.major, n.minor); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	for _, l := range devLinks {
		p := "/dev/" + l[0]
		if _, err := t.Lstat(p); err == nil {
			continue
		}
		if err := t.Symlink(l[1], p, tree.Meta{Mode: 0o777, Mtime: epoch}); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	return nil
}
