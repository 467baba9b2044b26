package outputsize

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSharedToolBaseline: output sizes of one tool split over two
// partitions; after a sharing round a young key on a third partition that
// never saw the tool is judged against the whole tool (sample count,
// median within the sketch error of a single daemon's tool baseline) and
// a 100 MB output alerts; before it, the key is in warm-up. A bad sketch
// is reported and leaves the partition without a view of that tool.
func TestSharedToolBaseline(t *testing.T) {
	whole := newDet(t, nil)
	parts := []*Detector{newDet(t, nil), newDet(t, nil), newDet(t, nil)}
	rng := rand.New(rand.NewPCG(7, 8))
	t0 := time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)
	const n = 3000
	for i := range n {
		ts := t0.Add(time.Duration(i) * 10 * time.Second)
		ag := []string{"a0", "a1"}[i%2]
		b := int64(1000 * math.Exp(0.5*rng.NormFloat64()) * float64(1+i%2))
		whole.Observe(rec(ts, ag, "kb-search", b), nil)
		parts[i%2].Observe(rec(ts, ag, "kb-search", b), nil)
	}
	at := t0.Add(n * 10 * time.Second)
	big := rec(at, "young", "kb-search", 100<<20)
	if fs := parts[2].Observe(big, nil); len(fs) != 0 {
		t.Fatalf("alerted before sharing: %+v", fs)
	}
	sk := make([]map[string][]byte, 3)
	for i, d := range parts {
		sk[i] = map[string][]byte{}
		d.ToolSketches(func(tool string, b []byte) { sk[i][tool] = b })
	}
	if err := parts[2].SetSharedTools(map[string][][]byte{"kb-search": {sk[0]["kb-search"], sk[1]["kb-search"]}}); err != nil {
		t.Fatal(err)
	}
	fs := parts[2].Observe(rec(at, "young2", "kb-search", 100<<20), nil)
	if len(fs) != 1 || fs[0].Details["baseline_scope"] != "tool" {
		t.Fatalf("after sharing: %+v", fs)
	}
	want := whole.core.PeekTool("kb-search").dist.Quantiles(whole.core.G)
	// The others' n outputs plus this partition's own first call, once.
	if got := fs[0].Details["samples"].(int64); got != n+1 {
		t.Errorf("borrowed %d samples, want %d", got, n+1)
	}
	if got := fs[0].Details["baseline_p50"].(float64); math.Abs(got-want.P50)/want.P50 > 0.05 {
		t.Errorf("borrowed p50 %v, single daemon %v", got, want.P50)
	}
	if err := parts[2].SetSharedTools(map[string][][]byte{"kb-search": {[]byte("junk")}}); err == nil {
		t.Fatal("junk sketch accepted")
	}
	if fs := parts[2].Observe(rec(at, "young3", "kb-search", 100<<20), nil); len(fs) != 0 {
		t.Fatalf("view survived a junk sketch: %+v", fs)
	}
}
