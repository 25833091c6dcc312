package resolve

import (
	"os"
	"testing"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
)

// BenchmarkResolveImportant resolves bookworm's important variant plus the
// cluster packages from a parsed index: XENIMG_PACKAGES names an
// uncompressed bookworm main amd64 Packages file.
func BenchmarkResolveImportant(b *testing.B) {
	name := os.Getenv("XENIMG_PACKAGES")
	if name == "" {
		b.Skip("XENIMG_PACKAGES not set (an uncompressed bookworm main amd64 Packages file)")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	pkgs, err := control.ParsePackagesBytes(name, data)
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{Codename: "bookworm", Variant: Important,
		Include: []string{"openssh-server", "make", "m4", "pvm", "build-essential"}}
	b.Run("universe+resolve", func(b *testing.B) {
		for b.Loop() {
			if _, err := Resolve(NewUniverse("amd64", pkgs), opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	u := NewUniverse("amd64", pkgs)
	b.Run("resolve", func(b *testing.B) {
		for b.Loop() {
			set, err := Resolve(u, opt)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(set.Packages)), "packages")
		}
	})
}
