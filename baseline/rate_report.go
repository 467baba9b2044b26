package baseline

// Spike mechanics shared by the detectors that count events per (agent,
// tool) window against a Rate (frequency, denials): arming a window from
// the key's own or a borrowed baseline, and the findings of a spike and of
// a reported window's final count. They run once per window or per
// finding, never on the per-record path.

import (
	"fmt"
	"math"
	"time"

	"github.com/toolwatch/toolwatch/alert"
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
	Unit    string // noun per window, e.g. "calls/5m"
	Window  string // the window, e.g. "5m"
	// Summary is a fmt format applied to (tool, count, window, agent,
	// expected count).
	Summary   string
	Size      int64   // window length in seconds
	Neighbour float64 // neighbour weight of the slot expectation
}

// Report returns the SpikeReport of c for pattern, counting noun ("calls")
// per window, with summary as SpikeReport.Summary.
func (c *SpikeConfig) Report(pattern, noun, summary string) SpikeReport {
	w := WindowName(c.Window)
	return SpikeReport{
		Pattern:   pattern,
		Unit:      noun + "/" + w,
		Window:    w,
		Summary:   summary,
		Size:      c.RateParams().Size,
		Neighbour: c.NeighbourWeight,
	}
}

// ArmSpike arms r's current window: from r's own baseline when that is
// warm under s; else from borrow's (a related key's, e.g. its tool's) when
// that is warm, its expectation and peak divided by per's expected count
// for borrow's slot (at least 1; per nil divides by 1), e.g. the active
// agents per window; else it disarms the window.
func (r *Rate) ArmSpike(s *SpikeRule, borrow *Rate, per *Profile) {
	exp, peak, warm := r.Own(s)
	if warm {
		r.Arm(s.Threshold(exp, peak), exp, false)
		return
	}
	if borrow != nil {
		if bexp, bpeak, bwarm := borrow.Own(s); bwarm {
			if per != nil {
				n, _, _ := per.Expect(HourSlot(borrow.Start), 0)
				n = math.Max(n, 1)
				bexp, bpeak = bexp/n, bpeak/n
			}
			r.Arm(s.Threshold(bexp, bpeak), bexp, true)
			return
		}
	}
	r.Arm(0, exp, false)
}

// RearmSpike is ArmSpike for a window already armed (after a config
// change). A window already reported keeps its escalation level, so it is
// not reported twice.
func (r *Rate) RearmSpike(s *SpikeRule, borrow *Rate, per *Profile) {
	rep, next := r.Reported, r.Next
	r.ArmSpike(s, borrow, per)
	if rep > 0 && r.Thr > 0 && r.Thr <= rep {
		r.Reported, r.Next = rep, max(next, r.Thr)
	}
}

// source names the baseline r's threshold came from.
func (r *Rate) source() string {
	if r.Borrowed {
		return "tool"
	}
	return "own"
}

// SpikeFinding is the "spike" finding of rec, whose event made r's current
// window reach its next report level (Hit). Details: expected, threshold,
// hour_slot, slot_peak, slot_windows, windows, baseline ("own" or "tool")
// and window_start; the caller may add its own.
func (r *Rate) SpikeFinding(rec *record.Record, rep *SpikeReport) alert.Finding {
	n, exp := float64(r.N), float64(r.Exp)
	slot := HourSlot(r.Start)
	_, peak, seen := r.Profile.Expect(slot, rep.Neighbour)
	f := alert.Finding{
		Pattern:  rep.Pattern,
		Detail:   "spike",
		Score:    Score(n, exp),
		Observed: n,
		Expected: exp,
		Unit:     rep.Unit,
		Summary:  fmt.Sprintf(rep.Summary, rec.Tool.Name, r.N, rep.Window, rec.AgentID, exp),
		Details: map[string]any{
			"expected":     roundMilli(exp),
			"threshold":    r.Thr,
			"hour_slot":    slot,
			"slot_peak":    roundMilli(peak),
			"slot_windows": seen,
			"windows":      r.Windows,
			"baseline":     r.source(),
			"window_start": time.Unix(r.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(rec)
	return f
}

// CloseFinding is the "spike" finding of the final count of window cl,
// which Roll just closed and Unreported reported as grown since its last
// report; it clears that report level. It carries no trace ids (no single
// record caused it) and its event time is the window's end.
func (r *Rate) CloseFinding(agent, tool string, cl Closed, rep *SpikeReport) alert.Finding {
	r.Reported = 0
	n, exp := float64(cl.N), float64(r.Exp)
	return alert.Finding{
		Pattern:  rep.Pattern,
		Detail:   "spike",
		Score:    Score(n, exp),
		AgentID:  agent,
		Tool:     tool,
		Observed: n,
		Expected: exp,
		Unit:     rep.Unit,
		Summary:  fmt.Sprintf(rep.Summary, tool, cl.N, rep.Window, agent, exp),
		Details: map[string]any{
			"expected":     roundMilli(exp),
			"threshold":    r.Thr,
			"hour_slot":    HourSlot(cl.Start),
			"baseline":     r.source(),
			"window_start": time.Unix(cl.Start, 0).UTC().Format(time.RFC3339),
			"window_final": true,
		},
		EventTime: time.Unix(cl.Start+rep.Size, 0).UTC(),
	}
}

// roundMilli rounds v to 3 decimals (finding details).
func roundMilli(v float64) float64 { return math.Round(v*1000) / 1000 }
