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
