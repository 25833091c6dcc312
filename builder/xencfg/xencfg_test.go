package xencfg

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/xenimg/xenimg/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sargeArticle is the 2005 setup: Xen 2.0, a sarge slave on two LVM
// volumes, sda1 root, the xen-br0 bridge.
var sargeArticle = Config{
	Name:   "Debian_Slave1",
	Kernel: "/boot/vmlinuz-2.6-xenU",
	Memory: 64,
	Root:   "/dev/sda1 ro",
	Disks: []Disk{
		{Target: "/dev/VG_Xen/Debian_Slave1_Root", VDev: "sda1"},
		{Target: "/dev/VG_Xen/Debian_Slave1_Swap", VDev: "sda2"},
	},
	VIFs: []VIF{{MAC: "00:16:3e:00:00:11", Bridge: "xen-br0"}},
}

// bookworm is the same slave today: xl, image files, xvda.
var bookworm = Config{
	Name:    "slave1",
	Kernel:  "/boot/vmlinuz-6.1.0-xen",
	Ramdisk: "/boot/initrd.img-6.1.0-xen",
	Memory:  256,
	VCPUs:   1,
	Root:    "/dev/xvda1 ro",
	Extra:   "net.ifnames=0",
	Disks: []Disk{
		{Target: "/srv/xen/slaves/slave1/root.img", VDev: "xvda1"},
		{Target: "/srv/xen/slaves/slave1/swap.img", VDev: "xvda2"},
	},
	VIFs: []VIF{{MAC: "00:16:3e:12:34:56", Bridge: "xenbr0"}},
}

// hostile holds every character that could end a string early.
var hostile = Config{
	Name:       `evil"name'with\back\\slash #not-a-comment`,
	Bootloader: "pygrub",
	Memory:     128,
	VCPUs:      2,
	Extra:      `console=hvc0 init=/bin/sh -c "echo '\'"`,
	Disks: []Disk{
		{Target: `/srv/it's "here"/root.img`, VDev: "xvda", ReadOnly: true},
		{Target: "/dev/vg/lv", Kind: File, VDev: "xvdb"},
		{Target: "/images/raw", Kind: Phy, VDev: "xvdc"},
	},
	VIFs: []VIF{{Bridge: "br0"}, {MAC: "00:16:3E:AA:BB:CC"}, {}},
}

func TestGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		cfg  Config
		ts   Toolstack
	}{
		{"sarge-article.xm.cfg", sargeArticle, XM},
		{"sarge-article.xl.cfg", sargeArticle, XL},
		{"bookworm.xl.cfg", bookworm, XL},
		{"bookworm.xm.cfg", bookworm, XM},
	} {
		t.Run(c.file, func(t *testing.T) {
			got, err := Render(c.cfg, c.ts)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Render(c.cfg, c.ts)
			if string(again) != string(got) {
				t.Fatal("two renders differ")
			}
			p := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(p, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from golden:\n got:\n%s\nwant:\n%s", c.file, got, want)
			}
		})
	}
}

// expected is what a toolstack should read back from a rendered Config.
func expected(c Config, ts Toolstack) map[string]any {
	m := map[string]any{"name": c.Name, "memory": float64(c.Memory)}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("kernel", c.Kernel)
	set("ramdisk", c.Ramdisk)
	set("bootloader", c.Bootloader)
	set("root", c.Root)
	set("extra", c.Extra)
	if ts == XL {
		m["type"] = "pv"
	}
	if c.VCPUs > 0 {
		m["vcpus"] = float64(c.VCPUs)
	}
	var disks, vifs []any
	for _, d := range c.Disks {
		if ts == XL {
			acc := "rw"
			if d.ReadOnly {
				acc = "ro"
			}
			disks = append(disks, fmt.Sprintf("format=raw, vdev=%s, access=%s, target=%s", d.VDev, acc, d.Target))
			continue
		}
		kind := d.Kind
		if kind == Auto {
			kind = File
			if strings.HasPrefix(d.Target, "/dev/") {
				kind = Phy
			}
		}
		mode := "w"
		if d.ReadOnly {
			mode = "r"
		}
		disks = append(disks, fmt.Sprintf("%s:%s,%s,%s", map[DiskKind]string{File: "file", Phy: "phy"}[kind], d.Target, d.VDev, mode))
	}
	for _, v := range c.VIFs {
		var p []string
		if v.MAC != "" {
			p = append(p, "mac="+strings.ToLower(v.MAC))
		}
		if v.Bridge != "" {
			p = append(p, "bridge="+v.Bridge)
		}
		sep := ","
		if ts == XM {
			sep = ", "
		}
		vifs = append(vifs, strings.Join(p, sep))
	}
	if disks != nil {
		m["disk"] = disks
	}
	if vifs != nil {
		m["vif"] = vifs
		if ts == XM {
			m["nics"] = float64(len(vifs))
		}
	}
	return m
}

