package latency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkShareRound: one partition's share of a sharing round with 100
// tools and 12 partitions: export its tools' sketches, then install a view
// merged from the 11 others' (decode, merge with its own, refit on first
// use). This runs every group.share_interval under the member's lock, not
// per record.
//
//	go test -run x -bench ShareRound -benchtime 20x ./detect/latency
func BenchmarkShareRound(b *testing.B) {
	const tools, parts = 100, 12
	d := newDet(b, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 * tools {
		tool := fmt.Sprintf("tool-%03d", i%tools)
		d.Observe(rec(base.Add(time.Duration(i)*time.Second), "a", tool, "1", math.Round(100*math.Exp(0.5*rng.NormFloat64()))), nil)
	}
	sk := map[string][]byte{}
	d.ToolSketches(func(tool string, s []byte) { sk[tool] = s })
	others := map[string][][]byte{}
	bytes := 0
	for tool, s := range sk {
		for range parts - 1 {
			others[tool] = append(others[tool], s)
		}
		bytes += len(s)
	}
	b.ReportMetric(float64(bytes)/tools, "sketch-bytes/tool")
	b.ResetTimer()
	for range b.N {
		n := 0
		d.ToolSketches(func(string, []byte) { n++ })
		if err := d.SetSharedTools(others); err != nil {
			b.Fatal(err)
		}
		if n != tools {
			b.Fatalf("%d sketches", n)
		}
	}
}
