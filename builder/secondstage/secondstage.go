package secondstage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/xenimg/xenimg/builder/tree"
)

// Mode says how the second stage is done.
type Mode string

// Modes, spelled as in a recipe's image.configure.
const (
	Auto      Mode = "auto"      // Chroot when possible, else Firstboot
	Chroot    Mode = "chroot"    // configure now, under chroot (root, or a user namespace)
	Firstboot Mode = "firstboot" // configure at the guest's first boot
	None      Mode = "none"      // leave the tree unpacked
)

// ErrMode is wrapped by errors about an unknown mode.
var ErrMode = errors.New("secondstage: unknown mode")

// ErrCannotChroot is wrapped when Chroot mode was asked for and cannot run
// here (not root, or the guest's architecture does not execute).
var ErrCannotChroot = errors.New("secondstage: cannot configure in a chroot here")

// ParseMode accepts "auto", "chroot", "firstboot", "none" and "" (auto).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Auto, nil
	case Auto, Chroot, Firstboot, None:
		return m, nil
	}
	return "", fmt.Errorf("%w %q (want auto, chroot, firstboot or none)", ErrMode, s)
}

// Options tune Run.
type Options struct {
	Mode     Mode
	Arch     string // guest dpkg architecture ("amd64")
	Codename string // suite codename, for the suite's quirks
	// Epoch is SOURCE_DATE_EPOCH, in seconds: the guest scripts see it, and
	// later modification times are clamped to it.
	Epoch int64
	// Required is debootstrap's required list, in its order: those packages
	// are configured before the others.
	Required []string
	// WorkDir is host scratch space (Chroot mode writes the root there);
	// "" means os.TempDir().
	WorkDir string
	// Reinstall makes Chroot mode install every package again from
	// /var/cache/apt/archives with "dpkg --install", as debootstrap's
	// second stage does, instead of running preinst and configuring the
	// unpacked packages. Slower; kept as a fallback.
	Reinstall bool
	// Tmpfs makes Chroot mode configure the root on a tmpfs mounted for
	// the purpose (falling back to WorkDir's filesystem if the mount
	// fails): creating thousands of files there is several times faster.
	// Without Reference the result is copied back and the tmpfs unmounted
	// before Run returns.
	Tmpfs bool
	// Reference makes Chroot mode return a tree whose file contents refer
	// to the configured root under WorkDir (on the tmpfs, with Tmpfs)
	// instead of copying them back; closing the tree unmounts the tmpfs,
	// and the caller removes WorkDir once it is done with the tree.
	Reference bool
	// Rest, if set (Chroot mode only), returns the packages t lacks,
	// unpacked in a tree of their own while t's are being configured: t
	// then holds the Required ones, and the rest joins them once those are
	// configured, which is debootstrap's order. Run closes the tree Rest
	// returns; an error from Rest is returned as it is.
	Rest func(context.Context) (*tree.Tree, error)
	// Log receives progress and, at debug level, every line the guest's
	// commands print; nil discards it.
	Log *slog.Logger
}

// Run does the second stage on t. In Chroot mode it returns a new tree
// (t is left as it was; the caller closes both); in the other modes it
// returns t itself, edited in place for Firstboot. The mode actually used
// is returned: Auto resolves to Chroot or Firstboot.
func Run(ctx context.Context, t *tree.Tree, o Options) (*tree.Tree, Mode, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return nil, "", err
	}
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	if o.Rest != nil && mode != Chroot {
		return nil, "", fmt.Errorf("a separately unpacked rest needs mode %s, not %s: use Choose first", Chroot, mode)
	}
	switch mode {
	case None:
		o.Log.Info("second stage skipped (configure = none): packages stay unpacked")
		return t, None, nil
	case Auto:
		mode, why, _ := Choose(mode, o.Arch)
		if mode == Firstboot {
			o.Log.Info("second stage at first boot", "why", why)
		} else {
			o.Log.Info("second stage in a chroot", "why", why)
		}
		o.Mode = mode
		return Run(ctx, t, o)
	case Chroot:
		if _, _, err := Choose(mode, o.Arch); err != nil {
			return nil, "", err
		}
	}
	if mode == Firstboot {
		if err := installFirstboot(t, o); err != nil {
			return nil, "", err
		}
		return t, Firstboot, nil
	}
	nt, err := runChroot(ctx, t, o)
	if err != nil {
		return nil, "", err
	}
	return nt, Chroot, nil
}

