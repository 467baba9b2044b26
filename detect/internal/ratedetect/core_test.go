package ratedetect

import (
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

type derived struct{ window time.Duration }

func TestTuning(t *testing.T) {
	p := &detect.Params[baseline.SpikeConfig]{Base: DefaultSpike(time.Hour), Rules: []detect.Rule[baseline.SpikeConfig]{
		{Tool: "db-*", Config: DefaultSpike()},
	}}
	p.Rules[0].Config.Window = 10 * time.Minute
	derives := 0
	var tn Tuning[baseline.SpikeConfig, derived]
	tn.Set(p, func(c *baseline.SpikeConfig) *derived { derives++; return &derived{c.Window} })
	if derives != 2 {
		t.Fatalf("derived %d configs, want 2 (base, one rule)", derives)
	}
	base, s := tn.Resolve("a", "web")
	db, _ := tn.Resolve("a", "db-x")
	if base != tn.Base() || base.window != 5*time.Minute || db.window != 10*time.Minute {
		t.Fatalf("resolved %v, %v", base, db)
	}
	if tn.For("a", "db-y") != db {
		t.Fatal("keys of one config must share its derived constants")
	}
	var order []time.Duration
	tn.Each(func(d *derived) { order = append(order, d.window) })
	if len(order) != 2 || order[0] != 5*time.Minute || order[1] != 10*time.Minute {
		t.Fatalf("Each order %v, want base first", order)
	}
	if !tn.Current(s) || tn.SweepDue() {
		t.Fatal("fresh stamp must be current, no sweep owed")
	}
	tn.Set(p, func(c *baseline.SpikeConfig) *derived { return &derived{c.Window} })
	tn.Reload()
	if tn.Current(s) || !tn.SweepDue() {
		t.Fatal("after a reload every key is stale until swept")
	}
	tn.Swept()
	if tn.SweepDue() {
		t.Fatal("swept")
	}
}

func TestWindowRecord(t *testing.T) {
	c := DefaultSpike(time.Hour, 6*time.Hour)
	rp := c.RateParams()
	var e encoding.Encbuf
	PutWindow(&e, rp.Size, &rp.N)
	d := encoding.Decbuf{B: e.Get()}
	var size int64
	var scales [baseline.MaxScales]int
	GetWindow(&d, &size, &scales)
	if d.Err() != nil || !SameWindow(&rp, size, scales) {
		t.Fatalf("round trip: %v, size %d scales %v, want %d %v", d.Err(), size, scales, rp.Size, rp.N)
	}
	oc := DefaultSpike(time.Hour)
	other := oc.RateParams()
	if SameWindow(&other, size, scales) || SameScales(&rp, &other) {
		t.Fatal("a different long window must not match")
	}
	if !SameScales(&rp, &rp) {
		t.Fatal("SameScales must be reflexive")
	}
}
