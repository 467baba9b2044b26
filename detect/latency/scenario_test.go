package latency

import (
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
		return rec(ts, agent, tool, "1.0.0", v)
	}}
}

// sqlLatency is a heavy-tailed SQL tool: log-normal body (median 40 ms,
// σ sigma), a Pareto tail (α 0.8 from twice the body's p99, 0.5% of
// calls) and rare legitimate 20–50 s queries, capped at a 10 min timeout.
func sqlLatency(rng *rand.Rand, sigma float64) float64 {
	switch u := rng.Float64(); {
	case u < 1.0/3000:
		return 20000 + 30000*rng.Float64()
	case u < 0.005+1.0/3000:
		xm := 2 * 40 * math.Exp(2.326*sigma)
		return math.Min(xm*math.Pow(1-rng.Float64(), -1/0.8), 600000)
	}
	return 40 * math.Exp(sigma*rng.NormFloat64())
}

// Heavy-tailed latency stays quiet: five days of a SQL tool whose p99.9 is
// 10–20× its p99 (log-normal σ 1.5–2 plus a Pareto tail and rare 20–50 s
// queries), for eight keys at 1 call per 30 s, raise at most 3 findings
// per key and day.
func TestHeavyTailedLatencyStaysQuiet(t *testing.T) {
	total, worst := 0, 0
	const keys, perKey = 8, 5 * 2880
	for k := range keys {
		d := newDet(t, nil)
		rng := rand.New(rand.NewPCG(uint64(100+k), 7))
		kk := key(d, "sql-agent", "sql", 30*time.Second)
		sigma := 1.5 + 0.5*float64(k)/(keys-1)
		var vals []float64
		fs := kk.Run(perKey, func(time.Duration) float64 {
			v := sqlLatency(rng, sigma)
			vals = append(vals, v)
			return v
		})
		n, day := detecttest.MaxPerDay(fs, 40)
		slices.Sort(vals)
		p99, p999 := vals[len(vals)*99/100], vals[len(vals)*999/1000]
		// 10–20× by construction; 14 values above p99.9 make the sample's
		// ratio noisy.
		if r := p999 / p99; r < 7 || r > 25 {
			t.Errorf("premise: key %d p99.9/p99 = %.1f (p99 %.0f ms, p99.9 %.0f ms), want about 10–20", k, r, p99, p999)
		}
		t.Logf("key %d (σ %.2f, p99 %.1f s, p99.9 %.1f s, max %.1f s): %d findings in %d calls, most in a day %d (%s)",
			k, sigma, p99/1000, p999/1000, vals[len(vals)-1]/1000, len(fs), perKey, n, day)
		for _, f := range fs {
			t.Logf("  %s %s %.0f ms score %.1f", f.EventTime.Format(time.DateTime), f.Detail, f.Observed, f.Score)
		}
		if n > 3 {
			t.Errorf("key %d: %d findings on %s, want ≤ 3 a day", k, n, day)
		}
		total += len(fs)
		worst = max(worst, n)
	}
	t.Logf("%d findings in %d calls (%.1f per 100k), most per key and day %d",
		total, keys*perKey, float64(total)*1e5/float64(keys*perKey), worst)
}

// Level shifts of the median at one call per minute: up 3× and a collapse
// toward zero (a tool that suddenly "answers" in 1 ms) are detected within
// 30 minutes of event time; day/night variation (±30%) raises nothing.
func TestLevelShifts(t *testing.T) {
	const warmDays = 3
	for _, tc := range []struct {
		name   string
		sigma  float64
		after  func(rng *rand.Rand, m float64) float64 // value after the change
		detail string                                  // "" = no finding at all
	}{
		{"3x up σ0.5", 0.5, func(rng *rand.Rand, m float64) float64 { return 3 * m * math.Exp(0.5*rng.NormFloat64()) }, distdetect.DetailShiftUp},
		{"3x up σ0.8", 0.8, func(rng *rand.Rand, m float64) float64 { return 3 * m * math.Exp(0.8*rng.NormFloat64()) }, distdetect.DetailShiftUp},
		{"collapse σ0.5", 0.5, func(rng *rand.Rand, _ float64) float64 { return 1 }, distdetect.DetailShiftDown},
		{"collapse σ1.0", 1.0, func(rng *rand.Rand, _ float64) float64 { return 1 + rng.Float64() }, distdetect.DetailShiftDown},
		{"no change σ0.5", 0.5, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(5, 6))
			k := key(d, "a", "lookup", time.Minute)
			// Median 200 ms, ±30% over the day.
			median := func(e time.Duration) float64 {
				return 200 * (1 + 0.3*math.Sin(2*math.Pi*e.Hours()/24))
			}
			normal := func(e time.Duration) float64 { return median(e) * math.Exp(tc.sigma*rng.NormFloat64()) }
			if fs := k.Run(warmDays*1440, normal); len(fs) != 0 {
				t.Fatalf("%d findings during %d normal days (day/night ±30%%), first %+v", len(fs), warmDays, fs[0])
			}
			change := k.Now()
			gen := normal
			if tc.after != nil {
				gen = func(e time.Duration) float64 { return tc.after(rng, median(e)) }
			}
			fs := k.Run(120, gen)
			if tc.detail == "" {
				if len(fs) != 0 {
					t.Fatalf("findings without a change: %+v", fs[0])
				}
				return
			}
			f := detecttest.First(fs, tc.detail)
			if f == nil {
				t.Fatalf("no %s within 2 h; findings %v", tc.detail, details(fs))
			}
			delay := f.EventTime.Sub(change)
			t.Logf("%s after %v, score %.1f: %s", f.Detail, delay, f.Score, f.Summary)
			if delay > 30*time.Minute || f.Score < 40 {
				t.Fatalf("%s after %v with score %.1f, want within 30 min and ≥ 40", f.Detail, delay, f.Score)
			}
		})
	}
}

