package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xenimg/xenimg/builder"
	"github.com/xenimg/xenimg/builder/ext3"
	"github.com/xenimg/xenimg/internal/testenv"
)

const testEpoch = 1700000000

// run runs a command and returns its stdout; stderr goes into the failure.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func sha(t *testing.T, path string) string {
	t.Helper()
	s, _, err := builder.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeTemplate writes a template directory like xenimg build's: root.img
// made by mke2fs -t ext3 -d from a tree with every kind of file (a char and
// a block device, a fifo, short and long symlinks, a hard link, a sparse
// file, files owned by 1000:1000 and setuid), swap.img, NAME.cfg,
// recipe.toml and manifest.json. blockSize is 1024 or 4096.
func makeTemplate(t *testing.T, blockSize int) string {
	t.Helper()
	testenv.Root(t)
	mke2fs := testenv.Tool(t, "mke2fs")
	tree := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "dev", "usr/bin", "home/user/.ssh", "var/lib"} {
		must(os.MkdirAll(filepath.Join(tree, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(tree, "etc/hostname"), []byte("template\n"), 0o644))
	must(os.WriteFile(filepath.Join(tree, "usr/bin/tool"), bytes.Repeat([]byte("#!/bin/sh\necho tool\n"), 500), 0o4755))
	must(os.Link(filepath.Join(tree, "usr/bin/tool"), filepath.Join(tree, "usr/bin/tool-link")))
	must(os.Symlink("usr/bin", filepath.Join(tree, "bin")))
	must(os.Symlink(strings.Repeat("long/", 20)+"target", filepath.Join(tree, "etc/long-link")))
	must(os.WriteFile(filepath.Join(tree, "home/user/.ssh/authorized_keys"), []byte("ssh-ed25519 AAAA user\n"), 0o600))
	must(os.Chown(filepath.Join(tree, "home/user"), 1000, 1000))
	must(os.Chown(filepath.Join(tree, "home/user/.ssh/authorized_keys"), 1000, 1000))
	must(os.WriteFile(filepath.Join(tree, "var/lib/empty"), nil, 0o644))
	must(syscall.Mkfifo(filepath.Join(tree, "dev/initctl"), 0o600))
	must(syscall.Mknod(filepath.Join(tree, "dev/null"), syscall.S_IFCHR|0o666, int(devNum(1, 3))))
	must(syscall.Mknod(filepath.Join(tree, "dev/xvda1"), syscall.S_IFBLK|0o660, int(devNum(202, 1))))
	must(syscall.Mknod(filepath.Join(tree, "dev/big"), syscall.S_IFCHR|0o600, int(devNum(300, 70000))))
	for name, mode := range map[string]os.FileMode{"usr/bin/tool": 0o755 | os.ModeSetuid, "dev/initctl": 0o600 | os.ModeNamedPipe,
		"dev/null": 0o666, "dev/xvda1": 0o660} {
		must(os.Chmod(filepath.Join(tree, name), mode))
	}
	// A sparse-ish file: data, a 3 MiB hole, data.
	big, err := os.Create(filepath.Join(tree, "var/lib/big"))
	must(err)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	_, err = big.Write(data)
	must(err)
	_, err = big.WriteAt(data, 4<<20)
	must(err)
	must(big.Close())

	dir := t.TempDir()
	img := filepath.Join(dir, "root.img")
	cmd := exec.Command(mke2fs, "-q", "-F", "-t", "ext3", "-b", fmt.Sprint(blockSize), "-I", "256",
		"-U", "d0e1f2a3-b4c5-4d6e-8f70-8192a3b4c5d6", "-E", "hash_seed=0b1c2d3e-4f50-4162-8374-8596a7b8c9d0",
		"-d", tree, img, "64M")
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+fmt.Sprint(testEpoch))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	swap := make([]byte, 8<<20)
	copy(swap[4086:], "SWAPSPACE2")
	swap[1024] = 1
	must(os.WriteFile(filepath.Join(dir, "swap.img"), swap, 0o644))
	must(os.WriteFile(filepath.Join(dir, "tiny.cfg"), []byte("name = \"tiny\"\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte("name = \"tiny\"\n"), 0o644))
	writeManifest(t, dir)
	return dir
}

