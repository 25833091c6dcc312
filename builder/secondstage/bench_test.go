package secondstage

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xenimg/xenimg/internal/testenv"
)

// BenchmarkChroot measures Chroot mode on real bookworm trees: the
// preinst + dpkg --configure way and debootstrap's dpkg --install way.
// With -benchtime=2x or more it also fails when two runs give different
// trees. Run: go test -run XXX -bench Chroot -benchtime 2x ./builder/secondstage
func BenchmarkChroot(b *testing.B) {
	testenv.Root(b)
	for _, bc := range []struct {
		name      string
		variant   string
		include   []string
		reinstall bool
	}{
		{"minbase/configure", "minbase", nil, false},
		{"minbase/reinstall", "minbase", nil, true},
		{"important+openssh/configure", "important", []string{"openssh-server"}, false},
		{"important+openssh/reinstall", "important", []string{"openssh-server"}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u := firstStage(b, bc.variant, bc.include...)
			var first []string
			took := &phaseTimes{}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				nt, _, err := Run(context.Background(), u.tree, Options{
					Mode: Chroot, Arch: "amd64", Epoch: u.epoch, Required: u.required,
					WorkDir: b.TempDir(), Reinstall: bc.reinstall, Log: slog.New(took),
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				fp := fingerprint(b, nt)
				nt.Close()
				if i == 0 {
					first = fp
				} else if !slices.Equal(first, fp) {
					n := 0
					for _, l := range fp {
						if !slices.Contains(first, l) && n < 40 {
							b.Errorf("run %d differs: %s", i+1, l)
							n++
						}
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(u.packages), "packages")
			b.ReportMetric(took.mean("packages configured"), "configure-s/op")
			b.ReportMetric(took.mean("tree written for configuring"), "materialize-s/op")
		})
	}
}

// phaseTimes collects the "took" of Run's info messages.
type phaseTimes struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (p *phaseTimes) Enabled(context.Context, slog.Level) bool { return true }
func (p *phaseTimes) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *phaseTimes) WithGroup(string) slog.Handler            { return p }
func (p *phaseTimes) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "took" {
			p.mu.Lock()
			if p.d == nil {
				p.d = map[string][]time.Duration{}
			}
			p.d[r.Message] = append(p.d[r.Message], a.Value.Duration())
			p.mu.Unlock()
		}
		return true
	})
	return nil
}

func (p *phaseTimes) mean(msg string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sum time.Duration
	for _, d := range p.d[msg] {
		sum += d
	}
	if len(p.d[msg]) == 0 {
		return 0
	}
	return sum.Seconds() / float64(len(p.d[msg]))
}
