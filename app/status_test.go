package app

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
)

// A backlog replayed in one wall-clock second (the status page publishes
// once) still yields a latency-p99 sample for every minute of its history:
// the samples are taken on event time as minutes close, not when the page
// is published. The calls line has a point for quiet minutes too.
func TestStatusHistorySampledOnEventTime(t *testing.T) {
	start := time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)
	const minutes = 180
	wall := start.Add(minutes * time.Minute)
	cfg := config.Default()
	p := pipeline.New(cfg, func() time.Time { return wall })
	s := newStatusState(cfg, p, func() time.Time { return wall })
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	n := 0
	for m := range minutes {
		if m >= 150 && m < 160 { // ten quiet minutes
			continue
		}
		// Latency doubles halfway through: the p99 line must show the step.
		scale := 150.0
		if m >= minutes/2 {
			scale = 300
		}
		for i := range 20 {
			n++
			r := record.Record{
				TraceID: "t", SpanID: "s", Timestamp: start.Add(time.Duration(m)*time.Minute + time.Duration(i)*3*time.Second),
				AgentID:    "agent-1",
				Tool:       record.Tool{Name: "customer-lookup", TrustLevel: "gold", VerificationScore: record.Absent},
				Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: scale * math.Exp(0.3*rng.NormFloat64()), OutputBytes: record.Absent, InputBytes: record.Absent},
				Context:    record.Context{Environment: "production"}, DataSubjectsAffected: record.Absent,
			}
			buf = r.AppendJSON(buf[:0])
			if _, outcome, err := p.Handle(buf); outcome != record.Applied {
				t.Fatalf("record %d: outcome %v, %v", n, outcome, err)
			}
			s.observe(p.Record())
		}
	}
	s.publish(p, wall)
	snap := s.Status()
	if len(snap.Tools) != 1 {
		t.Fatalf("tools %+v", snap.Tools)
	}
	h := snap.Tools[0].History
	if len(h) != statusHistory {
		t.Fatalf("%d history points, want %d", len(h), statusHistory)
	}
	for i, pt := range h {
		if i > 0 && !pt.Time.Equal(h[i-1].Time.Add(time.Minute)) {
			t.Errorf("point %d at %v follows %v: not one point per minute", i, pt.Time, h[i-1].Time)
		}
		if math.IsNaN(pt.LatencyP99) || pt.LatencyP99 <= 0 {
			t.Errorf("point %d (%v): latency p99 %v; sampled on the wall clock instead of event time?", i, pt.Time, pt.LatencyP99)
		}
		quiet := pt.Time.After(start.Add(149*time.Minute)) && pt.Time.Before(start.Add(160*time.Minute))
		if quiet != (pt.Calls == 0) {
			t.Errorf("point %d (%v): %v calls", i, pt.Time, pt.Calls)
		}
	}
	// The last 60 minutes are all in the slow half: p99 above the fast
	// half's (≈ 150·e^(0.3·2.33) ≈ 300 ms).
	if first := h[0].LatencyP99; first < 310 {
		t.Errorf("p99 %v at %v, want > 310 ms after latency doubled", first, h[0].Time)
	}
}

// BenchmarkStatusObserve is the status page's per-record cost, including
// the once-per-minute p99 sample: one record per second of event time, so
// one op in 60 closes a minute.
func BenchmarkStatusObserve(b *testing.B) {
	start := time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)
	cfg := config.Default()
	wall := start.Add(24 * time.Hour)
	p := pipeline.New(cfg, func() time.Time { return wall })
	s := newStatusState(cfg, p, func() time.Time { return wall })
	rng := rand.New(rand.NewPCG(1, 2))
	r := record.Record{TraceID: "t", SpanID: "s", AgentID: "agent-1",
		Tool:       record.Tool{Name: "customer-lookup", TrustLevel: "gold", VerificationScore: record.Absent},
		Invocation: record.Invocation{Status: record.StatusSuccess, OutputBytes: record.Absent, InputBytes: record.Absent},
		Context:    record.Context{Environment: "production"}, DataSubjectsAffected: record.Absent}
	var buf []byte
	// Warm the latency baseline for two hours first.
	for i := range 7200 {
		r.Timestamp = start.Add(time.Duration(i) * time.Second)
		r.Invocation.DurationMS = 150 * math.Exp(0.3*rng.NormFloat64())
		buf = r.AppendJSON(buf[:0])
		p.Handle(buf)
		s.observe(p.Record())
	}
	rec := *p.Record()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec.Timestamp = start.Add(time.Duration(7200+i) * time.Second)
		s.observe(&rec)
	}
}
