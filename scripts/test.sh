#!/usr/bin/env bash
# Runs the whole xenimg test suite, installing what it needs first.
#
#   sudo scripts/test.sh            # everything (as root: loop mounts, lvm, chroot)
#   scripts/test.sh -short          # quick: skips the slow network comparisons
#
# Extra arguments go to `go test`. With CI=true a missing prerequisite fails
# the test that needs it instead of skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as judges and peers.
pkgs=(
	e2fsprogs          # e2fsck, debugfs, dumpe2fs, mke2fs: judge every image
	util-linux         # mount, losetup, mkswap, blkid, unshare, setpriv
	uidmap             # newuidmap, newgidmap: the chroot without root
	dpkg-dev           # dpkg-deb, dpkg --compare-versions
	debootstrap        # --print-debs: the reference resolver
	mmdebstrap         # the reference for include lists
	gpg gpgv           # checks the test archives' signatures
	debian-archive-keyring
	lvm2               # clone onto logical volumes
	openssh-client     # ssh-keygen judges generated keys
	openssl            # passwd -1/-6 judge password hashes
	python3            # parses the xm domain config (it is Python)
	whois              # mkpasswd judges password hashes
	file               # identifies swap areas
	qemu-system-x86    # boots what we build
	qemu-user-static binfmt-support  # configures a foreign (arm64) guest in a chroot
	linux-image-amd64  # the kernel and initrd qemu boots
	zstd xz-utils bzip2 pigz
	time bc           # bench/compare.sh
	ca-certificates
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "installing: ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "not root: cannot install ${missing[*]}; tests needing them will skip (CI=true makes them fail)" >&2
	fi
fi

export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"
# Foreign guests run through a binfmt_misc emulator registered with the F
# flag; where no init system did it, mount binfmt_misc and register.
if [ "$(id -u)" -eq 0 ]; then
	if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
	fi
	[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
go vet ./...
exec go test -timeout 40m -count=1 "$@" ./...
