package crypt

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/xenimg/xenimg/internal/testenv"
)

// passwords covers the length boundaries of both schemes: MD5 blocks of
// 16 bytes, SHA-256 blocks of 32, SHA-512 blocks of 64, and the bit loop
// over the length.
var passwords = []string{
	"",
	"a",
	"password",
	"0123456789abcde",
	"0123456789abcdef",
	"0123456789abcdef0",
	strings.Repeat("x", 31),
	strings.Repeat("y", 32),
	strings.Repeat("z", 33),
	strings.Repeat("p", 63),
	strings.Repeat("q", 64),
	strings.Repeat("r", 65),
	strings.Repeat("Long passphrase! ", 16),
	"sp ace\ttab $dollar :colon \\back",
	"ünïcödé пароль",
}

var salts = []string{
	"a",
	"saltsalt",
	"./09AZaz",
	"abcdefghijk",                  // longer than 8: MD5 uses 8
	"0123456789ABCDEF",             // exactly 16
	"0123456789ABCDEFGHIJKLMNOPQR", // longer than 16: SHA uses 16
}

// judge hashes pw with a reference tool, or returns "" when the tool cannot
// take this input.
type judge struct {
	name string
	run  func(t *testing.T, scheme, pw, salt string) string
}

func output(t *testing.T, cmd *exec.Cmd, pw string) string {
	t.Helper()
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return strings.TrimSpace(string(out))
}

// opensslJudge: openssl passwd truncates passwords to 256 bytes and prints
// <NULL> for an empty SHA-crypt password, so those are left to mkpasswd.
func opensslJudge(t *testing.T) judge {
	bin := testenv.Tool(t, "openssl")
	return judge{"openssl passwd", func(t *testing.T, scheme, pw, salt string) string {
		if len(pw) > 256 || (pw == "" && scheme != "1") {
			return ""
		}
		return output(t, exec.Command(bin, "passwd", "-"+scheme, "-salt", salt, "-stdin"), pw)
	}}
}

// mkpasswdJudge: whois's mkpasswd (libxcrypt, the guest's libc algorithm)
// takes MD5 salts of exactly 8 characters and SHA salts of 8 to 16.
func mkpasswdJudge(t *testing.T) judge {
	bin := testenv.Tool(t, "mkpasswd")
	return judge{"mkpasswd", func(t *testing.T, scheme, pw, salt string) string {
		method := map[string]string{"1": "md5", "5": "sha-256", "6": "sha-512"}[scheme]
		if scheme == "1" && len(salt) != 8 || scheme != "1" && (len(salt) < 8 || len(salt) > 16) {
			return ""
		}
		return output(t, exec.Command(bin, "-m", method, "-S", salt, "--stdin"), pw)
	}}
}

func hashWith(scheme, pw, salt string) (string, error) {
	switch scheme {
	case "1":
		return MD5(pw, salt)
	case "5":
		return SHA256(pw, salt, 0)
	}
	return SHA512(pw, salt, 0)
}

func TestAgainstReferenceTools(t *testing.T) {
	judges := []judge{opensslJudge(t), mkpasswdJudge(t)}
	judgedPw := map[string]int{}
	judgedSalt := map[string]int{}
	for _, scheme := range []string{"1", "5", "6"} {
		for _, pw := range passwords {
			for _, salt := range salts {
				got, err := hashWith(scheme, pw, salt)
				if err != nil {
					t.Fatalf("$%s$ %q %q: %v", scheme, pw, salt, err)
				}
				for _, j := range judges {
					want := j.run(t, scheme, pw, salt)
					if want == "" {
						continue
					}
					judgedPw[scheme+pw]++
					judgedSalt[scheme+salt]++
					if got != want {
						t.Errorf("$%s$ salt %q pw %q:\n got %s\nwant %s (%s)", scheme, salt, pw, got, want, j.name)
					}
				}
				if err := Check(got); err != nil {
					t.Errorf("Check(%s): %v", got, err)
				}
				if ok, err := Verify(pw, got); !ok || err != nil {
					t.Errorf("Verify(%q, %s) = %v, %v", pw, got, ok, err)
				}
				if ok, err := Verify(pw+"!", got); ok || err != nil {
					t.Errorf("Verify(wrong, %s) = %v, %v", got, ok, err)
				}
			}
			if judgedPw[scheme+pw] == 0 {
				t.Errorf("$%s$ password %q was checked by no reference tool", scheme, pw)
			}
		}
		for _, salt := range salts {
			if judgedSalt[scheme+salt] == 0 {
				t.Errorf("$%s$ salt %q was checked by no reference tool", scheme, salt)
			}
		}
	}
}

