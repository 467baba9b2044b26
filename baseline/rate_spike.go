package baseline

// Arming a key's current window from its own or a borrowed baseline,
// shared by the rate detectors (frequency, denial_spike). Once per window,
// never on the per-record path.

// ArmSpike arms r's current window: from r's own baseline when r is warm
// under s; else from borrow's (a related key's, e.g. its tool's) when that
// is warm, its levels divided by per's expected count for the slot (at
// least 1; per nil divides by 1), e.g. the active agents per window, and
// its dispersion multiplied by it (Arm); else it disarms the window.
func (r *Rate) ArmSpike(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile) {
	r.ArmSpikePeaks(s, rp, borrow, per, nil)
}

// ArmSpikePeaks is ArmSpike where a borrowed baseline also brings peaks:
// per scale the recent largest sum one key of it reached (e.g. one
// instance of a tool), which the peak guard takes when larger than the
// borrowed peak divided by per (an evenly spread average understates what
// one instance does when instances are spread unevenly).
func (r *Rate) ArmSpikePeaks(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile, peaks *[MaxScales]float32) {
	switch {
	case r.Warm(s):
		r.Arm(s, rp, r, 1)
	case borrow != nil && borrow.Warm(s):
		div := 1.0
		if per != nil {
			div, _, _ = per.Expect(HourSlot(borrow.Start), 0)
		}
		r.arm(s, rp, borrow, div, peaks)
	default:
		r.Arm(s, rp, nil, 1)
	}
}

// RearmSpike is ArmSpike for a window already armed (after a config
// change). A window already reported keeps its escalation level, so it is
// not reported twice.
func (r *Rate) RearmSpike(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile) {
	r.RearmSpikePeaks(s, rp, borrow, per, nil)
}

// RearmSpikePeaks is RearmSpike with ArmSpikePeaks' peaks.
func (r *Rate) RearmSpikePeaks(s *SpikeRule, rp *RateParams, borrow *Rate, per *Profile, peaks *[MaxScales]float32) {
	rep, next := r.Reported, r.Next
	r.ArmSpikePeaks(s, rp, borrow, per, peaks)
	if rep > 0 && r.Thr > 0 && r.Thr <= rep {
		r.Reported, r.Next = rep, max(next, r.Thr)
	}
}

// Sums returns the sums of r's scales with the current window's count (the
// closed windows as of the window's arming).
func (r *Rate) Sums(rp *RateParams) (s [MaxScales]uint32) {
	for i := 0; i < rp.Scales; i++ {
		s[i] = r.Sc[i].Base + r.N
	}
	return s
}
