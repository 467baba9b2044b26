package baseline

// Spike mechanics shared by the detectors that count events per (agent,
// tool) window against a Rate (frequency, denials): arming a window from
// the key's own or a borrowed baseline, and the finding of a spike. They run once per window or per
// finding, never on the per-record path.

import (
	"fmt"
	"math"
	"time"

	"github.com/toolwatch/toolwatch/alert"
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
	Windows [MaxScales]string
	// Summary is a fmt format applied to (tool, count, window, agent,
	// expected count).
	Summary string
	Size    int64 // window length in seconds
}

// Report returns the SpikeReport of c for pattern, counting noun ("calls")
// per window, with summary as SpikeReport.Summary.
func (c *SpikeConfig) Report(pattern, noun, summary string) SpikeReport {
	rep := SpikeReport{Pattern: pattern, Noun: noun, Summary: summary, Size: c.RateParams().Size}
	rep.Windows[0] = WindowName(c.Window)
	for i, w := range c.LongWindows {
		if i+1 < MaxScales {
			rep.Windows[i+1] = WindowName(w)
		}
	}
	return rep
}

// ArmSpike arms r's current window: from r's own baseline when r is warm
// under s; else from borrow's (a related key's, e.g. its tool's) when that
// is warm, its levels divided by per's expected count for the slot (at
// least 1; per nil divides by 1), e.g. the active agents per window; else
// it disarms the window.
func (r *Rate) ArmSpike(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile) {
	switch {
	case r.Warm(s):
		r.Arm(s, rp, r, 1)
	case borrow != nil && borrow.Warm(s):
		div := 1.0
		if per != nil {
			div, _, _ = per.Expect(HourSlot(borrow.Start), 0)
		}
		r.Arm(s, rp, borrow, div)
	default:
		r.Arm(s, rp, nil, 1)
	}
}

// RearmSpike is ArmSpike for a window already armed (after a config
// change). A window already reported keeps its escalation level, so it is
// not reported twice.
func (r *Rate) RearmSpike(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile) {
	rep, next := r.Reported, r.Next
	r.ArmSpike(s, rp, borrow, per)
	if rep > 0 && r.Thr > 0 && r.Thr <= rep {
		r.Reported, r.Next = rep, max(next, r.Thr)
	}
}

// source names the baseline r's thresholds came from.
func (r *Rate) source() string {
	if r.Borrowed {
		return "tool"
	}
	return "own"
}

// SpikeFinding is the "spike" finding of rec, whose event made r's current
// window reach a report level and whose Judge verdict is v. Score:
// score.FromDecades(v.Decades + prior). Details: window (the scale that
// crossed), expected, threshold (its critical sum), log10_p, dispersion,
// peak, windows, baseline ("own" or "tool") and window_start; the caller
// may add its own.
func (r *Rate) SpikeFinding(rec *record.Record, rep *SpikeReport, v RateVerdict, prior float64) alert.Finding {
	st := &r.Sc[v.Scale]
	w := rep.Windows[v.Scale]
	f := alert.Finding{
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
			"baseline":     r.source(),
			"window_start": time.Unix(r.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(rec)
	return f
}

// roundMilli rounds v to 3 decimals (finding details).
func roundMilli(v float64) float64 { return math.Round(v*1000) / 1000 }
