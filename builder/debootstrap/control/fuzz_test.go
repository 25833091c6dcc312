package control

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// writes back to text that parses to the same paragraphs.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*[^z]")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("A: b\n c\n\n#x\nD:\n e\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseBytes("fuzz", data)
		if err != nil {
			return
		}
		for _, p := range ps {
			if pkg, err := ParsePackage(p); err == nil {
				_ = pkg.Depends.String()
			}
			for _, fl := range p.Fields {
				if rs, err := ParseRelations(fl.Value); err == nil {
					if _, err := ParseRelations(rs.String()); err != nil {
						t.Fatalf("relations %q re-parse %q: %v", fl.Value, rs.String(), err)
					}
				}
			}
		}
		var b bytes.Buffer
		if err := Write(&b, ps); err != nil {
			t.Fatalf("write: %v", err)
		}
		ps2, err := ParseBytes("again", b.Bytes())
		if err != nil {
			t.Fatalf("re-parse: %v\n%q", err, b.String())
		}
		if len(ps2) != len(ps) {
			t.Fatalf("%d paragraphs, then %d", len(ps), len(ps2))
		}
		for i := range ps {
			if len(ps[i].Fields) != len(ps2[i].Fields) {
				t.Fatalf("paragraph %d: field count changed", i)
			}
			for j, f := range ps[i].Fields {
				g := ps2[i].Fields[j]
				if f.Name != g.Name || f.Value != g.Value {
					t.Fatalf("field %q=%q became %q=%q", f.Name, f.Value, g.Name, g.Value)
				}
			}
		}
	})
}
