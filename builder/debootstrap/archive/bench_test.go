package archive

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/xenimg/xenimg/builder/debootstrap/release"
)

// synthetic Packages text, about 4 MB.
func synthPackages() []byte {
	var b bytes.Buffer
	for i := range 4000 {
		fmt.Fprintf(&b, "Package: pkg%05d\nVersion: 1.%d-%d\nInstalled-Size: %d\nMaintainer: Test <t@test.invalid>\n"+
			"Architecture: amd64\nDepends: libc6 (>= 2.%d), libpkg%d\nDescription: package number %d\nMulti-Arch: foreign\n"+
			"Description-md5: %032x\nSection: misc\nPriority: optional\nFilename: pool/main/p/pkg%05d/pkg%05d_1.%d-%d_amd64.deb\n"+
			"Size: %d\nMD5sum: %032x\nSHA256: %064x\n\n",
			i, i%97, i%7, i*13%9000, i%40, i%500, i, i*7919, i, i, i%97, i%7, i*31, i*104729, i*1299709)
	}
	return b.Bytes()
}

// BenchmarkDecompress compares the index decoders Packages chooses between
// (gzip is preferred because it decodes much faster than xz).
func BenchmarkDecompress(b *testing.B) {
	plain := synthPackages()
	var gzb, xzb bytes.Buffer
	gw := gzip.NewWriter(&gzb)
	gw.Write(plain)
	gw.Close()
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		b.Fatal(err)
	}
	xw.Write(plain)
	xw.Close()
	for _, c := range []struct {
		ext string
		raw []byte
	}{{".gz", gzb.Bytes()}, {".xz", xzb.Bytes()}} {
		b.Run(c.ext, func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				out, err := decompress(c.ext, c.raw, release.FileSum{}, false)
				if err != nil || len(out) != len(plain) {
					b.Fatalf("%v, %d bytes", err, len(out))
				}
			}
		})
	}
}
