package frequency

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
// ratedetect.Inspect (one per time scale) with the scale's learned levels;
// a "profile" part with the mean count per window by hour of day (UTC);
// "loop" and "drop" parts for (agent, tool) keys.
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
	k.t = d.tn.For(agent, tool)
	t, r := k.t, &k.rate
	r.Settle(&t.rp) // the levels with the decay of its quiet windows
	b := ratedetect.Inspect(agent, tool, r, &t.rp, &t.rule, &t.spike, func(rec *record.Record, v baseline.RateVerdict) map[string]any {
		st := &r.Sc[v.Scale]
		m := d.spikeFinding(rec, &k, v).Details
		m["seasonal_mean"] = round3(float64(st.Mu))
		m["seasonal_dispersion"] = round3(float64(st.KS))
		m["overall_dispersion"] = round3(float64(st.KA))
		return m
	})
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
