package pipeline

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/sim"
)

var (
	dataOnce sync.Once
	dataSet  [][]byte
)

// simulatedLines is the default 72h simulation (~475k records, with the
// injected anomalies) as JSON lines, generated once per test binary.
func simulatedLines(b *testing.B) [][]byte {
	dataOnce.Do(func() {
		var buf bytes.Buffer
		if _, _, _, err := eval.WriteJSONL(sim.Config{Seed: 1}, &buf); err != nil {
			b.Fatal(err)
		}
		dataSet = bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	})
	return dataSet
}

func fixedWall() time.Time { return sim.DefaultStart.Add(10 * 24 * time.Hour) }

// BenchmarkPipeline is the per-record cost of decode + engine + all five
// detectors + alert manager on realistic traffic (run with -cpu 1 for the
// single-core figure). Each iteration replays the whole 72h data set
// through a fresh pipeline; records/s is reported, and records/cpu-s (the
// process's CPU time, GC included), which a loaded machine does not skew.
func BenchmarkPipeline(b *testing.B) {
	lines := simulatedLines(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		p := New(config.Default(), fixedWall)
		for _, l := range lines {
			if _, outcome, err := p.Handle(l); outcome == record.Invalid {
				b.Fatal(err)
			}
		}
	}
	cpu := processCPU() - cpu0
	n := float64(b.N * len(lines))
	b.ReportMetric(b.Elapsed().Seconds()*1e9/n, "ns/record")
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 { // a loaded machine slows the wall clock, not this
		b.ReportMetric(n/cpu.Seconds(), "records/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkStatePerKey measures the heap held per live (agent, tool) key:
// "young" is 100,000 keys fed 40 calls each over an hour (windows,
// profiles, digests with a first fold, shape sets); "mature" is 10,000 keys
// fed 400 calls each over two days, so both digest epochs hold full
// centroid lists (what baseline.KeyBytes budgets for).
func BenchmarkStatePerKey(b *testing.B) {
	for _, c := range []struct {
		name    string
		agents  int
		perKey  int
		spacing time.Duration
	}{{"young", 10000, 40, 90 * time.Second}, {"mature", 1000, 400, 7 * time.Minute}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				statePerKey(b, c.agents, c.perKey, c.spacing)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// appendKeyCall appends the JSON of call i of agent a to tool t at about
// ts: the steady per-key traffic of the state and snapshot benchmarks.
func appendKeyCall(buf []byte, ts time.Time, i, a, t int) []byte {
	r := record.Record{
		TraceID: "trace", SpanID: "span", Timestamp: ts.Add(time.Duration(a%60) * time.Millisecond),
		AgentID: fmt.Sprintf("agent-%05d", a),
		Tool:    record.Tool{Name: fmt.Sprintf("tool-%02d", t), Version: "1.0.0", TrustLevel: "gold", VerificationScore: 90},
		Invocation: record.Invocation{
			InputHash: fmt.Sprintf("sha256:%x", i*7919+a), Status: record.StatusSuccess,
			DurationMS: float64(50 + (i*31+a)%400), OutputBytes: int64(500 + (i*17+a)%5000), InputBytes: record.Absent,
			InputShape: fmt.Sprintf("json{id:str,n%d:num}", i%3),
		},
		Context:              record.Context{Environment: "production", DataClassification: "internal"},
		DataSubjectsAffected: record.Absent,
	}
	return r.AppendJSON(buf)
}

func statePerKey(b *testing.B, agents, perKey int, spacing time.Duration) {
	const tools = 10
	keys := agents * tools
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cfg := config.Default()
	cfg.Baseline.MaxKeys = 1 << 24 // measure every key, not the memory_limit cap
	p := New(cfg, fixedWall)
	buf := make([]byte, 0, 1024)
	start := sim.DefaultStart
	for i := range perKey {
		ts := start.Add(time.Duration(i) * spacing)
		for a := range agents {
			for t := range tools {
				buf = appendKeyCall(buf[:0], ts, i, a, t)
				if _, outcome, err := p.Handle(buf); outcome == record.Invalid {
					b.Fatal(err)
				}
			}
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if live := liveKeys(p); live < keys {
		b.Fatalf("only %d keys live, want %d", live, keys)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(keys), "heap-bytes/key")
	b.ReportMetric(float64(keys), "keys")
	runtime.KeepAlive(p)
}
