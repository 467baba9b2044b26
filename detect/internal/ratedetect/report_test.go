package ratedetect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/record"
)

func TestWindowName(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"}, {time.Hour, "1h"}, {2 * time.Hour, "2h"},
		{90 * time.Minute, "90m"}, {30 * time.Second, "30s"}, {90 * time.Second, "90s"},
	} {
		if got := WindowName(tc.d); got != tc.want {
			t.Errorf("WindowName(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSpikeFinding(t *testing.T) {
	c := baseline.SpikeConfig{Window: 5 * time.Minute, LongWindows: []time.Duration{time.Hour}, FalseAlarmRate: 1e-6,
		MinCount: 5, PeakRatio: 1.5, NeighbourWeight: 0.5, Warmup: 24 * time.Hour, MinSlotWindows: 6,
		HalfLife: 72 * time.Hour, PeakHalfLife: 168 * time.Hour, Hold: 6 * time.Hour}
	rp, s := c.RateParams(), c.Rule()
	rep := Report(&c, "frequency", "calls", "%s called %d times in %s by %s; expected about %.3g")
	if rep.Windows[0] != "5m" || rep.Windows[1] != "1h" || rep.Size != 300 {
		t.Fatalf("report %+v", rep)
	}
	// Two days of Poisson(1) windows, armed from the key's own baseline.
	rng := rand.New(rand.NewPCG(3, 3))
	var r baseline.Rate
	start := time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC).Unix()
	for i := range 2 * 288 {
		r.Roll(start+int64(i)*rp.Size, &rp)
		r.ArmSpike(&s, &rp, nil, nil)
		r.N += uint32(poisson(rng, 1))
	}
	r.Roll(r.Start+rp.Size, &rp)
	r.ArmSpike(&s, &rp, nil, nil)
	for !r.Hit() {
	}
	v := r.Judge(&rp, &s)
	rec := record.Record{Timestamp: time.Unix(r.Start+42, 0).UTC(), AgentID: "agent-a", Tool: record.Tool{Name: "search"}, TraceID: "tr"}
	f := SpikeFinding(&r, &rec, &rep, v, 1)
	if f.Pattern != "frequency" || f.Detail != "spike" || f.TraceID != "tr" || f.Observed != float64(v.Sum) || f.Score < 50 || f.Details["baseline"] != "own" {
		t.Fatalf("finding %+v (verdict %+v)", f, v)
	}
	if f.Unit != "calls/"+rep.Windows[v.Scale] {
		t.Errorf("unit %q", f.Unit)
	}
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
