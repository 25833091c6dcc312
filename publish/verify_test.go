package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/xenimg/xenimg/internal/testenv"
)

// testKey writes an unprotected Ed25519 secret key (armored) and its public
// key (binary, a gpgv keyring) and returns their paths.
func testKey(t *testing.T, name string) (secret, public string) {
	t.Helper()
	created := time.Unix(testEpoch-1000, 0)
	e, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return created }})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var sb bytes.Buffer
	aw, err := armor.Encode(&sb, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	var pb bytes.Buffer
	if err := e.Serialize(&pb); err != nil {
		t.Fatal(err)
	}
	secret, public = filepath.Join(dir, "secret.asc"), filepath.Join(dir, "public.gpg")
	os.WriteFile(secret, sb.Bytes(), 0o600)
	os.WriteFile(public, pb.Bytes(), 0o644)
	return secret, public
}

// TestDeterministicAndSigned publishes the same template twice (different
// worker counts) and gets the same bytes, signature included; gpgv and
// Verify accept the signature, another key is refused.
func TestDeterministicAndSigned(t *testing.T) {
	dir := makeTemplate(t, 1024)
	secret, public := testKey(t, "signer")
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	publishT(t, dir, Options{Out: a, SignKey: secret, Workers: 1})
	publishT(t, dir, Options{Out: b, SignKey: secret, Workers: 3})
	ents, _ := os.ReadDir(a)
	if len(ents) != 9 {
		t.Errorf("%d files in the publication, want 9", len(ents))
	}
	for _, e := range ents {
		if x, y := sha(t, filepath.Join(a, e.Name())), sha(t, filepath.Join(b, e.Name())); x != y {
			t.Errorf("%s differs between two runs", e.Name())
		}
	}
	run(t, testenv.Tool(t, "gpgv"), "--keyring", public, filepath.Join(a, SigFile), filepath.Join(a, SumsFile))
	rep, err := Verify(context.Background(), a, VerifyOptions{Keyring: public, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signer == "" {
		t.Error("verify did not report the signer")
	}
	_, other := testKey(t, "other")
	if _, err := Verify(context.Background(), a, VerifyOptions{Keyring: other, Now: time.Now()}); err == nil || !strings.Contains(err.Error(), SigFile) {
		t.Errorf("verify with another key: %v, want a bad signature naming %s", err, SigFile)
	}
	// A keyring given, no signature: refused.
	os.Remove(filepath.Join(b, SigFile))
	if _, err := Verify(context.Background(), b, VerifyOptions{Keyring: public, Now: time.Now()}); err == nil {
		t.Error("verify with a keyring accepted an unsigned publication")
	}
	// Publishing again into a previous publication replaces it; into
	// another directory is refused.
	publishT(t, dir, Options{Out: a})
	if _, err := os.Stat(filepath.Join(a, SigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("republished without a key, the old signature is still there: %v", err)
	}
	if _, err := Publish(context.Background(), dir, Options{Out: dir}); err == nil {
		t.Error("publish into a template directory was accepted")
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	run(t, "cp", "-a", "--sparse=always", src, dst)
	return dst
}

// TestVerifyTampered: a changed byte in any artifact fails verify with a
// message naming the file.
func TestVerifyTampered(t *testing.T) {
	dir := makeTemplate(t, 4096)
	secret, public := testKey(t, "signer")
	out := filepath.Join(t.TempDir(), "pub")
	publishT(t, dir, Options{Out: out, SignKey: secret})
	for _, f := range []string{"tiny.img.zst", "tiny.img.xz", "tiny.tar.gz", "tiny.cpio.gz", "tiny.disk.img", "manifest.json", "index.json", SumsFile} {
		t.Run(f, func(t *testing.T) {
			c := copyDir(t, out)
			p := filepath.Join(c, f)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0x20
			os.WriteFile(p, data, 0o644)
			_, err = Verify(context.Background(), c, VerifyOptions{Keyring: public, Now: time.Now()})
			want := f
			if f == SumsFile {
				want = SigFile
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("verify after changing %s: %v, want an error naming %s", f, err, want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		c := copyDir(t, out)
		os.Remove(filepath.Join(c, "tiny.tar.gz"))
		if _, err := Verify(context.Background(), c, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "tiny.tar.gz") {
			t.Errorf("verify with a file missing: %v", err)
		}
	})
}

// corruptions are edits (debugfs -w requests, or raw byte writes) that
// e2fsck -fn reports; Check must report them too.
var corruptions = []struct {
	name, debugfs string
	want          string
}{
	{"free-count", "set_bg 0 free_blocks_count 7", "free blocks"},
	{"block-out-of-range", "sif /var/lib/big block[3] 90000000", "outside the filesystem"},
	{"links-count", "sif /etc/hostname links_count 3", "link count"},
	{"unreached-inode", "unlink /etc/hostname", "not reached"},
	{"block-freed", "freeb 0 0", ""}, // filled in by the test: the first data block of /var/lib/big
	{"dir-entry-to-free-inode", "freei /usr/bin/tool", "not in use"},
}

// TestCheckAgreesWithE2fsck corrupts images in ways e2fsck finds and checks
// that Check finds them too, and that verify refuses a publication of such
// an image even with consistent checksums.
func TestCheckAgreesWithE2fsck(t *testing.T) {
	debugfs, e2fsck := testenv.Tool(t, "debugfs"), testenv.Tool(t, "e2fsck")
	base := makeTemplate(t, 1024)
	f, _ := os.Open(filepath.Join(base, "root.img"))
	if _, err := Check(f); err != nil {
		t.Fatalf("clean image: %v", err)
	}
	f.Close()
	bmap := run(t, debugfs, "-R", "bmap /var/lib/big 0", filepath.Join(base, "root.img"))
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, base)
			img := filepath.Join(dir, "root.img")
			req, want := c.debugfs, c.want
			if c.name == "block-freed" {
				req, want = "freeb "+strings.TrimSpace(bmap), "free in the bitmap"
			}
			run(t, debugfs, "-w", "-R", req, img)
			if err := exec.Command(e2fsck, "-fn", img).Run(); err == nil {
				t.Fatalf("e2fsck -fn accepts the image after %q; the corruption is not one", req)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = Check(f)
			var ce *CheckError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Check after %q: %v, want a CheckError with %q", req, err, want)
			}
			if c.name != "free-count" {
				return
			}
			// Published with consistent checksums, verify still refuses it.
			writeManifest(t, dir)
			out := filepath.Join(t.TempDir(), "pub")
			publishT(t, dir, Options{Out: out})
			if _, err := Verify(context.Background(), out, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "tiny.img.zst") || !strings.Contains(err.Error(), "free blocks") {
				t.Errorf("verify of a corrupt image: %v", err)
			}
		})
	}
}

// TestStaleUnusedBlocks: bytes left in a free block are published as zeros;
// index.json says the image differs from the manifest's, verify accepts it.
func TestStaleUnusedBlocks(t *testing.T) {
	dir := makeTemplate(t, 4096)
	img := filepath.Join(dir, "root.img")
	src, err := OpenSource(img)
	if err != nil {
		t.Fatal(err)
	}
	// The first byte after the first used span is in a free block.
	off := src.spans[0].Off + src.spans[0].Len
	src.Close()
	clean, _ := os.ReadFile(img)
	f, _ := os.OpenFile(img, os.O_WRONLY, 0)
	f.WriteAt([]byte("stale data of a deleted file"), off+100)
	f.Close()
	writeManifest(t, dir)
	out := filepath.Join(t.TempDir(), "pub")
	res := publishT(t, dir, Options{Out: out})
	if res.Template.ImageMatchesManifest {
		t.Error("index says the image matches the manifest although a free block held data")
	}
	if res.Template.ImageSHA256 != hexSum(clean) {
		t.Errorf("published image SHA256 %s, want that of the image with the free block zeroed %s", res.Template.ImageSHA256, hexSum(clean))
	}
	rep, err := Verify(context.Background(), out, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unchecked) == 0 {
		t.Error("verify did not note that the image differs from the manifest")
	}
}

func TestParseSums(t *testing.T) {
	good := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good + "  a.img\n", true},
		{good + " *a.img\n", true},
		{good + "  ../etc/passwd\n", false},
		{good + "  dir/a\n", false},
		{strings.ToUpper(good) + "  a\n", false},
		{good + " a\n", false},
		{good + "  a\n" + good + "  a\n", false},
		{"xyz  a\n", false},
	} {
		_, err := ParseSums([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("ParseSums(%q): %v", tc.in, err)
		}
	}
}

// TestPublishCancelled: an interrupted publish leaves nothing behind.
func TestPublishCancelled(t *testing.T) {
	dir := makeTemplate(t, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "pub")
	if _, err := Publish(ctx, dir, Options{Out: out}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled publish: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 0 {
		t.Errorf("cancelled publish left %v", ents)
	}
	// A missing root.img and a corrupt manifest are named.
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{"), 0o644)
	if _, err := Publish(context.Background(), dir, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("corrupt manifest: %v", err)
	}
	writeManifest(t, dir)
	os.Remove(filepath.Join(dir, "root.img"))
	if _, err := Publish(context.Background(), dir, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "root.img") {
		t.Errorf("missing root.img: %v", err)
	}
}