// TestRoundsAgainstMkpasswd checks explicit rounds (the "rounds=N$" form,
// which openssl passwd cannot produce) with whois's mkpasswd.
func TestRoundsAgainstMkpasswd(t *testing.T) {
	bin := testenv.Tool(t, "mkpasswd")
	for _, c := range []struct {
		method string
		rounds int
		f      func(pw, salt string, rounds int) (string, error)
	}{
		{"sha-512", 1000, SHA512},
		{"sha-512", 5000, SHA512},
		{"sha-512", 12345, SHA512},
		{"sha-256", 1000, SHA256},
		{"sha-256", 7777, SHA256},
	} {
		for _, pw := range []string{"", "secret", strings.Repeat("q", 64), strings.Repeat("r", 65)} {
			salt := "abcdefgh"
			cmd := exec.Command(bin, "-m", c.method, "-R", fmt.Sprint(c.rounds), "-S", salt, "--stdin")
			cmd.Stdin = strings.NewReader(pw + "\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("mkpasswd -m %s -R %d: %v", c.method, c.rounds, err)
			}
			want := strings.TrimSpace(string(out))
			got, err := c.f(pw, salt, c.rounds)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s rounds %d pw %q:\n got %s\nwant %s", c.method, c.rounds, pw, got, want)
			}
			if ok, err := Verify(pw, got); !ok || err != nil {
				t.Errorf("Verify(%q, %s) = %v, %v", pw, got, ok, err)
			}
		}
	}
}

// TestKnownVectors holds vectors from Drepper's specification, so the
// package is checked even where no reference tool is installed (each
// confirmed with openssl passwd or mkpasswd).
func TestKnownVectors(t *testing.T) {
	for _, c := range []struct {
		f    func() (string, error)
		want string
	}{
		{func() (string, error) { return SHA512("Hello world!", "saltstring", 0) },
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{func() (string, error) { return SHA512("Hello world!", "saltstringsaltstring", 10000) },
			"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{func() (string, error) { return MD5("Hello world!", "saltstring") },
			"$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1"},
		{func() (string, error) { return SHA256("Hello world!", "saltstring", 0) },
			"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	} {
		got, err := c.f()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestSalt(t *testing.T) {
	a := Salt([]byte("seed"), 16)
	if len(a) != 16 || a != Salt([]byte("seed"), 16) {
		t.Fatalf("Salt not deterministic or wrong length: %q", a)
	}
	if b := Salt([]byte("seed2"), 16); b == a {
		t.Errorf("different seeds gave the same salt %q", a)
	}
	if long := Salt([]byte("seed"), 100); len(long) != 100 || long[:16] != a {
		t.Errorf("Salt(seed, 100) = %q", long)
	}
	if _, err := checkSalt(Salt([]byte("x"), 64), 64); err != nil {
		t.Errorf("Salt produced an invalid salt: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := MD5("pw", ""); err == nil {
		t.Error("empty salt accepted")
	}
	if _, err := SHA512("pw", "bad$salt", 0); err == nil || !strings.Contains(err.Error(), `'$'`) {
		t.Errorf("salt with $: %v", err)
	}
	if _, err := SHA512("pw", "s:lt", 0); err == nil {
		t.Error("salt with : accepted")
	}
	for _, r := range []int{-1, 999, RoundsMax + 1} {
		if _, err := SHA512("pw", "salt", r); err == nil {
			t.Errorf("rounds %d accepted", r)
		}
	}
	for _, h := range []string{
		"", "x", "$2b$10$abcdefghijklmnopqrstuu", "$y$j9T$salt$hash", "$1$salt", "$6$rounds=x$salt$hash",
		"$1$saltsalt$tooshort", "$6$salt$" + strings.Repeat("a", 85) + "!",
	} {
		if err := Check(h); !errors.Is(err, ErrFormat) {
			t.Errorf("Check(%q) = %v, want ErrFormat", h, err)
		}
	}
	if _, err := Verify("pw", "$y$j9T$salt$hash"); !errors.Is(err, ErrFormat) {
		t.Errorf("Verify of yescrypt: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("pw", "$1$saltsalt$abcdefghijklmnopqrstuv")
	f.Add("", "$6$rounds=1000$s$x")
	f.Add("a", "$5$$")
	f.Fuzz(func(t *testing.T, pw, hash string) {
		if strings.Contains(hash, "rounds=") {
			return // large rounds are slow by design
		}
		_, _ = Verify(pw, hash)
		_ = Check(hash)
	})
}

func BenchmarkMD5(b *testing.B) {
	for b.Loop() {
		MD5("password", "saltsalt")
	}
}

func BenchmarkSHA512(b *testing.B) {
	for b.Loop() {
		SHA512("password", "saltsaltsaltsalt", 0)
	}
}
