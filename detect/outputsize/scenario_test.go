package outputsize

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/record"
)

func key(d *Detector, agent, tool string, step time.Duration) *detecttest.Key {
	return &detecttest.Key{D: d, Start: base, Step: step, Rec: func(ts time.Time, v float64) *record.Record {
		return rec(ts, agent, tool, int64(math.Round(v)))
	}}
}

// Heavy-tailed sizes stay quiet: a file-read tool with p99 ≈ 500 KB
// (log-normal, median 20 KB, σ 1.4) that returns a legitimate 3–8 MB file
// once in ~1000 reads, five days on six keys at one read per 30 s, raises
// at most 3 findings per key and day.
func TestHeavyTailedSizesStayQuiet(t *testing.T) {
	const keys, perKey = 6, 5 * 2880
	total, worst := 0, 0
	var vals []float64
	for k := range keys {
		d := newDet(t, nil)
		rng := rand.New(rand.NewPCG(uint64(200+k), 3))
		fs := key(d, "reader", "file-read", 30*time.Second).Run(perKey, func(time.Duration) float64 {
			v := 20e3 * math.Exp(1.4*rng.NormFloat64())
			if rng.Float64() < 1.0/1000 {
				v = 3e6 + 5e6*rng.Float64()
			}
			vals = append(vals, v)
			return v
		})
		n, day := detecttest.MaxPerDay(fs, 40)
		t.Logf("key %d: %d findings in %d outputs, most in a day %d (%s)", k, len(fs), perKey, n, day)
		for _, f := range fs {
			t.Logf("  %s %s %.0f B score %.1f", f.EventTime.Format(time.DateTime), f.Detail, f.Observed, f.Score)
		}
		if n > 3 {
			t.Errorf("key %d: %d findings on %s, want ≤ 3 a day", k, n, day)
		}
		total += len(fs)
		worst = max(worst, n)
	}
	slices.Sort(vals)
	p99 := vals[len(vals)*99/100]
	if p99 < 400e3 || p99 > 650e3 {
		t.Fatalf("premise: p99 %.0f B, want ≈ 500 KB", p99)
	}
	t.Logf("p99 %.0f KB; %d findings in %d outputs (%.1f per 100k), most per key and day %d",
		p99/1e3, total, keys*perKey, float64(total)*1e5/float64(keys*perKey), worst)
}

// Egregious outputs score critical: 100 MB from a ~1 KB tool, on the key's
// own baseline and on a new agent borrowing the tool's.
func TestEgregiousOutputIsCritical(t *testing.T) {
	d := newDet(t, nil)
	rng := rand.New(rand.NewPCG(8, 8))
	k := key(d, "a", "lookup", time.Minute)
	if fs := k.Run(2*1440, func(time.Duration) float64 { return 1100 * math.Exp(0.4*rng.NormFloat64()) }); len(fs) != 0 {
		t.Fatalf("warm-up findings: %+v", fs[0])
	}
	for _, agent := range []string{"a", "new-agent"} {
		out := d.Observe(rec(k.Now(), agent, "lookup", 100_000_000), nil)
		f := detecttest.First(out, DetailLarge)
		if f == nil || f.Score < 80 {
			t.Fatalf("%s: 100 MB vs ~1 KB: %+v", agent, out)
		}
	}
}

// Empty outputs from a tool that returns ~16 KB (a collapse toward zero)
// raise level_shift_down within 30 minutes at one call per minute; a 3×
// larger median raises level_shift_up.
func TestOutputLevelShifts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  func(rng *rand.Rand) float64
		detail string
	}{
		{"empty", func(*rand.Rand) float64 { return 0 }, distdetect.DetailShiftDown},
		{"3x", func(rng *rand.Rand) float64 { return 3 * 16e3 * math.Exp(0.6*rng.NormFloat64()) }, distdetect.DetailShiftUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(4, 4))
			k := key(d, "a", "reader", time.Minute)
			if fs := k.Run(3*1440, func(time.Duration) float64 { return 16e3 * math.Exp(0.6*rng.NormFloat64()) }); len(fs) != 0 {
				t.Fatalf("warm-up findings: %+v", fs[0])
			}
			change := k.Now()
			fs := k.Run(60, func(time.Duration) float64 { return tc.after(rng) })
			f := detecttest.First(fs, tc.detail)
			if f == nil || f.EventTime.Sub(change) > 30*time.Minute || f.Score < 40 {
				t.Fatalf("%s: %+v (findings %d)", tc.detail, f, len(fs))
			}
			t.Logf("%s after %v, score %.1f: %s", f.Detail, f.EventTime.Sub(change), f.Score, f.Summary)
		})
	}
}

