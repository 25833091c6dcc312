package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/xenimg/xenimg/publish"
)

func init() {
	register(&command{
		name:    "publish",
		args:    "DIR",
		summary: "Write release artifacts of a built template: root image as .img.zst and .img.xz, rootfs .tar.gz and .cpio.gz, whole-disk .disk.img, manifest.json, index.json, SHA256SUMS (and SHA256SUMS.gpg).",
		examples: []string{
			"xenimg publish out/bookworm-pvm                 # -> out/bookworm-pvm/publish/",
			"xenimg publish --gpt -o /srv/images/bookworm out/bookworm-pvm",
			"xenimg publish --sign-key ci-signing.asc out/bookworm-pvm",
			"cd out/bookworm-pvm/publish && sha256sum -c SHA256SUMS && xz -dc bookworm-pvm.img.xz > root.img",
		},
		nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var o publish.Options
			var gpt bool
			fs.StringVar(&o.Out, "o", "", "output directory (default DIR/publish); replaced only if it holds a previous publication")
			fs.BoolVar(&gpt, "gpt", false, "give the disk image a GPT partition table instead of MBR")
			fs.StringVar(&o.SignKey, "sign-key", "", "armored OpenPGP secret key (no passphrase): sign SHA256SUMS into SHA256SUMS.gpg")
			fs.IntVar(&o.Workers, "j", 0, "parallel xz streams (default: number of CPUs); the output does not depend on it")
			return func(ctx context.Context, e *env, args []string) error {
				if gpt {
					o.Table = publish.GPT
				}
				o.Log = e.log
				res, err := publish.Publish(ctx, args[0], o)
				if err != nil {
					return err
				}
				t := res.Template
				fmt.Fprintf(e.stdout, "%s\n", res.Dir)
				for _, f := range t.Files {
					fmt.Fprintf(e.stdout, "  %-28s %12d  %s\n", f.Name, f.Size, f.Format)
				}
				if res.Signed {
					fmt.Fprintf(e.stdout, "  %s (signed)\n", publish.SigFile)
				}
				return nil
			}
		},
	})
	register(&command{
		name:    "verify",
		args:    "DIR",
		summary: "Check a published directory: SHA256SUMS, the signature (with --keyring), and that the image decompresses to the recorded SHA256 and passes a filesystem consistency check.",
		examples: []string{
			"xenimg verify out/bookworm-pvm/publish",
			"xenimg verify --keyring ci-signing.pub.asc /srv/images/bookworm",
		},
		nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var o publish.VerifyOptions
			var noFsck bool
			fs.StringVar(&o.Keyring, "keyring", "", "OpenPGP public key(s), armored or binary: require and check SHA256SUMS.gpg")
			fs.BoolVar(&noFsck, "no-e2fsck", false, "do not also run e2fsck -fn when it is installed")
			fs.StringVar(&o.TempDir, "tmpdir", "", "where to decompress the image (sparse; default $TMPDIR)")
			return func(ctx context.Context, e *env, args []string) error {
				o.Now = time.Now()
				o.Log = e.log
				if !noFsck {
					if p, err := exec.LookPath("e2fsck"); err == nil {
						o.E2fsck = p
					} else if _, err := exec.LookPath("/sbin/e2fsck"); err == nil {
						o.E2fsck = "/sbin/e2fsck"
					}
				}
				rep, err := publish.Verify(ctx, args[0], o)
				if err != nil {
					return err
				}
				for _, u := range rep.Unchecked {
					e.log.Warn(u)
				}
				signed := "unsigned"
				if rep.Signer != "" {
					signed = "signed by " + rep.Signer
				}
				checks := "consistency check"
				if o.E2fsck != "" {
					checks += " and e2fsck -fn"
				}
				fmt.Fprintf(e.stdout, "%s: OK: %d files (%s), %s %s, image %s passes the %s (%d dirs, %d files, %d of %d blocks free)\n",
					args[0], len(rep.Files), strings.Join(rep.Files, " "), rep.Name, signed, rep.ImageSHA256, checks,
					rep.Check.Dirs, rep.Check.Files, rep.Check.FreeBlocks, rep.Check.Blocks)
				return nil
			}
		},
	})
}
