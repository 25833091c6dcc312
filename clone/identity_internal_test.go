package clone

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/swap"
	"github.com/xenimg/xenimg/clone/sshkey"
)

// TestUUIDFrom: RFC 4122 version 4, variant 10xx, whatever the seed bytes.
func TestUUIDFrom(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, b := range []byte{0x00, 0xff, 0x5a} {
		var s sshkey.Seed
		for i := range s {
			s[i] = b
		}
		u := uuidFrom(s)
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Errorf("seed %#x: version %d, variant bits %02b", b, u[6]>>4, u[8]>>6)
		}
		if str := builder.UUIDString(u); !re.MatchString(str) {
			t.Errorf("seed %#x: %s is not an RFC 4122 v4 UUID", b, str)
		}
	}
}

// TestReadSwap: the hand-parsed swap header gives back what swap.Write
// put there, and a file without the signature is refused.
func TestReadSwap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "swap.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	uuid := [16]byte{1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16}
	if err := swap.Write(f, 1<<20, swap.Options{UUID: uuid, Label: "slaveswap"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var tm template
	if err := tm.readSwap(p); err != nil {
		t.Fatal(err)
	}
	if tm.swapUUID != uuid || tm.swapLabel != "slaveswap" || tm.swapSize != 1<<20 || tm.swapPath != p {
		t.Errorf("read %+v", tm)
	}
	if err := os.WriteFile(p, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&template{}).readSwap(p); err == nil {
		t.Error("a swap file without SWAPSPACE2 was accepted")
	}
	var none template
	if err := none.readSwap(filepath.Join(dir, "missing")); err != nil || none.swapPath != "" {
		t.Errorf("missing swap file: %v, %q", err, none.swapPath)
	}
}
