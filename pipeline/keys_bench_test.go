package pipeline

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// Cardinality benchmarks (issues "never drop an alert" and "throughput"):
// cost per record must not grow with the number of live keys, and a flood
// of new agent ids must neither exhaust memory nor blind detection. Run
// each alone (-run x -bench 'ReplayKeys|AgentFlood' -benchtime 1x -cpu 1);
// the figures are in BENCHMARKS.md.

// keyedRecords encodes synthetic records: record i at start + i·span/n,
// agent agents[key(i)] calling tool "tool-<key mod 10>". full records
// carry a duration and an output size (every detector keeps a key); the
// others are timeouts without output size, which the latency and
// output_size detectors skip (so a million keys fit in memory).
type keyedRecords struct {
	agents []string
	tools  []string
	hashes []string
	start  time.Time
	step   time.Duration
	full   bool
	rng    *rand.Rand
	r      record.Record
	buf    []byte
}

func newKeyedRecords(agents int, n int, span time.Duration, full bool) *keyedRecords {
	k := &keyedRecords{
		agents: make([]string, agents), tools: make([]string, 10), hashes: make([]string, 64),
		start: sim.DefaultStart, step: span / time.Duration(n), full: full,
		rng: rand.New(rand.NewPCG(7, 8)), buf: make([]byte, 0, 1024),
	}
	for i := range k.agents {
		k.agents[i] = "agent-" + strconv.Itoa(1000000+i)
	}
	for i := range k.tools {
		k.tools[i] = "tool-" + strconv.Itoa(i)
	}
	for i := range k.hashes {
		k.hashes[i] = "sha256:" + strconv.Itoa(100000+i)
	}
	return k
}

// line returns the JSON of record i for agent a (valid until the next call).
func (k *keyedRecords) line(i, a int) []byte {
	r := &k.r
	*r = record.Record{
		TraceID: "trace", SpanID: "span", Timestamp: k.start.Add(time.Duration(i) * k.step),
		AgentID: k.agents[a],
		Tool:    record.Tool{Name: k.tools[a%len(k.tools)], Version: "1.0.0", TrustLevel: "gold", VerificationScore: 90},
		Invocation: record.Invocation{
			InputHash: k.hashes[k.rng.IntN(len(k.hashes))], Status: record.StatusTimeout,
			DurationMS: 30000, OutputBytes: record.Absent, InputBytes: record.Absent,
			InputShape: "json{id:str}",
		},
		Context:              record.Context{Environment: "staging", DataClassification: "internal"},
		DataSubjectsAffected: record.Absent,
	}
	if k.full {
		r.Invocation.Status = record.StatusSuccess
		r.Invocation.DurationMS = 50 + float64(k.rng.IntN(400))
		r.Invocation.OutputBytes = 500 + int64(k.rng.IntN(5000))
	}
	k.buf = r.AppendJSON(k.buf[:0])
	return k.buf
}