// Slow poisoning (issue 7): outputs growing 20%/h for 48 h raise a drift
// finding of their own, and do not lift the threshold so far that a 100 MB
// exfiltration afterwards scores below critical.
func TestSlowPoisoning(t *testing.T) {
	d := newDet(t, nil)
	rng := rand.New(rand.NewPCG(6, 6))
	k := key(d, "a", "lookup", time.Minute)
	if fs := k.Run(3*1440, func(time.Duration) float64 { return 1100 * math.Exp(0.4*rng.NormFloat64()) }); len(fs) != 0 {
		t.Fatalf("warm-up findings: %+v", fs[0])
	}
	start := k.Now().Sub(k.Start)
	fs := k.Run(48*60, func(e time.Duration) float64 {
		return 1100 * math.Pow(1.2, (e-start).Hours()) * math.Exp(0.4*rng.NormFloat64())
	})
	drift := detecttest.First(fs, distdetect.DetailDrift)
	if drift == nil {
		t.Fatalf("no drift finding during 48 h of 20%%/h growth; findings %v", countDetails(fs))
	}
	t.Logf("during the growth: %v; first drift after %v: %s", countDetails(fs), drift.EventTime.Sub(base.Add(start)), drift.Summary)
	out := d.Observe(rec(k.Now(), "a", "lookup", 100_000_000), nil)
	f := detecttest.First(out, DetailLarge)
	if f == nil || f.Score < 80 {
		t.Fatalf("100 MB after the poisoning: %+v", out)
	}
	t.Logf("100 MB after poisoning: score %.1f, threshold %v, drift_ratio %v, baseline p50 %v p99 %v",
		f.Score, f.Details["threshold"], f.Details["drift_ratio"], f.Details["baseline_p50"], f.Details["baseline_p99"])
}

// Recurring legitimate exceedances are absorbed: a tool that starts
// returning ~60× its old p99 a few times a day raises findings at first,
// then its tail learns them (at most one point an hour), so later days are
// quiet, while one burst of the same size does not teach itself.
func TestRecurringExceedancesAbsorbed(t *testing.T) {
	d := newDet(t, nil)
	rng := rand.New(rand.NewPCG(12, 12))
	k := key(d, "a", "report", time.Minute)
	body := func() float64 { return 4000 * math.Exp(0.5*rng.NormFloat64()) }
	if fs := k.Run(2*1440, func(time.Duration) float64 { return body() }); len(fs) != 0 {
		t.Fatalf("warm-up findings: %+v", fs[0])
	}
	perDay := make([]int, 6)
	for day := range perDay {
		fs := k.Run(1440, func(time.Duration) float64 {
			if rng.Float64() < 6.0/1440 {
				return 1e6 * math.Exp(0.3*rng.NormFloat64())
			}
			return body()
		})
		for _, f := range fs {
			if f.Detail == DetailLarge {
				perDay[day]++
			}
		}
	}
	t.Logf("large findings per day: %v", perDay)
	if perDay[0] == 0 || perDay[4] > 1 || perDay[5] > 1 {
		t.Fatalf("findings per day %v: want alerts at first, at most one a day after four days", perDay)
	}
}

func countDetails(fs []detect.Finding) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Detail]++
	}
	return m
}

