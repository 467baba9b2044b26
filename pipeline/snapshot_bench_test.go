package pipeline

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// BenchmarkSnapshotCapture measures what a snapshot costs the consumer
// goroutine with 65,536 (the default memory_limit's cap) and 200,000 live
// (agent, tool) keys, each fed 8 calls so that every detector holds state
// for it (rates, profiles, digests, shapes):
//
//   - capture-ms: CaptureSections, the pause the consumer sees (the daemon
//     encodes and writes on another goroutine), the least of b.N runs;
//   - capture-cpu-ms: its CPU time, all threads (the detectors are captured
//     in parallel), the mean: on a loaded machine the wall figure is
//     mostly waiting for a core;
//   - encode-ms: the encoder it returns, run off the consumer;
//   - marshal-ms: MarshalSections, capture and encode in one go (the
//     pause if encoding ran on the consumer);
//   - cow-max-ms, cow-ns/record: while the encoder runs, the consumer
//     handles one more call for each of the first 2,000 agents' keys
//     (20,000 records, every one touching keys the capture has not copied
//     yet, so the consumer copies them first): its longest single record
//     and its mean cost per record; base-ns/record is the same batch
//     handled with no capture running, base-max-ms its longest record;
//   - marshal-cpu-ms: the CPU time of MarshalSections (all threads).
//
// Run alone: go test -run x -bench SnapshotCapture -benchtime 3x ./pipeline
func BenchmarkSnapshotCapture(b *testing.B) {
	for _, agents := range []int{6554, 20000} {
		b.Run(fmt.Sprintf("keys=%d", agents*10), func(b *testing.B) { benchCapture(b, agents) })
	}
}

func benchCapture(b *testing.B, agents int) {
	const (
		tools  = 10
		perKey = 8
	)
	cfg := config.Default()
	cfg.Baseline.MaxKeys = 1 << 24
	p := New(cfg, fixedWall)
	buf := make([]byte, 0, 1024)
	var batch [][]byte // one round of calls for the first agents, when set
	round := func(i, agents int) {
		ts := sim.DefaultStart.Add(time.Duration(i) * 90 * time.Second)
		for a := range agents {
			for t := range tools {
				buf = appendKeyCall(buf[:0], ts, i, a, t)
				if batch != nil {
					batch = append(batch, slices.Clone(buf))
				} else if _, outcome, err := p.Handle(buf); outcome == record.Invalid {
					b.Fatal(err)
				}
			}
		}
	}
	for i := range perKey {
		round(i, agents)
	}
	const touched = 2000
	nextRound := perKey
	makeBatch := func() [][]byte {
		batch = make([][]byte, 0, touched*tools)
		round(nextRound, touched)
		nextRound++
		out := batch
		batch = nil
		return out
	}
	handle := func(lines [][]byte) (longest, total time.Duration) {
		for _, l := range lines {
			t0 := time.Now()
			if _, outcome, err := p.Handle(l); outcome == record.Invalid {
				b.Fatal(err)
			}
			d := time.Since(t0)
			longest, total = max(longest, d), total+d
		}
		return longest, total
	}
	if live := liveKeys(p); live < agents*tools {
		b.Fatalf("%d keys live, want %d", live, agents*tools)
	}
	var encode, marshal, marshalCPU, captureCPU, cowMax, cowTotal, baseMax, baseTotal time.Duration
	capture := time.Duration(math.MaxInt64)
	size := 0
	for b.Loop() {
		runtime.GC()
		t0, c0 := time.Now(), cpuTime()
		enc, err := p.CaptureSections()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		captureCPU += cpuTime() - c0
		capture = min(capture, t1.Sub(t0))
		lines := makeBatch()
		encDone := make(chan time.Duration)
		var sections map[string][]byte
		go func() {
			var err error
			if sections, err = enc(); err != nil {
				b.Error(err)
			}
			encDone <- time.Since(t1)
		}()
		longest, total := handle(lines)
		encode += <-encDone
		cowMax, cowTotal = max(cowMax, longest), cowTotal+total
		runtime.GC()
		longest, total = handle(makeBatch())
		baseMax, baseTotal = max(baseMax, longest), baseTotal+total
		size = 0
		for _, s := range sections {
			size += len(s)
		}
		runtime.GC()
		t3, c3 := time.Now(), cpuTime()
		if _, err := p.MarshalSections(); err != nil {
			b.Fatal(err)
		}
		marshal += time.Since(t3)
		marshalCPU += cpuTime() - c3
	}
	n := float64(b.N)
	b.ReportMetric(float64(capture.Microseconds())/1e3, "capture-ms")
	b.ReportMetric(float64(captureCPU.Microseconds())/1e3/n, "capture-cpu-ms")
	b.ReportMetric(float64(encode.Milliseconds())/n, "encode-ms")
	b.ReportMetric(float64(marshal.Milliseconds())/n, "marshal-ms")
	b.ReportMetric(float64(marshalCPU.Milliseconds())/n, "marshal-cpu-ms")
	b.ReportMetric(float64(size)/float64(agents*tools), "bytes/key")
	b.ReportMetric(float64(cowMax.Microseconds())/1e3, "cow-max-ms")
	b.ReportMetric(float64(cowTotal.Nanoseconds())/n/(touched*tools), "cow-ns/record")
	b.ReportMetric(float64(baseTotal.Nanoseconds())/n/(touched*tools), "base-ns/record")
	b.ReportMetric(float64(baseMax.Microseconds())/1e3, "base-max-ms")
	b.ReportMetric(0, "ns/op")
}
