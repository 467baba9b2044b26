package denials

import (
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/record"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector.
func (d *Detector) BaselineKeys() []detect.Key {
	return detect.StoreKeys(d.keys, d.tools)
}

// Inspect implements detect.Inspector: the spike parts of
// ratedetect.Inspect (one per time scale of the denial-rate baseline,
// without the finding's permissions); for a tool also a "novelty" part with
// the denied types and type:action pairs remembered and its records.
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	// k is a copy with a rate of its own: nothing here touches live state.
	var k keyState
	var rate baseline.Rate
	var ts *toolState
	if agent == "" {
		if ts = d.tools.Peek(baseline.Key{Tool: tool}); ts == nil {
			return detect.Baseline{}, false
		}
		rate = ts.rate
	} else {
		ks := d.keys.Peek(baseline.Key{Agent: agent, Tool: tool})
		if ks == nil {
			return detect.Baseline{}, false
		}
		rate = ks.rate()
	}
	k.full = &deniedKey{Rate: rate}
	// The config as the key's next record resolves it.
	k.t = d.tn.For(agent, tool)
	t := k.t
	rate.Settle(&t.rp) // the levels with the decay of its quiet windows
	b := ratedetect.Inspect(agent, tool, &rate, &t.rp, &t.rule, &t.spike, func(rec *record.Record, v baseline.RateVerdict) map[string]any {
		m := d.spikeFinding(rec, &k, v).Details
		delete(m, "permissions_denied")
		return m
	})
	if ts != nil {
		b.Parts = append(b.Parts, detect.BaselinePart{Name: "novelty", Values: map[string]any{
			"denied_types": len(ts.types), "denied_actions": len(ts.actions), "records": ts.calls,
			"since": time.Unix(ts.since, 0).UTC().Format(time.RFC3339),
		}})
	}
	return b, true
}
