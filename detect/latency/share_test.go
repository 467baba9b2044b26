package latency

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// partitions feeds one stream of db-query calls to a single detector
// (the whole tool) and, split by agent, to three partition detectors; the
// third partition's agents never call it.
func partitions(t testing.TB, n int) (whole *Detector, parts [3]*Detector) {
	whole = newDet(t, nil)
	for i := range parts {
		parts[i] = newDet(t, nil)
	}
	rng := rand.New(rand.NewPCG(41, 42))
	agents := []string{"a0", "a1", "a2", "a3"} // a0, a2 → partition 0; a1, a3 → 1
	for i := range n {
		ts := base.Add(time.Duration(i) * 10 * time.Second)
		ag := agents[i%len(agents)]
		ms := math.Round(40*math.Exp(0.6*rng.NormFloat64())*10) / 10
		if i%len(agents)%2 == 1 {
			ms *= 2 // partition 1's agents run the slower queries
		}
		whole.Observe(rec(ts, ag, "db-query", "1.0.0", ms), nil)
		parts[i%len(agents)%2].Observe(rec(ts, ag, "db-query", "1.0.0", ms), nil)
		parts[2].Observe(rec(ts, "other", "web-search", "1.0.0", 800), nil)
	}
	return whole, parts
}

// share does one sharing round: every partition exports, and each gets
// the others' sketches (never its own).
func share(t testing.TB, parts []*Detector) {
	sk := make([]map[string][]byte, len(parts))
	for i, d := range parts {
		sk[i] = map[string][]byte{}
		d.ToolSketches(func(tool string, b []byte) { sk[i][tool] = b })
	}
	for i, d := range parts {
		others := map[string][][]byte{}
		for j := range parts {
			if j != i {
				for tool, b := range sk[j] {
					others[tool] = append(others[tool], b)
				}
			}
		}
		if err := d.SetSharedTools(others); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSharedToolBaseline: a young key on a partition that never saw its
// tool borrows the tool's baseline over all partitions: a 30 s call
// alerts with the whole tool's sample count and quantiles (within the
// sketch error of a single daemon's tool baseline); without sharing it is
// in warm-up. A young key on a partition that saw half the traffic is
// judged with the whole count too (its own share is not counted twice).
func TestSharedToolBaseline(t *testing.T) {
	const n = 4000
	whole, parts := partitions(t, n)
	at := base.Add(n * 10 * time.Second)
	slow := func(d *Detector, agent string) []detect.Finding {
		return d.Observe(rec(at, agent, "db-query", "1.0.0", 30000), nil)
	}
	if fs := slow(parts[2], "young-before"); len(fs) != 0 {
		t.Fatalf("partition without the tool alerted before sharing: %+v", fs)
	}
	wantQ := whole.core.PeekTool("db-query").first.dist.Quantiles(whole.core.G)
	ref := slow(whole, "young")
	if len(ref) != 1 {
		t.Fatalf("single daemon: %d findings", len(ref))
	}
	share(t, parts[:])
	for _, tc := range []struct {
		part  int
		count float64
	}{{2, n}, {0, n}} {
		fs := slow(parts[tc.part], "young")
		if len(fs) != 1 || fs[0].Details["baseline_scope"] != ScopeTool {
			t.Fatalf("partition %d: findings %+v", tc.part, fs)
		}
		d := fs[0].Details
		if got := d["samples"].(int64); math.Abs(float64(got)-tc.count) > 1 {
			t.Errorf("partition %d: borrowed baseline of %d calls, want %v", tc.part, got, tc.count)
		}
		for _, q := range []struct {
			key  string
			want float64
			tol  float64
		}{{"baseline_p50", wantQ.P50, 0.05}, {"baseline_p99", wantQ.P99, 0.12}} {
			got := d[q.key].(float64)
			if rel := math.Abs(got-q.want) / q.want; rel > q.tol {
				t.Errorf("partition %d: %s %v, single daemon %v (rel %.3f)", tc.part, q.key, got, q.want, rel)
			}
		}
		if fs[0].Score < ref[0].Score-10 {
			t.Errorf("partition %d: score %v, single daemon %v", tc.part, fs[0].Score, ref[0].Score)
		}
	}
}

// TestSharedToolVersions: a view is of one version; a key of another
// version does not borrow it, and a bad sketch is reported and skipped.
func TestSharedToolVersions(t *testing.T) {
	_, parts := partitions(t, 1000)
	share(t, parts[:])
	if fs := parts[2].Observe(rec(base.Add(time.Hour*24), "young", "db-query", "2.0.0", 30000), nil); len(fs) != 0 {
		t.Fatalf("version 2.0.0 borrowed the 1.0.0 view: %+v", fs)
	}
	err := parts[2].SetSharedTools(map[string][][]byte{"db-query": {{0x05, 'x'}}})
	if err == nil {
		t.Fatal("bad sketch not reported")
	}
	if fs := parts[2].Observe(rec(base.Add(time.Hour*24), "young", "db-query", "1.0.0", 30000), nil); len(fs) != 0 {
		t.Fatalf("no usable view, yet %+v", fs)
	}
}
