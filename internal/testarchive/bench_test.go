package testarchive

import "testing"

// BenchmarkWriteSargeUniverse measures writing the whole sarge universe
// (128 .debs, Packages.gz, Release, DSA Release.gpg).
func BenchmarkWriteSargeUniverse(b *testing.B) {
	a := sargeArchive(b)
	for b.Loop() {
		if err := a.Write(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildDebModern measures one xz .deb.
func BenchmarkBuildDebModern(b *testing.B) {
	p := testPackage()
	for b.Loop() {
		if _, err := BuildDeb(p, Modern); err != nil {
			b.Fatal(err)
		}
	}
}
