package denials

import (
	"fmt"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/record"
)

// With the key store at its cap (a flood of new agent ids), a new agent's
// denial in production still alerts: the agent gets a key, evicting the
// least recently seen one.
func TestProductionDenialAlertsAtCap(t *testing.T) {
	b := baseline.DefaultConfig()
	b.MaxKeys = 4
	d := newDetector(t, DefaultConfig(), b)
	out := stream(d, 2, nil)
	for i := range 50 {
		r := record.Record{Timestamp: base.Add(2*3600e9 + 1e9), AgentID: fmt.Sprintf("flood-%d", i), Tool: record.Tool{Name: "db-query"}}
		r.Invocation.Status, r.Context.Environment = record.StatusSuccess, "production"
		out = d.Observe(&r, out)
	}
	n0 := len(out)
	r := record.Record{Timestamp: base.Add(2*3600e9 + 2e9), AgentID: "agent-new", Tool: record.Tool{Name: "db-query"}}
	r.Invocation.Status, r.Context.Environment = record.StatusDenied, "production"
	r.Invocation.PermissionsDenied = []string{"data_access:read"}
	out = d.Observe(&r, out)
	var prod int
	for _, f := range out[n0:] {
		if f.Detail == "production" && f.AgentID == "agent-new" {
			prod++
		}
	}
	if prod != 1 {
		t.Fatalf("production denial of a new agent at the cap: %+v", out[n0:])
	}
	if _, _, capacity := d.KeyStats(); capacity == 0 || d.keys.Len() > 4 {
		t.Fatalf("capacity evictions %d, keys %d", capacity, d.keys.Len())
	}
}
