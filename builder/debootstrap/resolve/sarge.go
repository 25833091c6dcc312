package resolve

import "strings"

// The fixed lists of debootstrap's scripts/sarge and scripts/sarge.buildd
// (sarge has no Priority-driven selection). They are adjusted per
// architecture as those scripts do.
const (
	sargeRequired = "base-files base-passwd bash bsdutils coreutils libacl1 libattr1 debconf debconf-i18n liblocale-gettext-perl libtext-wrapi18n-perl libtext-charwidth-perl debianutils diff dpkg dselect libblkid1 e2fsprogs e2fslibs libcomerr2 libss2 libuuid1 findutils grep gzip hostname libcap1 libc6 libdb1-compat libdb3 libncurses5 libnewt0.51 libpam-modules libpam-runtime libpam0g libperl5.8 libpopt0 login makedev mawk modutils mount ncurses-base ncurses-bin passwd perl-base procps sed slang1a-utf8 initscripts sysvinit sysv-rc tar util-linux whiptail libgcc1 gcc-3.3-base libstdc++5"
	sargeBase     = "adduser apt apt-utils libdb4.2 at base-config aptitude libsigc++-1.2-5c102 bsdmainutils console-common console-tools libconsole console-data cpio cron dhcp-client ed exim4 exim4-base exim4-config exim4-daemon-light libgcrypt11 libgnutls11 libgpg-error0 libopencdk8 libtasn1-2 fdutils gettext-base groff-base ifupdown info klogd libssl0.9.7 liblzo1 zlib1g liblockfile1 libpcre3 libwrap0 logrotate mailx man-db libgdbm3 manpages nano net-tools netbase netkit-inetd iputils-ping nvi ppp pppconfig pppoe pppoeconf libpcap0.7 sysklogd tasksel libtextwrap1 tcpd telnet libtext-iconv-perl wget"

	sargeBuilddRequired = "base-files base-passwd bash bsdutils coreutils debianutils diff dpkg dselect e2fslibs e2fsprogs findutils gcc-3.3-base grep gzip hostname initscripts libacl1 libattr1 libblkid1 libc6 libcap1 libcomerr2 libdb1-compat libdb3 libgcc1 libncurses5 libpam-modules libpam-runtime libpam0g libss2 libstdc++5 libuuid1 login mawk mount ncurses-base ncurses-bin passwd perl-base sed slang1a-utf8 sysv-rc sysvinit tar util-linux zlib1g"
	sargeBuilddBase     = "apt binutils cpio cpp cpp-3.3 dpkg-dev g++ g++-3.3 gcc gcc-3.3 libc6-dev libdb4.2 libgdbm3 libstdc++5-3.3-dev linux-kernel-headers make patch perl perl-modules"
)

func without(list []string, name string) []string {
	out := list[:0:0]
	for _, n := range list {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

func subst(list []string, from, to string) []string {
	out := make([]string, len(list))
	for i, n := range list {
		if n == from {
			n = to
		}
		out[i] = n
	}
	return out
}

// SargeRequired returns debootstrap's required list for sarge on arch
// (scripts/sarge), in the script's order.
func SargeRequired(arch string) []string {
	r := strings.Fields(sargeRequired)
	switch {
	case arch == "alpha":
		r = subst(r, "libc6", "libc6.1")
	case arch == "i386":
		r = without(r, "libperl5.8")
	case arch == "ia64":
		r = append(subst(r, "libc6", "libc6.1"), "libreadline4")
	case arch == "m68k", arch == "powerpc":
		r = append(r, "libreadline4")
	case arch == "hppa":
		r = without(r, "libstdc++2.10-glibc2.2")
	case strings.HasPrefix(arch, "sh"):
		r = without(append(r, "libgcc1"), "libstdc++2.10-glibc2.2")
	}
	return r
}

// SargeBase returns debootstrap's base list for sarge on arch
// (scripts/sarge), in the script's order.
func SargeBase(arch string) []string {
	b := strings.Fields(sargeBase)
	ipfw := []string{"iptables"}
	switch {
	case arch == "alpha":
		b = append(b, "pciutils")
		ipfw = []string{"ipchains"}
	case arch == "arm":
		b = append(b, "libgpmg1")
		ipfw = []string{"ipchains", "iptables"}
	case arch == "i386":
		b = append(b, "pciutils", "psmisc")
		ipfw = []string{"ipchains", "iptables"}
	case arch == "ia64":
		b = append(b, "elilo", "efibootmgr", "dosfstools", "libparted1.6-12", "parted")
	case arch == "m68k":
		b = append(b, "atari-bootstrap", "atari-fdisk", "amiga-fdisk", "eject", "mac-fdisk", "pmac-fdisk-cross", "vmelilo")
		ipfw = []string{"ipchains"}
	case arch == "powerpc":
		b = append(b, "mac-fdisk", "amiga-fdisk", "psmisc", "powerpc-utils", "pciutils", "hfsutils")
		ipfw = []string{"ipchains", "iptables"}
	case arch == "sparc":
		b = append(b, "silo", "eject", "pciutils", "sparc-utils")
		ipfw = []string{"ipchains", "iptables"}
	case arch == "mips":
		b = append(b, "dvhtool", "pciutils")
	case arch == "mipsel":
		b = append(b, "pciutils")
	case arch == "hppa":
		b = append(b, "palo", "pciutils")
	case arch == "s390" || arch == "s390x":
		b = append(b, "s390-tools", "telnetd", "devfsd")
		for _, n := range []string{"console-tools-libs", "fdutils", "ppp", "pppconfig", "pppoe", "pppoeconf"} {
			b = without(b, n)
		}
	case strings.HasPrefix(arch, "sh"):
		b = without(append(b, "libstdc++3", "gcc-3.0-base"), "fdutils")
	case arch == "amd64":
		b = append(b, "pciutils", "psmisc")
	}
	return append(b, ipfw...)
}

// SargeBuilddRequired returns the required list of scripts/sarge.buildd.
func SargeBuilddRequired(arch string) []string {
	r := strings.Fields(sargeBuilddRequired)
	if arch == "alpha" || arch == "ia64" {
		r = subst(r, "libc6", "libc6.1")
	}
	return r
}

// SargeBuilddBase returns the base list of scripts/sarge.buildd.
func SargeBuilddBase(arch string) []string {
	b := strings.Fields(sargeBuilddBase)
	if arch == "alpha" || arch == "ia64" {
		b = subst(b, "libc6-dev", "libc6.1-dev")
	}
	return b
}
