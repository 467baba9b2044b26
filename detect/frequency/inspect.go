package frequency

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

// Inspect implements detect.Inspector. One part per time scale with the
// details a spike finding in the current window would carry (the detector's
// spikeFinding on that scale, without the observation's log10_p) and the
// scale's learned levels; a "profile" part with the mean count per window
// by hour of day (UTC); "loop" and "drop" parts for (agent, tool) keys.
// JudgedBy is the spike baseline ("own" or "tool"), "" while the current
// window is disarmed (warm-up and nothing to borrow).
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	var ks *keyState
	if agent == "" {
		if ts := d.tools.Peek(baseline.Key{Tool: tool}); ts != nil {
			ks = &ts.keyState
		}
	} else {
		ks = d.keys.Peek(baseline.Key{Agent: agent, Tool: tool})
	}
	if ks == nil {
		return detect.Baseline{}, false
	}
	// The key's config as its next record resolves it (a restored or
	// reloaded key may not have resolved it yet).
	k := *ks
	k.t = d.tuned[d.params.For(agent, tool)]
	t, r := k.t, &k.rate
	b := detect.Baseline{Pattern: detect.PatternFrequency, Agent: agent, Tool: tool,
		Unit: "calls/" + ratedetect.WindowName(t.cfg.Window), Warm: r.Warm(&t.rule)}
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
		m["sum"] = v.Sum
		m["seasonal_mean"] = round3(float64(st.Mu))
		m["seasonal_dispersion"] = round3(float64(st.KS))
		m["overall_dispersion"] = round3(float64(st.KA))
		m["armed"] = st.Crit > 0
		b.Parts = append(b.Parts, detect.BaselinePart{Name: t.spike.Windows[i], Values: m})
	}
	hourly := make([]float64, baseline.Slots)
	seen := make([]uint16, baseline.Slots)
	for h := range hourly {
		hourly[h] = round3(float64(r.Profile.Mean[h]))
		seen[h] = r.Profile.Seen[h]
	}
	b.Parts = append(b.Parts, detect.BaselinePart{Name: "profile", Values: map[string]any{
		"hourly_mean": hourly, "hourly_windows": seen, "overall": round3(float64(r.Profile.Overall)),
		"windows": r.Profile.Windows, "first_window": time.Unix(r.First, 0).UTC().Format(time.RFC3339),
	}})
	if agent != "" {
		b.Parts = append(b.Parts,
			detect.BaselinePart{Name: "loop", Values: map[string]any{
				"same_input_peak": round3(float64(k.loop.peak)), "threshold": k.loop.thr,
				"window": ratedetect.WindowName(t.cfg.LoopWindow),
			}},
			detect.BaselinePart{Name: "drop", Values: map[string]any{
				"mean_gap": round3(float64(k.gap.mean)), "peak_gap": round3(float64(k.gap.peak)),
				"gaps": k.gap.n, "dropped": k.gap.dropped,
			}})
	}
	return b, true
}
