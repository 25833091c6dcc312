#!/bin/sh
# Regenerates the seed files of FuzzReader and TestTestdata with xz(1).
# Each NAME.xz decodes to NAME.out, or to text.out where there is none.
set -e
cd "$(dirname "$0")"
text() { i=0; while [ $i -lt 200 ]; do echo "line $i: the quick brown fox jumps over the lazy dog $((i * i % 97))"; i=$((i + 1)); done; }
text > text.out
xz -6 -c text.out > crc64.xz
xz -0 --check=crc32 -c text.out > crc32.xz
xz --check=sha256 -c text.out > sha256.xz
xz --check=none -c text.out > none.xz
xz --block-size=2000 -c text.out > blocks.xz
# Two streams with stream padding between them and after them.
{ xz -c text.out; printf '\0\0\0\0'; xz --check=crc32 -c text.out; printf '\0\0\0\0\0\0\0\0'; } > streams.xz
{ cat text.out text.out; } > streams.out
# Empty input: a stream with no blocks.
: > empty.out
xz -c empty.out > empty.xz
# Incompressible bytes: LZMA2 uncompressed chunks.
head -c 3000 /dev/urandom > random.out
xz -c random.out > random.xz
# Small dictionary and unusual lc/lp/pb.
xz --lzma2=dict=4KiB,lc=0,lp=4,pb=4 -c text.out > props.xz
