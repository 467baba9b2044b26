package denials

import (
	"math"
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

// Inspect implements detect.Inspector: one part per time scale of the
// denial-rate baseline with the details a spike finding in the current
// window would carry (the detector's spikeFinding, without the
// observation's log10_p and permissions); for a tool also a "novelty"
// part with the denied types and type:action pairs remembered and its
// records. JudgedBy is the spike baseline ("own" or "tool"), "" while the
// window is disarmed.
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	var k keyState
	var ts *toolState
	if agent == "" {
		if ts = d.tools.Peek(baseline.Key{Tool: tool}); ts == nil {
			return detect.Baseline{}, false
		}
		k.rate = ts.rate
	} else {
		ks := d.keys.Peek(baseline.Key{Agent: agent, Tool: tool})
		if ks == nil {
			return detect.Baseline{}, false
		}
		k = *ks
	}
	// The config as the key's next record resolves it.
	k.t = d.tuned[d.params.For(agent, tool)]
	t, r := k.t, &k.rate
	b := detect.Baseline{Pattern: detect.PatternDenialSpike, Agent: agent, Tool: tool,
		Unit: "denials/" + ratedetect.WindowName(t.cfg.Window), Warm: r.Warm(&t.rule)}
	if r.Thr > 0 {
		b.JudgedBy = "own"
		if r.Borrowed {
			b.JudgedBy = "tool"
		}
	}
	var rec record.Record
	rec.AgentID, rec.Tool.Name, rec.Timestamp = agent, tool, time.Unix(r.Start, 0).UTC()
	for i := 0; i < t.rp.Scales; i++ {
		st := &r.Sc[i]
		// The verdict Rate.Judge would give this scale, without its tail.
		v := baseline.RateVerdict{Scale: i, Sum: st.Base + r.N, Expected: math.Max(float64(st.Mu), float64(st.M))}
		m := d.spikeFinding(&rec, &k, v).Details
		delete(m, "log10_p")
		if r.Thr == 0 {
			delete(m, "baseline") // a disarmed window judges nothing
		}
		delete(m, "permissions_denied")
		m["sum"] = v.Sum
		m["armed"] = st.Crit > 0
		b.Parts = append(b.Parts, detect.BaselinePart{Name: t.spike.Windows[i], Values: m})
	}
	if ts != nil {
		b.Parts = append(b.Parts, detect.BaselinePart{Name: "novelty", Values: map[string]any{
			"denied_types": len(ts.types), "denied_actions": len(ts.actions), "records": ts.calls,
			"since": time.Unix(ts.since, 0).UTC().Format(time.RFC3339),
		}})
	}
	return b, true
}
