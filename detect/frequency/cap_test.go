package frequency

import (
	"fmt"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// A flood of new agent ids keeps the key store at its cap from hour 40 on;
// a never-seen agent that loops at hour 58 still gets a key (the least
// recently seen one is evicted) and is judged against its tool's baseline.
func TestNewAgentLoopAlertsAtCap(t *testing.T) {
	b := baseline.DefaultConfig()
	b.MaxKeys = 8
	d := newDetector(t, DefaultConfig(), b)
	from := 58 * 3600
	got := stream(d, 59, func(sec int, add func(call)) {
		if sec >= 40*3600 {
			add(call{fmt.Sprintf("flood-%d", sec), "search", hashes[sec%len(hashes)]})
		}
		if sec >= from && sec < from+120 {
			add(call{"agent-new", "search", "sha256:stuck"})
		}
	})
	var loops []detect.Finding
	for _, f := range got {
		if f.Detail == "loop" {
			if f.AgentID != "agent-new" {
				t.Fatalf("loop finding for %s", f.AgentID)
			}
			loops = append(loops, f)
		}
	}
	if len(loops) == 0 {
		t.Fatalf("the new agent's loop at the cap raised nothing (%d findings)", len(got))
	}
	if f := loops[0]; f.Observed != float64(f.Details["threshold"].(uint32)) || f.Details["input_hash"] != "sha256:stuck" {
		t.Fatalf("loop finding: %+v", f)
	}
	live, _, capacity := d.KeyStats()
	if capacity < 60000 || d.keys.Len() > 8 || live > 8+d.agents.Len()+d.tools.Len() {
		t.Fatalf("flood did not hold the store at its cap: live %d capacity evictions %d", live, capacity)
	}
}
