package latency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// youngBurst runs a young tool (n calls, one every 2 minutes, log-normal
// median 200 ms, σ sigma) over agents (round robin), then 5 calls of the
// first agent at mult × the median 36 s apart, then 10 more normal
// minutes; it returns the findings from the burst on and the burst's
// start.
func youngBurst(t testing.TB, seed uint64, n int, sigma, mult float64, agents int) ([]detect.Finding, time.Time) {
	d := newDet(t, nil)
	rng := rand.New(rand.NewPCG(seed, 9))
	at := base
	var out []detect.Finding
	for i := range n {
		r := rec(at, fmt.Sprintf("a%d", i%agents), "young", "1.0.0", 200*math.Exp(sigma*rng.NormFloat64()))
		d.Observe(r, nil)
		at = at.Add(2 * time.Minute)
	}
	start := at
	for range 5 {
		out = d.Observe(rec(at, "a0", "young", "1.0.0", mult*200*math.Exp(0.05*rng.NormFloat64())), out)
		at = at.Add(36 * time.Second)
	}
	for i := range 5 {
		at = at.Add(2 * time.Minute)
		out = d.Observe(rec(at, fmt.Sprintf("a%d", i%agents), "young", "1.0.0", 200*math.Exp(sigma*rng.NormFloat64())), out)
	}
	return out, start
}

// A young tool's burst of far calls is found within minutes: 5 calls at
// 15× the median of a σ 0.5 tool (5.4σ, each about 5 decades under the
// young fallback tail: no finding alone) within 3 minutes, and 5 at 150×
// on a σ 1 tool (the fleet's 28 s metrics_query calls on a ~200 ms tool),
// on a key's own young baseline (one agent) and on the tool's (12 agents,
// none with min_samples calls of its own).
func TestYoungToolBurstFound(t *testing.T) {
	for _, c := range []struct {
		n           int
		sigma, mult float64
		agents      int
	}{
		{450, 0.5, 15, 1}, {300, 0.5, 15, 1}, {600, 0.5, 15, 1},
		{450, 0.5, 15, 12}, {370, 1, 140, 1}, {370, 1, 140, 12}, {630, 1, 140, 12},
	} {
		name := fmt.Sprintf("%d values σ%g ×%g, %d agents", c.n, c.sigma, c.mult, c.agents)
		found := 0
		for seed := range uint64(8) {
			fs, start := youngBurst(t, seed, c.n, c.sigma, c.mult, c.agents)
			for _, f := range fs {
				if f.EventTime.Sub(start) <= 4*time.Minute {
					found++
					if seed == 0 {
						t.Logf("%s: %s %s after %v, score %.0f: %s", name, f.Pattern, f.Detail, f.EventTime.Sub(start), f.Score, f.Summary)
					}
					break
				}
			}
		}
		if found < 8 {
			t.Errorf("%s: a finding within 4 minutes on %d of 8 seeds, want 8", name, found)
		}
	}
}

// Silent classes of the burst test (baseline/judge_spread.go): a heavy
// SQL tool's legitimate 20–50 s queries (rare, spread out), a bursty tool
// whose far calls come in clusters (daily or every 3 hours: after the
// first, which is news, none), and young wide
// log-normal tools (σ 1.5–2) raise no burst finding.
func TestBurstSilentClasses(t *testing.T) {
	const days = 5
	cases := []struct {
		name string
		step time.Duration
		gen  func(rng *rand.Rand, e time.Duration) float64
	}{
		{"sql σ1.5", 30 * time.Second, func(rng *rand.Rand, _ time.Duration) float64 { return sqlLatency(rng, 1.5) }},
		{"sql σ2", 30 * time.Second, func(rng *rand.Rand, _ time.Duration) float64 { return sqlLatency(rng, 2) }},
		{"clustered tail daily", time.Minute, func(rng *rand.Rand, e time.Duration) float64 {
			// about half the calls of 8 minutes at 05:00 each day 12–20× the median
			if e%(24*time.Hour)-5*time.Hour < 8*time.Minute && e%(24*time.Hour) >= 5*time.Hour && rng.IntN(2) == 0 {
				return 200 * (12 + 8*rng.Float64())
			}
			return 200 * math.Exp(0.5*rng.NormFloat64())
		}},
		{"clustered tail every 3h", time.Minute, func(rng *rand.Rand, e time.Duration) float64 {
			if e%(3*time.Hour) < 8*time.Minute && rng.IntN(2) == 0 {
				return 200 * (12 + 8*rng.Float64())
			}
			return 200 * math.Exp(0.5*rng.NormFloat64())
		}},
		{"log-normal σ1.5", 2 * time.Minute, func(rng *rand.Rand, _ time.Duration) float64 { return 200 * math.Exp(1.5*rng.NormFloat64()) }},
		{"log-normal σ2", 2 * time.Minute, func(rng *rand.Rand, _ time.Duration) float64 { return 200 * math.Exp(2*rng.NormFloat64()) }},
	}
	for _, c := range cases {
		bursts := 0
		for seed := range uint64(4) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(seed, 3))
			k := key(d, "a", "t", c.step)
			n := int(days * 24 * time.Hour / c.step)
			for _, f := range k.Run(n, func(e time.Duration) float64 { return c.gen(rng, e) }) {
				// A clustered key's first cluster is news; the later ones
				// are not.
				if f.Details["burst"] == true && (!strings.HasPrefix(c.name, "clustered") || f.EventTime.Sub(base) >= 24*time.Hour) {
					bursts++
					t.Logf("%s seed %d: %s", c.name, seed, f.Summary)
				}
			}
		}
		if bursts > 0 {
			t.Errorf("%s: %d burst findings in 4 × %d days, want 0", c.name, bursts, days)
		}
	}
}

var _ = detecttest.MaxPerDay