// Choose says which mode Run takes here for mode and the guest arch, and
// why: Auto becomes Chroot where a chroot can run (root, and the arch runs
// natively or through binfmt) and Firstboot elsewhere; Chroot where it
// cannot run is an error wrapping ErrCannotChroot. Without root, a chroot
// runs in a user namespace when the user has subordinate ids (/etc/subuid,
// /etc/subgid) and unshare, newuidmap and newgidmap work.
func Choose(mode Mode, arch string) (Mode, string, error) {
	switch mode {
	case Auto:
		if why := cannotChroot(arch); why != "" {
			return Firstboot, why, nil
		}
		runs := arch + " runs here"
		if !nativeArch(runtime.GOARCH, arch) {
			_, handler := binfmt("/proc/sys/fs/binfmt_misc", arch)
			runs += " through binfmt_misc (" + handler + ")"
		}
		if rootless() {
			return Chroot, "in a user namespace with the subordinate ids of " + userName() + ", and " + runs, nil
		}
		return Chroot, "root, and " + runs, nil
	case Chroot:
		if why := cannotChroot(arch); why != "" {
			return "", why, fmt.Errorf("%w: %s (use configure = \"firstboot\")", ErrCannotChroot, why)
		}
	}
	return mode, "", nil
}

// cannotChroot says why Chroot mode cannot run here, or "" if it can.
func cannotChroot(arch string) string {
	if rootless() {
		if why := usernsProbe(); why != "" {
			return "not running as root, and " + why
		}
	}
	if arch == "" {
		return "no guest architecture given"
	}
	for _, tool := range []string{"/bin/sh", "mount", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "the host lacks " + tool
		}
	}
	if nativeArch(runtime.GOARCH, arch) {
		return ""
	}
	if ok, why := binfmt("/proc/sys/fs/binfmt_misc", arch); !ok {
		return why
	}
	return ""
}

// nativeArch reports whether the host (a GOARCH) executes arch's binaries
// without an emulator.
func nativeArch(goarch, arch string) bool {
	switch goarch {
	case "amd64":
		return arch == "amd64" || arch == "i386"
	case "386":
		return arch == "i386"
	case "arm64":
		return arch == "arm64" // armhf needs CPU support that is often absent
	case "arm":
		return arch == "armhf" || arch == "armel"
	case "ppc64le":
		return arch == "ppc64el"
	case "s390x":
		return arch == "s390x"
	case "riscv64":
		return arch == "riscv64"
	case "loong64":
		return arch == "loong64"
	case "mips64le":
		return arch == "mips64el"
	}
	return false
}

// qemuNames maps dpkg architectures to qemu-user's names.
var qemuNames = map[string][]string{
	"i386": {"i386"}, "amd64": {"x86_64"}, "arm64": {"aarch64"},
	"armhf": {"arm"}, "armel": {"arm"}, "arm": {"arm"},
	"ppc64el": {"ppc64le"}, "powerpc": {"ppc"}, "ppc64": {"ppc64"},
	"s390x": {"s390x"}, "mips64el": {"mips64el"}, "mipsel": {"mipsel"},
	"mips": {"mips"}, "riscv64": {"riscv64"}, "loong64": {"loongarch64"},
	"alpha": {"alpha"}, "hppa": {"hppa"}, "m68k": {"m68k"}, "sparc": {"sparc", "sparc32plus"},
	"sparc64": {"sparc64"},
}

// binfmt looks in dir (a binfmt_misc mount) for an enabled qemu-user
// handler of arch registered with the F flag (the interpreter is opened at
// registration, so it works inside a chroot). It returns the handler's
// name, or why there is none.
func binfmt(dir, arch string) (bool, string) {
	names := qemuNames[arch]
	if len(names) == 0 {
		return false, fmt.Sprintf("architecture %s does not run here and no emulator is known for it", arch)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return false, fmt.Sprintf("architecture %s does not run here and binfmt_misc is not mounted (%s)", arch, dir)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var enabled, fix bool
		var interp string
		for _, l := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(l, " ")
			switch {
			case l == "enabled":
				enabled = true
			case k == "interpreter":
				interp = filepath.Base(v)
			case k == "flags:":
				fix = strings.Contains(v, "F")
			}
		}
		if !enabled {
			continue
		}
		for _, n := range names {
			base := "qemu-" + n
			if interp == base || interp == base+"-static" || strings.HasPrefix(e.Name(), base) && interp != "" {
				if !fix {
					return false, fmt.Sprintf("binfmt handler %s for %s lacks the F flag (the emulator would not be found inside the chroot)", e.Name(), arch)
				}
				return true, e.Name()
			}
		}
	}
	return false, fmt.Sprintf("architecture %s does not run here and no binfmt_misc emulator is registered for it", arch)
}
