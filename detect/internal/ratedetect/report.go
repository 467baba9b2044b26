// Package ratedetect is what the detectors that count events per (agent,
// tool) window against a baseline.Rate (frequency, denial_spike) share
// beyond baseline's statistics: per-key config resolution (Tuning: each
// config's derived constants, resolved by generation after SetParams), the
// snapshot record of the windows a Rate was counted in and the check a
// restore makes against it, the spike defaults, the per-scale parts of
// their Inspect and the wording of a spike as a finding. The statistics
// (windows, thresholds, arming from an own or borrowed baseline, the
// verdict) stay in baseline, which knows nothing of records or findings;
// each detector keeps its own scoring beyond the spike, its key state, its
// ticks and its snapshot record. Everything here runs once per finding,
// per configuration or per key resolution, never on the per-record path
// beyond a pointer and a stamp compare.
package ratedetect

import (
	"fmt"
	"math"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// WindowName formats d as "5m", "1h", "30s".
func WindowName(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// SpikeReport is how a detector words the findings of its Rate spikes.
// Build it once per configuration (SpikeConfig.Report).
type SpikeReport struct {
	Pattern string // alert pattern of the findings
	Noun    string // what is counted, e.g. "calls"
	// Windows names each scale, e.g. "5m", "1h".
	Windows [baseline.MaxScales]string
	// Summary is a fmt format applied to (tool, count, window, agent,
	// expected count).
	Summary string
	Size    int64 // window length in seconds
}

// Report returns the SpikeReport of c for pattern, counting noun ("calls")
// per window, with summary as SpikeReport.Summary.
func Report(c *baseline.SpikeConfig, pattern, noun, summary string) SpikeReport {
	rep := SpikeReport{Pattern: pattern, Noun: noun, Summary: summary, Size: c.RateParams().Size}
	rep.Windows[0] = WindowName(c.Window)
	for i, w := range c.LongWindows {
		if i+1 < baseline.MaxScales {
			rep.Windows[i+1] = WindowName(w)
		}
	}
	return rep
}

// SpikeFinding is the "spike" finding of rec, whose event made r's current
// window reach a report level and whose Judge verdict is v. Score:
// score.FromDecades(v.Decades + prior). Details: window (the scale that
// crossed), expected, threshold (its critical sum), log10_p, dispersion,
// peak, windows, baseline ("own" or "tool") and window_start; the caller
// may add its own.
func SpikeFinding(r *baseline.Rate, rec *record.Record, rep *SpikeReport, v baseline.RateVerdict, prior float64) detect.Finding {
	st := &r.Sc[v.Scale]
	w := rep.Windows[v.Scale]
	f := detect.Finding{
		Pattern:  rep.Pattern,
		Detail:   "spike",
		Score:    score.FromDecades(v.Decades + prior),
		Observed: float64(v.Sum),
		Expected: v.Expected,
		Unit:     rep.Noun + "/" + w,
		Summary:  fmt.Sprintf(rep.Summary, rec.Tool.Name, v.Sum, w, rec.AgentID, v.Expected),
		Details: map[string]any{
			"window":       w,
			"expected":     roundMilli(v.Expected),
			"threshold":    st.Crit,
			"log10_p":      roundMilli(-v.Decades),
			"dispersion":   roundMilli(float64(max(st.KS, st.KA))),
			"peak":         roundMilli(float64(st.Peak)),
			"windows":      r.Windows,
			"baseline":     source(r),
			"window_start": time.Unix(r.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(rec)
	return f
}

// source names the baseline r's thresholds came from.
func source(r *baseline.Rate) string {
	if r.Borrowed {
		return "tool"
	}
	return "own"
}

// roundMilli rounds v to 3 decimals (finding details).
func roundMilli(v float64) float64 { return math.Round(v*1000) / 1000 }
