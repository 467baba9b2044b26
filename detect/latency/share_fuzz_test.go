package latency

import (
	"testing"

	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// FuzzToolSketch: any tool sketch payload decodes or is refused, and
// installing it never panics nor breaks judging.
func FuzzToolSketch(f *testing.F) {
	_, parts := partitions(f, 300)
	parts[0].ToolSketches(func(_ string, b []byte) { f.Add(b) })
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := distdetect.DecodeToolSketch(b); err != nil {
			return
		}
		d := parts[2]
		_ = d.SetSharedTools(map[string][][]byte{"db-query": {b}})
		d.Observe(rec(base, "young", "db-query", "1.0.0", 30000), nil)
	})
}