// writeManifest writes dir/manifest.json naming the current root.img.
func writeManifest(t *testing.T, dir string) {
	t.Helper()
	m := builder.Manifest{Name: "tiny", Epoch: testEpoch, Configure: "none", Images: map[string]builder.Image{}, XenConfig: "tiny.cfg"}
	m.Suite.Codename, m.Suite.Arch, m.Suite.Variant = "bookworm", "amd64", "minbase"
	m.Packages = []builder.ManifestPackage{{Name: "base-files", Version: "12.4", Arch: "amd64", SHA256: strings.Repeat("a", 64)}}
	for _, f := range []string{"root.img", "swap.img"} {
		s, n, err := builder.FileSHA256(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		m.Images[f] = builder.Image{Size: n, SHA256: s}
	}
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func devNum(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

func publishT(t *testing.T, dir string, o Options) *Result {
	t.Helper()
	res, err := Publish(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPublishReferenceTools judges every artifact with the tools people
// will use on it.
func TestPublishReferenceTools(t *testing.T) {
	for _, tc := range []struct {
		bs    int
		table TableType
	}{{1024, MBR}, {4096, GPT}} {
		t.Run(fmt.Sprintf("%d-%s", tc.bs, tc.table), func(t *testing.T) {
			dir := makeTemplate(t, tc.bs)
			out := filepath.Join(t.TempDir(), "pub")
			publishT(t, dir, Options{Out: out, Table: tc.table})
			want := sha(t, filepath.Join(dir, "root.img"))
			tmp := t.TempDir()
			p := func(name string) string { return filepath.Join(out, "tiny"+name) }

			// zstd -d and xz -d give back root.img; xz -t passes.
			run(t, testenv.Tool(t, "zstd"), "-q", "-d", p(".img.zst"), "-o", filepath.Join(tmp, "z.img"))
			if got := sha(t, filepath.Join(tmp, "z.img")); got != want {
				t.Errorf("zstd -d: SHA256 %s, root.img %s", got, want)
			}
			xz := testenv.Tool(t, "xz")
			run(t, xz, "-t", p(".img.xz"))
			run(t, "sh", "-c", xz+" -dc "+p(".img.xz")+" > "+filepath.Join(tmp, "x.img"))
			if got := sha(t, filepath.Join(tmp, "x.img")); got != want {
				t.Errorf("xz -d: SHA256 %s, root.img %s", got, want)
			}
			// sha256sum -c.
			cmd := exec.Command(testenv.Tool(t, "sha256sum"), "-c", SumsFile)
			cmd.Dir = out
			if o, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c: %v\n%s", err, o)
			}

			// tar -tvf lists the tree with owners, devices, links.
			list := run(t, testenv.Tool(t, "tar"), "--numeric-owner", "-tvzf", p(".tar.gz"))
			for _, w := range []string{
				"drwxr-xr-x 1000/1000", "./home/user/",
				"crw-rw-rw- 0/0", "1,3", "./dev/null",
				"brw-rw---- 0/0", "202,1", "./dev/xvda1", "300,70000",
				"prw------- 0/0", "./dev/initctl",
				"lrwxrwxrwx", "./bin -> usr/bin", "long/long/target",
				"-rwsr-xr-x 0/0", "./usr/bin/tool-link link to ./usr/bin/tool", "./var/lib/big", "./var/lib/empty",
				"-rw------- 1000/1000", "./home/user/.ssh/authorized_keys",
			} {
				if !strings.Contains(list, w) {
					t.Errorf("tar -tv lacks %q:\n%s", w, list)
				}
			}
			if strings.Contains(list, "lost+found") {
				t.Errorf("tar holds lost+found")
			}
			// tar -x gives the same bytes as the image (sparse file included).
			tx := filepath.Join(tmp, "tar")
			os.Mkdir(tx, 0o755)
			run(t, "tar", "-xzf", p(".tar.gz"), "-C", tx)
			compareTree(t, dir, tx)

			// cpio -idm recreates device nodes with their numbers.
			cx := filepath.Join(tmp, "cpio")
			os.Mkdir(cx, 0o755)
			c := exec.Command("sh", "-c", "gzip -dc "+p(".cpio.gz")+" | "+testenv.Tool(t, "cpio")+" -idm --quiet")
			c.Dir = cx
			if o, err := c.CombinedOutput(); err != nil {
				t.Fatalf("cpio -idm: %v\n%s", err, o)
			}
			for _, d := range []struct {
				name         string
				typ          uint32
				major, minor uint32
			}{{"dev/null", syscall.S_IFCHR, 1, 3}, {"dev/xvda1", syscall.S_IFBLK, 202, 1}, {"dev/big", syscall.S_IFCHR, 300, 70000}} {
				var st syscall.Stat_t
				if err := syscall.Lstat(filepath.Join(cx, d.name), &st); err != nil {
					t.Errorf("cpio: %v", err)
					continue
				}
				if st.Mode&syscall.S_IFMT != d.typ || st.Rdev != devNum(d.major, d.minor) {
					t.Errorf("cpio: %s: mode %o rdev %#x, want type %o rdev %d,%d", d.name, st.Mode, st.Rdev, d.typ, d.major, d.minor)
				}
			}
			compareTree(t, dir, cx)
			var a, b syscall.Stat_t
			syscall.Stat(filepath.Join(cx, "usr/bin/tool"), &a)
			syscall.Stat(filepath.Join(cx, "usr/bin/tool-link"), &b)
			if a.Ino != b.Ino || a.Nlink != 2 {
				t.Errorf("cpio: hard link not kept: inodes %d %d, nlink %d", a.Ino, b.Ino, a.Nlink)
			}

			// The disk image: the table tools accept it, partition 1 is root.img.
			disk := p(".disk.img")
			if tc.table == MBR {
				d := run(t, testenv.Tool(t, "sfdisk"), "-d", disk)
				if !strings.Contains(d, "start=        2048") || !strings.Contains(d, "type=83") || !strings.Contains(d, "type=82") {
					t.Errorf("sfdisk -d:\n%s", d)
				}
			} else {
				v := run(t, testenv.Tool(t, "sgdisk"), "-v", disk)
				if !strings.Contains(v, "No problems found") {
					t.Errorf("sgdisk -v:\n%s", v)
				}
				d := run(t, testenv.Tool(t, "sfdisk"), "-d", disk)
				if !strings.Contains(d, "label: gpt") || !strings.Contains(d, "name=\"root\"") {
					t.Errorf("sfdisk -d:\n%s", d)
				}
			}
			part := filepath.Join(tmp, "part1.img")
			st, _ := os.Stat(filepath.Join(dir, "root.img"))
			run(t, "dd", "if="+disk, "of="+part, "bs=1M", "skip=1", fmt.Sprintf("count=%d", st.Size()>>20), "status=none")
			if got := sha(t, part); got != want {
				t.Errorf("disk partition 1: SHA256 %s, root.img %s", got, want)
			}
			run(t, testenv.Tool(t, "e2fsck"), "-fn", part)
			var dst syscall.Stat_t
			syscall.Stat(disk, &dst)
			if used := dst.Blocks * 512; used > 16<<20 {
				t.Errorf("disk image not sparse: %d bytes allocated", used)
			}

			if _, err := Verify(context.Background(), out, VerifyOptions{E2fsck: testenv.Tool(t, "e2fsck")}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// compareTree checks that the regular files, symlinks and modes of the
// extracted tree x equal those of the image in dir.
func compareTree(t *testing.T, dir, x string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "root.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := ext3.Open(f, ext3.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := walkTree(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(x, n.Path), &st); err != nil {
			t.Errorf("%s: %v", n.Path, err)
			continue
		}
		if uint16(st.Mode) != n.Info.RawMode || st.Uid != n.Info.UID || st.Gid != n.Info.GID {
			t.Errorf("%s: mode %o uid %d gid %d, image %o %d %d", n.Path, st.Mode, st.Uid, st.Gid, n.Info.RawMode, n.Info.UID, n.Info.GID)
		}
		if ft := fileType(n.Info.RawMode); ft != sIFDIR && ft != sIFLNK && st.Mtim.Sec != n.Info.Mtime.Unix() {
			t.Errorf("%s: mtime %d, image %d", n.Path, st.Mtim.Sec, n.Info.Mtime.Unix())
		}
		switch fileType(n.Info.RawMode) {
		case sIFREG:
			got, err := os.ReadFile(filepath.Join(x, n.Path))
			wantData, _ := fsys.ReadFile(n.Path)
			if err != nil || !bytes.Equal(got, wantData) {
				t.Errorf("%s: content differs (%v)", n.Path, err)
			}
		case sIFLNK:
			if got, _ := os.Readlink(filepath.Join(x, n.Path)); got != n.Info.Target {
				t.Errorf("%s: link %q, image %q", n.Path, got, n.Info.Target)
			}
		}
	}
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