// 100 MB from the heavy-tailed file reader of TestHeavyTailedSizesStayQuiet
// (p99 ≈ 500 KB, legitimate 3–8 MB files) is critical, for several seeds:
// the file reader's fitted tail puts it only at p ≈ 10⁻⁴ (it has
// seen 16× p99), the egregious bound (baseline/tail.go) makes it critical.
func TestEgregiousOutputOnHeavyKey(t *testing.T) {
	for seed := range uint64(20) {
		d := newDet(t, nil)
		rng := rand.New(rand.NewPCG(seed, 12))
		k := key(d, "reader", "file-read", 30*time.Second)
		var big int
		k.Run(2*2880, func(time.Duration) float64 {
			if rng.Float64() < 1.0/1000 {
				big++
				return 3e6 + 5e6*rng.Float64()
			}
			return 20e3 * math.Exp(1.4*rng.NormFloat64())
		})
		for _, agent := range []string{"reader", "new-agent"} {
			out := d.Observe(rec(k.Now(), agent, "file-read", 100_000_000), nil)
			f := detecttest.First(out, DetailLarge)
			if f == nil || f.Score < 80 {
				t.Fatalf("seed %d, %s (%d legitimate 3–8 MB files): 100 MB: %+v", seed, agent, big, out)
			}
			if seed == 0 {
				t.Logf("%s: score %.1f, p99 %v, fitted p_decades %v, egregious %v from %v B", agent, f.Score,
					f.Details["baseline_p99"], f.Details["p_decades"], f.Details["egregious"], f.Details["egregious_bound"])
			}
		}
	}
}

// A new agent of a mixture tool (point look-ups of ~600 B, and 15 %
// analytical results of ~200 KB with σ 1.5) whose first calls are a benign
// loop (the same 6 KB result 25 times) stays quiet once its own baseline
// takes over: while it is young it learns every output the ready tool
// baseline judged normal, the rare mode included, instead of refusing
// what its own few-dozen-value fit found large (which left it without
// that mode for good). A 50 GB output still alerts (the egregious rule
// needs p99²/p50, ~6 GB for this mixture).
func TestYoungKeyLearnsWhatToolVouches(t *testing.T) {
	for _, tc := range []struct {
		name     string
		loop     int
		maxFalse int
	}{
		{"benign loop first", 25, 1},
		{"no loop", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(77, 1))
			mixture := func() int64 {
				if rng.Float64() < 0.15 {
					return int64(200e3 * math.Exp(1.5*rng.NormFloat64()))
				}
				return int64(600 * math.Exp(0.8*rng.NormFloat64()))
			}
			var out []detect.Finding
			ts := base
			young, loop := 0, tc.loop
			for i := range 6000 {
				ts = ts.Add(20 * time.Second)
				for a := range 6 {
					out = d.Observe(rec(ts, fmt.Sprintf("analyst-%d", a), "sql-query", mixture()), out[:0])
				}
				if i%30 == 0 {
					out = d.Tick(ts, out[:0])
				}
				if i < 2000 { // the new agent starts on the second day
					continue
				}
				x := mixture()
				if loop > 0 {
					x, loop = 6253, loop-1
				}
				out = d.Observe(rec(ts.Add(time.Second), "analyst-new", "sql-query", x), out[:0])
				for _, f := range out {
					if f.Detail == DetailLarge {
						young++
						t.Logf("%s %.0f B score %.1f scope %v", f.EventTime.Format(time.DateTime), f.Observed, f.Score, f.Details["baseline_scope"])
					}
				}
			}
			if young > tc.maxFalse {
				t.Errorf("new agent: %d large findings on its normal outputs, want ≤ %d", young, tc.maxFalse)
			}
			out = d.Observe(rec(ts.Add(2*time.Second), "analyst-new", "sql-query", 5e10), out[:0])
			if len(out) == 0 || out[0].Detail != DetailLarge || out[0].Details["baseline_scope"] != "agent" {
				t.Fatalf("50 GB from the (now own-baseline) new agent: %+v", out)
			}
		})
	}
}
