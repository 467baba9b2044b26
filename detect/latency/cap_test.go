package latency

import (
	"fmt"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
)

// With the key store at its cap (a flood of new agent ids), a new agent
// and an agent whose key was evicted are judged against their tool's
// baseline: a 30 s call still alerts.
func TestSlowCallAlertsAtCap(t *testing.T) {
	d := newDet(t, func(_ *Config, b *baseline.Config) { b.MaxKeys = 9 })
	s := warm(t, d, 9000)
	for i := range 200 {
		if out := d.Observe(rec(s.now(), fmt.Sprintf("flood-%d", i), "customer-lookup", "1.0.0", 100), nil); len(out) != 0 {
			t.Fatalf("flood record alerted: %+v", out)
		}
	}
	if d.core.Keys.Peek(baseline.Key{Agent: "agent-a", Tool: "customer-lookup"}) != nil {
		t.Fatal("premise: agent-a's key was not evicted by the flood")
	}
	for _, agent := range []string{"agent-new", "agent-a"} {
		out := d.Observe(rec(s.now(), agent, "customer-lookup", "1.0.0", 30000), nil)
		if len(out) != 1 || out[0].AgentID != agent || out[0].Details["baseline_scope"] != ScopeTool || out[0].Score < 80 {
			t.Fatalf("%s: 30 s call at the cap: %+v", agent, out)
		}
	}
	if _, _, capacity := d.KeyStats(); capacity == 0 || d.core.Keys.Len() > 9 {
		t.Fatalf("capacity evictions %d, keys %d", capacity, d.core.Keys.Len())
	}
}
