package control

import (
	"os"
	"testing"
)

// BenchmarkParsePackages parses a full Packages index named by
// XENIMG_PACKAGES (e.g. bookworm main amd64, 50 MB uncompressed).
func BenchmarkParsePackages(b *testing.B) {
	name := os.Getenv("XENIMG_PACKAGES")
	if name == "" {
		b.Skip("XENIMG_PACKAGES not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		pkgs, err := ParsePackagesBytes(name, data)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(pkgs)), "packages")
	}
}

func BenchmarkParseParagraphs(b *testing.B) {
	name := os.Getenv("XENIMG_PACKAGES")
	if name == "" {
		b.Skip("XENIMG_PACKAGES not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseBytes(name, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanPackages scans the same index as BenchmarkParsePackages
// (compare the two in one run: the scan is what a resolver needs).
func BenchmarkScanPackages(b *testing.B) {
	name := os.Getenv("XENIMG_PACKAGES")
	if name == "" {
		b.Skip("XENIMG_PACKAGES not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		ix, err := ScanPackages(name, data)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ix.Len()), "packages")
	}
}