func details(fs []detect.Finding) []string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Detail)
	}
	return s
}

// Egregious values score critical: 30 s against a ~400 ms p99 (median
// 200 ms, σ 0.3, the README's example key), on a key's own baseline and on
// a new agent borrowing the tool's.
func TestEgregiousLatencyIsCritical(t *testing.T) {
	d := newDet(t, nil)
	rng := rand.New(rand.NewPCG(9, 9))
	k := key(d, "a", "lookup", time.Minute)
	if fs := k.Run(2*1440, func(time.Duration) float64 { return 200 * math.Exp(0.3*rng.NormFloat64()) }); len(fs) != 0 {
		t.Fatalf("warm-up findings: %+v", fs[0])
	}
	for _, agent := range []string{"a", "new-agent"} {
		out := d.Observe(rec(k.Now(), agent, "lookup", "1.0.0", 30000), nil)
		f := detecttest.First(out, DetailSlow)
		if f == nil || f.Score < 80 {
			t.Fatalf("%s: 30 s vs p99 ~400 ms: %+v", agent, out)
		}
		t.Logf("%s: score %.1f, p99 %v, threshold %v", agent, f.Score, f.Details["baseline_p99"], f.Details["threshold"])
	}
}

// A metric-like key with one value every 5 minutes (public series replayed
// as duration_ms): the short window stretches to 4 gaps, so a 3× shift and
// a collapse are still found (within ~1 h), and a quiet week raises nothing.
func TestSparseKeyLevelShifts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		factor float64
		detail string
	}{
		{"3x up", 3, distdetect.DetailShiftUp},
		{"collapse", 0.005, distdetect.DetailShiftDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(7, 7))
			k := key(d, "a", "metric", 5*time.Minute)
			m := 1.0
			gen := func(time.Duration) float64 { return m * 300 * math.Exp(0.4*rng.NormFloat64()) }
			if fs := k.Run(7*288, gen); len(fs) != 0 {
				t.Fatalf("%d findings in a normal week, first %+v", len(fs), fs[0])
			}
			change := k.Now()
			m = tc.factor
			f := detecttest.First(k.Run(36, gen), tc.detail)
			if f == nil || f.EventTime.Sub(change) > 90*time.Minute {
				t.Fatalf("%s not found within 90 min: %+v", tc.detail, f)
			}
			t.Logf("%s after %v, score %.1f", f.Detail, f.EventTime.Sub(change), f.Score)
		})
	}
}

// Egregious calls score critical whatever the key's width (issue 9): 30 s
// against a ~460 ms p99 on log-normal keys of σ 0.5, 1 and 1.5 and on a
// key with a Pareto tail (α 3 above its p98), each warmed two days at one
// call a minute, for 20 seeds (100 pass), on the key's own baseline and on a
// new agent borrowing the tool's. On the σ 1.5 key an honest log-normal
// puts 30 s only at p ≈ 10⁻⁷ (z ≈ 5.1) and the fitted tail lower still:
// the egregious bound (baseline/tail.go), not the fit, makes it critical.
func TestEgregiousLatencyAnyWidth(t *testing.T) {
	const p99 = 460.0
	logNormal := func(sigma float64) func(*rand.Rand) float64 {
		median := p99 / math.Exp(2.326*sigma)
		return func(rng *rand.Rand) float64 { return median * math.Exp(sigma*rng.NormFloat64()) }
	}
	for _, tc := range []struct {
		name string
		gen  func(*rand.Rand) float64
	}{
		{"log-normal σ0.5", logNormal(0.5)},
		{"log-normal σ1", logNormal(1)},
		{"log-normal σ1.5", logNormal(1.5)},
		{"Pareto tail α3", func(rng *rand.Rand) float64 {
			// 2% above 365 ms (so p99 = 365·2^(1/3) ≈ 460 ms), body
			// log-normal with median 150 ms, σ 0.35, below it.
			if rng.Float64() < 0.02 {
				return 365 * math.Pow(1-rng.Float64(), -1.0/3)
			}
			return min(150*math.Exp(0.35*rng.NormFloat64()), 365)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				d := newDet(t, nil)
				rng := rand.New(rand.NewPCG(seed, 11))
				k := key(d, "a", "tool", time.Minute)
				var vals []float64
				k.Run(2*1440, func(time.Duration) float64 {
					v := tc.gen(rng)
					vals = append(vals, v)
					return v
				})
				slices.Sort(vals)
				if got := vals[len(vals)*99/100]; got < 0.75*p99 || got > 1.33*p99 {
					t.Fatalf("premise: sample p99 %.0f ms, want ≈ %.0f", got, p99)
				}
				for _, agent := range []string{"a", "new-agent"} {
					out := d.Observe(rec(k.Now(), agent, "tool", "1.0.0", 30000), nil)
					f := detecttest.First(out, DetailSlow)
					if f == nil || f.Score < 80 {
						t.Fatalf("seed %d, %s: 30 s vs p99 %.0f ms (max %.0f ms): %+v", seed, agent, vals[len(vals)*99/100], vals[len(vals)-1], out)
					}
					if seed == 0 {
						t.Logf("%s: score %.1f, p99 %v, fitted p_decades %v, egregious %v from %v ms", agent, f.Score,
							f.Details["baseline_p99"], f.Details["p_decades"], f.Details["egregious"], f.Details["egregious_bound"])
					}
				}
			}
		})
	}
}