// pythonEval executes files as Python (as xm does), in one python3 run,
// and returns the global variables each defines.
func pythonEval(t *testing.T, py string, paths []string) []map[string]any {
	t.Helper()
	const prog = `import ast, json, sys
res = []
for p in sys.argv[1:]:
    src = open(p).read()
    ast.parse(src)
    g = {}
    exec(compile(src, p, "exec"), g)
    res.append({k: v for k, v in g.items() if k != "__builtins__"})
print(json.dumps(res))`
	out, err := exec.Command(py, append([]string{"-c", prog}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var m []map[string]any
	if err := json.Unmarshal(out, &m); err != nil || len(m) != len(paths) {
		t.Fatalf("python3 output (%v):\n%s", err, out)
	}
	return m
}

var evalCases = []Config{sargeArticle, bookworm, hostile}

// TestXMIsPython runs every XM file through python3 and compares the
// variables it defines with the Config. The XL files use the subset of
// xl.cfg syntax that is also Python, so python3 judges them too.
func TestXMIsPython(t *testing.T) {
	py := testenv.Tool(t, "python3")
	dir := t.TempDir()
	var paths, names []string
	var files [][]byte
	var wants []map[string]any
	for i, c := range evalCases {
		for _, ts := range []Toolstack{XM, XL} {
			out, err := Render(c, ts)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, fmt.Sprintf("%d.%s.cfg", i, ts))
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			names = append(names, filepath.Base(p))
			files = append(files, out)
			wants = append(wants, expected(c, ts))
		}
	}
	for i, got := range pythonEval(t, py, paths) {
		if !reflect.DeepEqual(got, wants[i]) {
			t.Errorf("%s: python3 read\n%v\nwant\n%v\nfile:\n%s", names[i], got, wants[i], files[i])
		}
	}
}

// TestXLGrammar parses XL files with a reader written from xl.cfg(5) and
// libxlu's lexer rules: settings "NAME = VALUE" ending at a newline or ';',
// values a number, a string in single or double quotes with backslash
// escapes, or a bracketed list of values with an optional trailing comma;
// '#' starts a comment outside strings. Then it splits each disk spec as
// xl-disk-configuration does (target= takes the rest of the string).
func TestXLGrammar(t *testing.T) {
	commaPath := bookworm
	commaPath.Disks = []Disk{{Target: "/srv/a,b/root.img", VDev: "xvda1"}}
	for i, c := range append(evalCases, commaPath) {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			out, err := Render(c, XL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseXL(string(out))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if want := expected(c, XL); !reflect.DeepEqual(got, want) {
				t.Errorf("read\n%v\nwant\n%v", got, want)
			}
			for j, d := range got["disk"].([]any) {
				kv := parseDiskSpec(d.(string))
				if kv["target"] != c.Disks[j].Target || kv["vdev"] != c.Disks[j].VDev || kv["format"] != "raw" {
					t.Errorf("disk %d spec %q read as %v", j, d, kv)
				}
			}
		})
	}
}

// parseDiskSpec splits "k=v, k=v, target=REST".
func parseDiskSpec(s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if rest, ok := strings.CutPrefix(s, "target="); ok {
			m["target"] = rest
			break
		}
		item, rest, _ := strings.Cut(s, ",")
		k, v, _ := strings.Cut(item, "=")
		m[k] = v
		s = rest
	}
	return m
}

type xlParser struct {
	s    string
	i    int
	line int
}

func (p *xlParser) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{p.line}, args...)...)
}

// skip skips blanks, comments and (if nl) newlines.
func (p *xlParser) skip(nl bool) {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t':
			p.i++
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == '\n' && nl:
			p.line++
			p.i++
		default:
			return
		}
	}
}

