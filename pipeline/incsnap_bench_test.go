package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/snapshot"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// BenchmarkIncrementalSnapshot measures incremental snapshots with
// 100,000 live (agent, tool) keys (10,000 agents × 10 tools, 8 calls
// each), written to a FileStore (tmp file, fsync, rename) in b.TempDir:
//
//   - full-MB, full-ms: a base, all sections whole: capture, encode and
//     write, the least of two (the first base and one after the chain);
//   - d1-MB, d1-ms: a delta after 1% of the keys changed (100 agents
//     call each of their 10 tools once), the mean of 10;
//   - d10-MB, d10-ms: the same after 10% changed (1,000 agents);
//   - restore-base-ms: Load and UnmarshalChain of the base alone, into a
//     fresh pipeline; restore-chain-ms: the base and the ten 1% deltas.
//
// Only latency and output_size write delta records; the other sections
// are whole in every delta (docs/design.md §10).
//
// Run alone: go test -run x -bench IncrementalSnapshot -benchtime 1x ./pipeline
func BenchmarkIncrementalSnapshot(b *testing.B) {
	const (
		agents = 10000
		tools  = 10
		perKey = 8
	)
	cfg := config.Default()
	cfg.Baseline.MaxKeys = 1 << 24
	buf := make([]byte, 0, 1024)
	round := func(p *Pipeline, i, from, to int) {
		ts := sim.DefaultStart.Add(time.Duration(i) * 90 * time.Second)
		for a := from; a < to; a++ {
			for t := range tools {
				buf = appendKeyCall(buf[:0], ts, i, a, t)
				if _, outcome, err := p.Handle(buf); outcome == record.Invalid {
					b.Fatal(err)
				}
			}
		}
	}
	for b.Loop() {
		p := New(cfg, fixedWall)
		for i := range perKey {
			round(p, i, 0, agents)
		}
		if live := liveKeys(p); live < agents*tools {
			b.Fatalf("%d keys live, want %d", live, agents*tools)
		}
		dir := b.TempDir()
		st := &snapshot.FileStore{Path: filepath.Join(dir, "tw.snapshot")}
		mg := snapshot.NewManager(st, nil, zerolog.Nop(), "bench")
		mg.SetChain(1000, 100)
		ctx := context.Background()
		seq := uint64(0)
		base := func() (int, time.Duration) {
			seq++
			t0 := time.Now()
			enc, err := p.CaptureBase()
			if err != nil {
				b.Fatal(err)
			}
			s := &snapshot.Snapshot{LastAppliedSeq: seq}
			if s.Sections, err = enc(); err != nil {
				b.Fatal(err)
			}
			if err := mg.Save(ctx, s); err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			fi, err := os.Stat(st.Path)
			if err != nil {
				b.Fatal(err)
			}
			return int(fi.Size()), d
		}
		next := perKey
		delta := func(changed int) (int, time.Duration) {
			round(p, next, 0, changed)
			next++
			seq++
			t0 := time.Now()
			enc, err := p.CaptureDelta()
			if err != nil {
				b.Fatal(err)
			}
			d := &snapshot.Delta{LastAppliedSeq: seq}
			if d.Whole, d.Changes, err = enc(); err != nil {
				b.Fatal(err)
			}
			if err := mg.SaveDelta(ctx, d); err != nil {
				b.Fatal(err)
			}
			el := time.Since(t0)
			data, err := snapshot.EncodeDelta(d)
			if err != nil {
				b.Fatal(err)
			}
			return len(data), el
		}
		restore := func(path string) time.Duration {
			rmg := snapshot.NewManager(&snapshot.FileStore{Path: path}, nil, zerolog.Nop(), "bench")
			t0 := time.Now()
			if _, _, probs, err := rmg.Load(ctx, func(s *snapshot.Snapshot, ds []*snapshot.Delta) error {
				links := make([]Link, len(ds))
				for i, d := range ds {
					links[i] = Link{Whole: d.Whole, Changes: d.Changes}
				}
				_, err := New(cfg, fixedWall).UnmarshalChain(s.Sections, links)
				return err
			}); err != nil {
				b.Fatal(err, probs)
			}
			return time.Since(t0)
		}
		fullBytes, fullTime := base()
		if testing.Verbose() {
			s, err := snapshot.Decode(func() []byte { b, _ := os.ReadFile(st.Path); return b }())
			if err != nil {
				b.Fatal(err)
			}
			for name, data := range s.Sections {
				b.Logf("base section %s: %.1f MB", name, float64(len(data))/(1<<20))
			}
		}
		// The base alone, for its restore time.
		only := filepath.Join(b.TempDir(), "only.snapshot")
		data, err := os.ReadFile(st.Path)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(only, data, 0o640); err != nil {
			b.Fatal(err)
		}
		var d1Bytes int
		var d1Time time.Duration
		for range 10 {
			n, el := delta(agents / 100)
			d1Bytes, d1Time = d1Bytes+n, d1Time+el
		}
		restoreBase, restoreChain := restore(only), restore(st.Path)
		n, el := base()
		fullBytes, fullTime = min(fullBytes, n), min(fullTime, el)
		d10Bytes, d10Time := delta(agents / 10)
		if testing.Verbose() {
			ds, _ := st.ReadDeltas(ctx, snapshot.ID(func() []byte { b, _ := os.ReadFile(st.Path); return b }()))
			d, err := snapshot.DecodeDelta(ds[0].Data)
			if err != nil {
				b.Fatal(err)
			}
			for name, data := range d.Whole {
				b.Logf("10%% delta, whole %s: %.2f MB", name, float64(len(data))/(1<<20))
			}
			for name, data := range d.Changes {
				b.Logf("10%% delta, changes %s: %.2f MB", name, float64(len(data))/(1<<20))
			}
		}
		mb := func(n int) float64 { return float64(n) / (1 << 20) }
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
		b.ReportMetric(mb(fullBytes), "full-MB")
		b.ReportMetric(ms(fullTime), "full-ms")
		b.ReportMetric(mb(d1Bytes)/10, "d1-MB")
		b.ReportMetric(ms(d1Time)/10, "d1-ms")
		b.ReportMetric(mb(d10Bytes), "d10-MB")
		b.ReportMetric(ms(d10Time), "d10-ms")
		b.ReportMetric(ms(restoreBase), "restore-base-ms")
		b.ReportMetric(ms(restoreChain), "restore-chain-ms")
	}
	b.ReportMetric(0, "ns/op")
}
