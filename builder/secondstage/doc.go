// Package secondstage configures a Debian root tree that the first stage
// (package unpack) left with every package "unpacked": it is xenimg's
// equivalent of "debootstrap --second-stage".
//
// Three ways are offered (Mode):
//
//   - Chroot: the tree is written to a host directory and the guest's own
//     dpkg configures it under chroot(2), as root (or, without root, in a
//     user namespace: see below). Each command runs in
//     fresh mount and PID namespaces where /proc, /sys and /dev/pts are
//     mounted: when the command ends (or is killed on context
//     cancellation) the kernel tears the mounts down and kills any daemon a
//     maintainer script left behind, so nothing leaks on the host on any
//     path, errors and SIGKILL included. /usr/sbin/policy-rc.d (exit 101)
//     and a fake start-stop-daemon keep services from starting while
//     configuring, as debootstrap does; both are removed afterwards.
//     Packages are configured the way debootstrap's second stage orders
//     them: base-passwd, base-files, dpkg, libc, perl-base, mawk and
//     debconf one by one, then the rest of the required list, then all the
//     others. With Options.Rest the tree holds only the required packages
//     and the others arrive (unpacked meanwhile by the caller) once those
//     are configured, which is debootstrap's own order. Because the
//     packages are already unpacked, each package's preinst is run with
//     "install" (as dpkg would have before unpacking; the preinsts of a
//     batch share one guest shell) and then "dpkg --configure" is run,
//     instead of unpacking every .deb a second time. PID 1 of the namespace
//     stays outside the chroot, so the guest's ischroot(1) answers "chroot"
//     as under debootstrap. Empty SSH host key files stand in while
//     configuring, so openssh-server's postinst makes no keys the template
//     would drop. Options.Reinstall selects debootstrap's slower way
//     ("dpkg --install" of the cached .debs, pre-dependencies forced on
//     unpacking and ordered by "dpkg --configure -a") instead. Measured on
//     bookworm amd64 (2 loaded cores): minbase, 88 packages, 2.9 s against
//     14 s; important + openssh-server, 166 packages, 15 s against 29 s
//     (writing the tree to the host and reading it back come on top: 5 to
//     10 s, most of it the kernel creating files). The result is made a
//     reproducible template: host keys, machine ids, random seeds, logs,
//     caches and apt lists are removed, /etc/shadow change dates are set to
//     the epoch day, and every mtime later than the epoch is clamped to it.
//   - Firstboot: the tree is left unconfigured and /sbin/xenimg-firstboot,
//     a POSIX sh script, does the same configuration when the guest first
//     boots with init=/sbin/xenimg-firstboot on its kernel command line,
//     then replaces itself by a stub that execs /sbin/init.
//     The script only remounts / read-write (and back) when the kernel
//     mounted it read-only.
//   - None: nothing is done ("debootstrap --foreign").
//
// Auto picks Chroot when this process is root, or can make a user
// namespace with subordinate ids, and the guest's architecture runs here
// (natively, or through a binfmt_misc emulator registered with the F
// flag), and Firstboot otherwise.
//
// Without root, Chroot mode works the way mmdebstrap's "unshare" mode
// does: commands run in a user namespace made by util-linux "unshare
// --user --map-auto --map-root-user", where the user is root and the
// user's subordinate ids (/etc/subuid, /etc/subgid, set by newuidmap and
// newgidmap) are the guest's other ids. With Tmpfs, one holder process
// ("sleep infinity" under that unshare, with a mount namespace of its own)
// keeps the namespace and a tmpfs for the root alive while configuring:
// this process writes the root through /proc/HOLDER/root, and each command
// enters the holder's user and mount namespaces with nsenter, then gets
// fresh PID and mount namespaces (PID 1 outside the chroot, as above).
// The holder has a parent-death signal: it dies with this process, even
// on SIGKILL, and the tmpfs with it. Where no holder can be started, or
// without Tmpfs, every command gets a fresh user namespace and the root
// is written on disk under WorkDir, then removed from inside (a log line
// says why). Reference does not apply. The owners other than root and the
// setuid and setgid bits are set from inside, and the configured root is
// read back by the host's tar run inside (files made by other ids need not
// be readable from outside). sysfs is the host's, bound; mknod is not
// allowed there, so empty files stand in for the device nodes, the host's
// nodes are bind-mounted over them (a console over /dev/null, ptmx over
// the devpts instance's), and the tree read back gets real nodes. The
// image is the same, byte for byte, as a root build's. Measured (bookworm
// amd64, whole "xenimg build" from a warm cache, 2 cores shared with
// other work, 3 runs each interleaved, medians): minbase 8.3 s on disk
// against 4.4 s on the holder's tmpfs (root: 3.8 s); minbase +
// openssh-server + ifupdown 9.6 s against 4.0 s (root: 3.5 s); under a
// heavier load 17.3 s against 5.2 s and 14.6 s against 6.2 s. Writing
// the root takes 0.25 s instead of 4.2 s.
//
// The basic device nodes of debootstrap's setup_devices (null, zero, full,
// random, urandom, tty, console, ptmx, and the fd, stdin, stdout, stderr
// links) are created in /dev when missing and kept, as debootstrap keeps
// them: a guest without udev or devtmpfs needs them to boot.
//
// Files a configured template keeps although scripts wrote them: the
// shadow backups (/etc/passwd- ...), /run/adduser, dpkg's lock files. Two
// runs from the same tree and epoch give identical trees (paths, modes,
// owners, mtimes, contents), checked for minbase and important +
// openssh-server; bookworm's shadow honours SOURCE_DATE_EPOCH, older ones
// are normalised as said above.
//
// Options.Codename is accepted for suite quirks; none needs it yet. Old
// amd64 guests (glibc before 2.14: squeeze and older) need the host
// kernel's vsyscall emulation to run under chroot; where it is off, use
// Firstboot.
//
// Not supported: cross-configuring without an emulator (use Firstboot),
// dpkg triggers activated by files during unpacking (there was no dpkg
// --unpack: ldconfig is run explicitly instead, and the trigger interest
// files are written from the packages' triggers control files so later
// installs in the guest activate triggers as usual), debconf
// preseeding.
package secondstage