func (p *xlParser) value() (any, error) {
	p.skip(true)
	if p.i >= len(p.s) {
		return nil, p.errf("value missing at end of file")
	}
	switch c := p.s[p.i]; {
	case c == '"' || c == '\'':
		p.i++
		var b strings.Builder
		for {
			if p.i >= len(p.s) || p.s[p.i] == '\n' {
				return nil, p.errf("unterminated string")
			}
			ch := p.s[p.i]
			p.i++
			if ch == c {
				return b.String(), nil
			}
			if ch == '\\' {
				if p.i >= len(p.s) {
					return nil, p.errf("backslash at end")
				}
				esc := p.s[p.i]
				p.i++
				if esc != '"' && esc != '\'' && esc != '\\' {
					return nil, p.errf("escape \\%c not produced by us", esc)
				}
				ch = esc
			}
			b.WriteByte(ch)
		}
	case c >= '0' && c <= '9':
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, _ := strconv.Atoi(p.s[j:p.i])
		return float64(n), nil
	case c == '[':
		p.i++
		list := []any{}
		for {
			p.skip(true)
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return list, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if _, isList := v.([]any); isList {
				return nil, p.errf("nested list")
			}
			list = append(list, v)
			p.skip(true)
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			} else if p.i >= len(p.s) || p.s[p.i] != ']' {
				return nil, p.errf("want , or ] in list")
			}
		}
	}
	return nil, p.errf("unexpected %q", p.s[p.i])
}

func parseXL(s string) (map[string]any, error) {
	p := &xlParser{s: s, line: 1}
	m := map[string]any{}
	for {
		p.skip(true)
		if p.i >= len(p.s) {
			return m, nil
		}
		j := p.i
		for p.i < len(p.s) && (unicode.IsLetter(rune(p.s[p.i])) || p.s[p.i] == '_' || (p.i > j && unicode.IsDigit(rune(p.s[p.i])))) {
			p.i++
		}
		name := p.s[j:p.i]
		if name == "" {
			return nil, p.errf("setting name expected")
		}
		p.skip(false)
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, p.errf("'=' expected after %s", name)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, p.errf("%s set twice", name)
		}
		m[name] = v
		p.skip(false)
		if p.i < len(p.s) && p.s[p.i] == ';' {
			p.i++
			p.skip(false)
		}
		if p.i < len(p.s) && p.s[p.i] != '\n' {
			return nil, p.errf("end of line expected after %s", name)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		ts   Toolstack
		mod  func(*Config)
		want string
	}{
		{"toolstack", "xend", func(c *Config) {}, "toolstack"},
		{"no-name", XL, func(c *Config) { c.Name = "" }, "empty domain name"},
		{"memory", XL, func(c *Config) { c.Memory = 0 }, "memory 0"},
		{"both-boot", XL, func(c *Config) { c.Bootloader = "pygrub" }, "exactly one of kernel and bootloader"},
		{"no-boot", XL, func(c *Config) { c.Kernel = "" }, "exactly one of kernel and bootloader"},
		{"newline", XL, func(c *Config) { c.Extra = "a\nb" }, "control character"},
		{"bad-utf8", XL, func(c *Config) { c.Name = "a\xffb" }, "invalid UTF-8"},
		{"xm-non-ascii", XM, func(c *Config) { c.Name = "slavé" }, "non-ASCII"},
		{"xm-comma", XM, func(c *Config) { c.Disks[0].Target = "/a,b" }, "comma"},
		{"vdev", XL, func(c *Config) { c.Disks[0].VDev = "xvda1,w" }, "virtual device"},
		{"vdev-dup", XL, func(c *Config) { c.Disks[1].VDev = "xvda1" }, "used twice"},
		{"no-target", XL, func(c *Config) { c.Disks[0].Target = "" }, "empty target"},
		{"mac", XL, func(c *Config) { c.VIFs[0].MAC = "00:16:3e:00:00" }, "MAC"},
		{"bridge", XL, func(c *Config) { c.VIFs[0].Bridge = "br0,script=/evil" }, "bridge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := bookworm
			cfg.Disks = append([]Disk(nil), bookworm.Disks...)
			cfg.VIFs = append([]VIF(nil), bookworm.VIFs...)
			c.mod(&cfg)
			_, err := Render(cfg, c.ts)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Render = %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}

func TestMAC(t *testing.T) {
	a := MAC([]byte("cluster\x001"))
	if a != MAC([]byte("cluster\x001")) {
		t.Fatal("MAC not deterministic")
	}
	if !strings.HasPrefix(a, "00:16:3e:") || !macRE.MatchString(a) {
		t.Errorf("MAC %q", a)
	}
	if a == MAC([]byte("cluster\x002")) {
		t.Error("different seeds gave the same MAC")
	}
	for i := range 256 {
		m := MAC([]byte{byte(i)})
		if m[9] > '7' {
			t.Fatalf("MAC %s: fourth byte has its top bit set", m)
		}
	}
}

func TestParseToolstack(t *testing.T) {
	for _, s := range []string{"xl", "xm"} {
		if ts, err := ParseToolstack(s); err != nil || string(ts) != s {
			t.Errorf("ParseToolstack(%q) = %q, %v", s, ts, err)
		}
	}
	if _, err := ParseToolstack("XL"); err == nil {
		t.Error("ParseToolstack(XL) accepted")
	}
}
