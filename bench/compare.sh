#!/usr/bin/env bash
# Compares xenimg with its peers on this machine, in one run, from one local
# mirror, and prints ratios (the machine is shared and noisy: only ratios
# measured in the same run mean anything).
#
#   sudo bench/compare.sh [RECIPE]        # default recipes/bookworm-pvm.toml
#   sudo RUNS=3 bench/compare.sh          # every step 3 times, interleaved;
#                                         # the fastest run of each counts
#
# Peers: mmdebstrap (+ mke2fs -t ext3 -d for the image), debootstrap, and
# for the image writer alone mke2fs -d on the same tree. Peak memory is
# each command's maximum RSS from /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:-recipes/bookworm-pvm.toml}
[ "$(id -u)" -eq 0 ] || { echo "run as root (chroot second stage, debootstrap)" >&2; exit 2; }
for t in mmdebstrap debootstrap mke2fs /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "missing $t (apt-get install mmdebstrap debootstrap e2fsprogs time)" >&2; exit 2; }
done

work=$(mktemp -d /var/tmp/xenimg-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/xenimg" ./cmd/xenimg
x="$work/xenimg"
cache="$work/cache"

# One local mirror for everybody: the recipe's package set, signed indexes
# verbatim. mmdebstrap lets apt take usrmerge where debootstrap (and xenimg)
# take usr-is-merged, so the mirror also carries usrmerge and its deps.
sed -e 's/^include *= *\[/include    = ["usrmerge", /' "$recipe" > "$work/mirror-recipe.toml"
"$x" mirror --cache "$cache" "$work/mirror-recipe.toml" "$work/mirror" >/dev/null
mirror="file://$work/mirror"
sed -e "s#^mirror *=.*#mirror     = \"$mirror\"#" "$recipe" > "$work/recipe.toml"
codename=$(sed -n 's/^codename *= *"\([^"]*\)".*/\1/p' "$recipe")
arch=$(sed -n 's/^arch *= *"\([^"]*\)".*/\1/p' "$recipe")
variant=$(sed -n 's/^variant *= *"\([^"]*\)".*/\1/p' "$recipe")
include=$(sed -n 's/^include *= *\[\(.*\)\].*/\1/p' "$recipe" | tr -d '" ' )
size=$(sed -n 's/^size *= *"\([^"]*\)".*/\1/p' "$recipe" | sed 's/iB//')

runs=${RUNS:-1}
declare -A secs rss
measure() { # name command...: keeps the fastest time and the largest RSS
	local name=$1; shift
	local t0 t1 s m
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$work/$name.rss" "$@" >"$work/$name.log" 2>&1 || {
		echo "$name failed:" >&2; tail -20 "$work/$name.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	s=$(echo "$t1 - $t0" | bc)
	m=$(( $(tail -1 "$work/$name.rss") / 1024 ))
	if [ -z "${secs[$name]:-}" ] || [ "$(echo "$s < ${secs[$name]}" | bc)" = 1 ]; then secs[$name]=$s; fi
	if [ -z "${rss[$name]:-}" ] || [ "$m" -gt "${rss[$name]}" ]; then rss[$name]=$m; fi
}

# Warm the page cache and xenimg's cache once (not measured).
"$x" fetch --cache "$cache" "$work/recipe.toml" >/dev/null 2>&1

dbvariant=(--variant="$variant")
[ "$variant" = important ] && dbvariant=()   # debootstrap's default variant has no name
for run in $(seq "$runs"); do
	[ "$runs" -gt 1 ] && echo "run $run of $runs" >&2
	rm -rf "$work/out-none" "$work/out" "$work/mm" "$work/mm.img" "$work/db" "$work/dbf"
	measure xenimg_unpack_image "$x" build --offline --cache "$cache" --configure none -o "$work/out-none" "$work/recipe.toml"
	measure xenimg_configured "$x" build --offline --cache "$cache" --configure chroot -o "$work/out" "$work/recipe.toml"
	measure mmdebstrap mmdebstrap --quiet --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount --variant="$variant" --include="$include" --arch="$arch" "$codename" "$work/mm" "$mirror"
	measure mke2fs_d mke2fs -q -F -t ext3 -d "$work/mm" "$work/mm.img" "$size"
	measure debootstrap debootstrap "${dbvariant[@]}" --include="$include" --arch="$arch" "$codename" "$work/db" "$mirror"
	# The first stage alone: unpacking, beside xenimg's unpack + image write.
	measure debootstrap_foreign debootstrap --foreign "${dbvariant[@]}" --include="$include" --arch="$arch" "$codename" "$work/dbf" "$mirror"
done
# dpkg-deb -x of the very .debs xenimg unpacks, one after another.
debs=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("\n".join(p["name"] for p in m["packages"]))' "$work/out/manifest.json" |
	while read -r n; do ls "$work"/mirror/pool/*/*/*/"${n}"_*.deb; done | sort -u)
measure dpkg_deb_x sh -c 'mkdir -p "$1"; shift; d=$1; shift; for f in "$@"; do dpkg-deb -x "$f" "$d"; done' sh "$work/dx" "$work/dx" $debs

mm_total=$(echo "${secs[mmdebstrap]} + ${secs[mke2fs_d]}" | bc)
printf '\n%-28s %9s %9s   (fastest of %s runs)\n' "step" "seconds" "max MB" "$runs"
for k in xenimg_unpack_image xenimg_configured mmdebstrap mke2fs_d debootstrap debootstrap_foreign dpkg_deb_x; do
	printf '%-28s %9.2f %9d\n' "$k" "${secs[$k]}" "${rss[$k]}"
done
printf '\nratios (higher is better for xenimg):\n'
printf '  mmdebstrap + mke2fs -d  / xenimg configured build : %.2fx\n' "$(echo "$mm_total / ${secs[xenimg_configured]}" | bc -l)"
printf '  debootstrap             / xenimg configured build : %.2fx\n' "$(echo "${secs[debootstrap]} / ${secs[xenimg_configured]}" | bc -l)"
printf '  mmdebstrap + mke2fs -d  / xenimg unpack + image   : %.2fx\n' "$(echo "$mm_total / ${secs[xenimg_unpack_image]}" | bc -l)"
printf '  debootstrap --foreign   / xenimg unpack + image   : %.2fx\n' "$(echo "${secs[debootstrap_foreign]} / ${secs[xenimg_unpack_image]}" | bc -l)"
printf '  dpkg-deb -x (same debs) / xenimg unpack + image   : %.2fx\n' "$(echo "${secs[dpkg_deb_x]} / ${secs[xenimg_unpack_image]}" | bc -l)"
printf '  packages: xenimg %s, mmdebstrap %s\n' \
	"$(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))["packages"]))' "$work/out/manifest.json")" \
	"$(chroot "$work/mm" dpkg-query -W | wc -l)"
