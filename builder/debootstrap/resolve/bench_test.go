package resolve

import (
	"os"
	"testing"

	"github.com/xenimg/xenimg/builder/debootstrap/control"
)

// BenchmarkResolveImportant resolves bookworm's important variant plus the
// cluster packages: XENIMG_PACKAGES names an uncompressed bookworm main
// amd64 Packages file. "parsed" is the universe of fully parsed packages,
// "scanned" the one xenimg build uses (control.Index, packages parsed when
// the resolver looks at them); "from-bytes" includes parsing or scanning
// the index.
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
	ix, err := control.ScanPackages(name, data)
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{Codename: "bookworm", Variant: Important,
		Include: []string{"openssh-server", "make", "m4", "pvm", "build-essential"}}
	b.Run("parsed/universe+resolve", func(b *testing.B) {
		for b.Loop() {
			if _, err := Resolve(NewUniverse("amd64", pkgs), opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scanned/universe+resolve", func(b *testing.B) {
		for b.Loop() {
			u, err := NewIndexUniverse("amd64", ix)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Resolve(u, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsed/from-bytes", func(b *testing.B) {
		for b.Loop() {
			pkgs, err := control.ParsePackagesBytes(name, data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Resolve(NewUniverse("amd64", pkgs), opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scanned/from-bytes", func(b *testing.B) {
		for b.Loop() {
			ix, err := control.ScanPackages(name, data)
			if err != nil {
				b.Fatal(err)
			}
			u, err := NewIndexUniverse("amd64", ix)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Resolve(u, opt); err != nil {
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
