package outputsize

import (
	"fmt"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
)

// With the key store at its cap (a flood of new agent ids), a new agent
// and an agent whose key was evicted are judged against their tool's
// baseline: a 100 MB output still alerts.
func TestLargeOutputAlertsAtCap(t *testing.T) {
	d := newDet(t, func(_ *Config, b *baseline.Config) { b.MaxKeys = 9 })
	s := warm(t, d, 9000)
	ts := base.Add(time.Duration(s.i) * time.Second)
	for i := range 200 {
		if out := d.Observe(rec(ts, fmt.Sprintf("flood-%d", i), "customer-lookup", 4000), nil); len(out) != 0 {
			t.Fatalf("flood record alerted: %+v", out)
		}
	}
	if d.core.Keys.Peek(baseline.Key{Agent: "agent-a", Tool: "customer-lookup"}) != nil {
		t.Fatal("premise: agent-a's key was not evicted by the flood")
	}
	for _, agent := range []string{"agent-new", "agent-a"} {
		out := d.Observe(rec(ts, agent, "customer-lookup", 100_000_000), nil)
		if len(out) != 1 || out[0].AgentID != agent || out[0].Details["baseline_scope"] != "tool" || out[0].Score < 80 {
			t.Fatalf("%s: 100 MB at the cap: %+v", agent, out)
		}
	}
	if live, _, capacity := d.KeyStats(); capacity == 0 || d.core.Keys.Len() > 9 {
		t.Fatalf("live %d capacity evictions %d", live, capacity)
	}
}
