package denials

import (
	"fmt"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/record"
)

// With the key store at its cap (a flood of new agent ids from hour 40 on),
// a never-seen agent's denial burst still alerts: the agent gets a key,
// evicting the least recently seen one, and in its warm-up is judged
// against its tool's (warm) denial baseline.
func TestNewAgentDenialSpikeAlertsAtCap(t *testing.T) {
	b := baseline.DefaultConfig()
	b.MaxKeys = 4
	d := newDetector(t, DefaultConfig(), b)
	from := (48 + 15) * 3600
	got := stream(d, 64, func(sec int, add func(call)) {
		if sec >= 40*3600 && sec%5 == 0 {
			add(call{agent: fmt.Sprintf("flood-%d", sec), tool: "db-query"})
		}
		if sec >= from && sec < from+600 && sec%10 == 0 {
			add(call{agent: "agent-z", tool: "files", status: record.StatusDenied, denied: []string{"data_access:write"}})
		}
	})
	var spikes int
	for _, f := range got {
		if f.Detail == "spike" && f.AgentID == "agent-z" {
			if f.Details["baseline"] != "tool" {
				t.Fatalf("not judged against the tool baseline: %+v", f)
			}
			spikes++
		}
	}
	if spikes == 0 {
		t.Fatalf("denial burst of a new agent at the cap raised nothing (%d findings)", len(got))
	}
	if _, _, capacity := d.KeyStats(); capacity < 10000 || d.keys.Len() > 4 {
		t.Fatalf("flood did not hold the store at its cap: capacity evictions %d, keys %d", capacity, d.keys.Len())
	}
}