// BenchmarkReplayKeys replays the same number of records over the same 48 h
// of event time with 1,000 to 1,000,000 live (agent, tool) keys (record i
// belongs to key i mod keys; the cap is lifted so every key stays live).
// "full" feeds every detector; "rate" feeds frequency, denials and
// input_novelty only (a million keys of t-digests would need ~6 GB).
// REPLAYKEYS_RECORDS=n replays only the first n records (the same gaps
// per key, less event time): for callgrind, whose instruction counts
// repeat on a loaded machine but which runs ~50× slower.
func BenchmarkReplayKeys(b *testing.B) {
	n, span := 1_200_000, 48*time.Hour
	if v, err := strconv.Atoi(os.Getenv("REPLAYKEYS_RECORDS")); err == nil && v > 0 && v < n {
		n, span = v, span/time.Duration(n)*time.Duration(v) // the same step
	}
	for _, c := range []struct {
		mix  string
		keys int
	}{{"full", 1000}, {"full", 100000}, {"rate", 1000}, {"rate", 100000}, {"rate", 1000000}} {
		b.Run(fmt.Sprintf("%s/keys=%d", c.mix, c.keys), func(b *testing.B) {
			for range b.N {
				cfg := config.Default()
				cfg.Baseline.MaxKeys = 1 << 24
				p := New(cfg, fixedWall)
				k := newKeyedRecords(c.keys, n, span, c.mix == "full")
				runtime.GC()
				b.ResetTimer()
				t0, c0 := time.Now(), cpuTime()
				for i := range n {
					if _, outcome, err := p.Handle(k.line(i, i%c.keys)); outcome == record.Invalid {
						b.Fatal(err)
					}
				}
				el, cpu := time.Since(t0), cpuTime()-c0
				b.StopTimer()
				b.ReportMetric(float64(n)/el.Seconds(), "records/s")
				b.ReportMetric(float64(n)/cpu.Seconds(), "records/cpu-s")
				b.ReportMetric(float64(liveKeys(p)), "live-keys")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// liveKeys is the largest live key count of any detector.
func liveKeys(p *Pipeline) int {
	live := 0
	for _, d := range p.Engine().Detectors() {
		if s, ok := d.(interface {
			KeyStats() (int, uint64, uint64)
		}); ok {
			n, _, _ := s.KeyStats()
			live = max(live, n)
		}
	}
	return live
}

// BenchmarkAgentFlood: with the shipped defaults, 50 agents × 10 tools run
// for 26 h (baselines warm), then 1,000,000 new agent ids call within two
// hours of event time (one call each, among the regular traffic), and
// then a never-seen agent loops on one input, returns 100 MB and takes
// 30 s. Reports records/s before and during the flood, peak heap and peak
// RSS, live keys, and whether the new agent's three anomalies alerted.
func BenchmarkAgentFlood(b *testing.B) {
	for range b.N {
		benchFlood(b)
	}
	b.ReportMetric(0, "ns/op")
}

func benchFlood(b *testing.B) {
	const (
		regular = 50
		flood   = 1_000_000
	)
	p := New(config.Default(), fixedWall)
	k := newKeyedRecords(regular+flood+1, 1, time.Second, true)
	rng := rand.New(rand.NewPCG(9, 10))
	ts := sim.DefaultStart
	var alerts []alert.Alert
	feed := func(a int, mod func(r *record.Record)) {
		k.line(0, a)
		k.r.Timestamp = ts
		k.r.Invocation.DurationMS = 50 + float64(rng.IntN(100)) + float64(a%10)*20
		k.r.Invocation.OutputBytes = 1000 + int64(rng.IntN(2000)) + int64(a%10)*500
		if mod != nil {
			mod(&k.r)
		}
		k.buf = k.r.AppendJSON(k.buf[:0])
		as, outcome, err := p.Handle(k.buf)
		if outcome == record.Invalid {
			b.Fatal(err)
		}
		alerts = append(alerts, as...)
	}
	// The regular agent a calls its tool a mod 10 (50 agents, 10 tools).
	normal := func() { feed(rng.IntN(regular), nil) }

	// Warm-up: 26 h at ~4 records/s.
	for ts.Before(sim.DefaultStart.Add(26 * time.Hour)) {
		normal()
		ts = ts.Add(time.Duration(rng.IntN(500)) * time.Millisecond)
	}
	// Before the flood: 200,000 regular records over the next hour.
	var peakHeap uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
	}
	sample()
	t0, c0 := time.Now(), cpuTime()
	step := time.Hour / 200000
	for range 200000 {
		normal()
		ts = ts.Add(step)
	}
	before := 200000 / time.Since(t0).Seconds()
	beforeCPU := 200000 / (cpuTime() - c0).Seconds()
	// The flood: 1,000,000 new agent ids over 2 h, one regular record per
	// four flood records.
	t0, c0 = time.Now(), cpuTime()
	step = 2 * time.Hour / (flood * 5 / 4)
	n := 0
	for i := range flood {
		feed(regular+i, nil)
		n++
		if i%4 == 3 {
			normal()
			n++
		}
		ts = ts.Add(step)
		if i%100000 == 0 {
			sample()
		}
	}
	during := float64(n) / time.Since(t0).Seconds()
	duringCPU := float64(n) / (cpuTime() - c0).Seconds()
	sample()
	live := liveKeys(p)

	// A never-seen agent at the cap: 60 calls with one input within a
	// minute, then 100 MB, then 30 s.
	intruder := regular + flood
	first := len(alerts)
	for range 60 {
		feed(intruder, func(r *record.Record) { r.Tool.Name, r.Invocation.InputHash = "tool-3", "sha256:stuck" })
		ts = ts.Add(time.Second)
	}
	feed(intruder, func(r *record.Record) { r.Tool.Name, r.Invocation.OutputBytes = "tool-3", 100_000_000 })
	feed(intruder, func(r *record.Record) { r.Tool.Name, r.Invocation.DurationMS = "tool-3", 30000 })
	got := map[string]bool{}
	for _, a := range alerts[first:] {
		if a.AgentID == k.agents[intruder] {
			got[a.Pattern] = true
		}
	}
	b.ReportMetric(before, "records/s-before")
	b.ReportMetric(during, "records/s-during")
	b.ReportMetric(beforeCPU, "records/cpu-s-before")
	b.ReportMetric(duringCPU, "records/cpu-s-during")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(live), "live-keys")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-heap-MiB")
	runtime.KeepAlive(p)
	for i, pat := range []string{detect.PatternFrequency, detect.PatternOutputSize, detect.PatternLatency} {
		v := 0.0
		if got[pat] {
			v = 1
		}
		b.ReportMetric(v, fmt.Sprintf("alerted-%d-%s", i, pat))
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 if unknown.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the process's user + system CPU time: on a shared machine
// records per CPU-second vary far less than records per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
