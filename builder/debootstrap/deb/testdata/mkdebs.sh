#!/bin/sh
# Builds the small .debs in this directory with dpkg-deb, one per
# compression. Run from this directory: sh mkdebs.sh
set -eu
export SOURCE_DATE_EPOCH=1700000000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/pkg
mkdir -p $p/DEBIAN $p/etc/hello $p/usr/bin $p/usr/share/doc/hello $p/bin
cat > $p/DEBIAN/control <<'CTL'
Package: hello-xenimg
Version: 1:1.0-1
Architecture: all
Maintainer: xenimg tests <tests@example.org>
Installed-Size: 1
Multi-Arch: foreign
Section: misc
Priority: optional
Description: tiny package for the .deb reader tests
 A second line.
CTL
printf '/etc/hello/hello.conf\n' > $p/DEBIAN/conffiles
printf '#!/bin/sh\nset -e\necho configured\n' > $p/DEBIAN/postinst
chmod 0755 $p/DEBIAN/postinst
printf 'greeting=hello\n' > $p/etc/hello/hello.conf
printf '#!/bin/sh\necho hello\n' > $p/usr/bin/hello
chmod 0755 $p/usr/bin/hello
ln $p/usr/bin/hello $p/usr/bin/hello-hard
ln -s hello $p/usr/bin/hi
ln -s /usr/bin/hello $p/bin/hello
printf 'copyright\n' > $p/usr/share/doc/hello/copyright
(cd $p && find usr bin -type f | sort | xargs md5sum) > $p/DEBIAN/md5sums
find $p -exec touch -h -d @$SOURCE_DATE_EPOCH {} +
for z in gzip xz zstd none; do
	dpkg-deb --root-owner-group -Z$z --build $p hello_$z.deb >/dev/null
done
# dpkg-deb no longer writes bzip2; old archives have it. Recompress the
# data member of the gzip one and reassemble with ar (D: zero times/owners).
rm -f hello_bzip2.deb
mkdir $tmp/bz && (cd $tmp/bz && ar x "$OLDPWD/hello_gzip.deb" &&
	gzip -dc data.tar.gz | bzip2 -9 > data.tar.bz2 &&
	ar rcD "$OLDPWD/hello_bzip2.deb" debian-binary control.tar.gz data.tar.bz2)
