package ext3

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestSmokeWriter(t *testing.T) {
	p := t.TempDir() + "/a.img"
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, Options{Size: 64 << 20, BlockSize: 1024, Journal: true, Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteHeader(&Header{Name: "etc/passwd", Mode: 0644, Size: 5}))
	_, err = w.Write([]byte("hello"))
	must(err)
	must(w.WriteHeader(&Header{Name: "usr/bin/x", Mode: 0755, Size: 300000}))
	_, err = w.Write(make([]byte, 300000))
	must(err)
	must(w.Close())
	f.Close()
	out, err := exec.Command("e2fsck", "-fn", p).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
}
