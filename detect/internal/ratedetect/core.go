package ratedetect

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// Tuning is a rate detector's params with each config's derived constants
// T (thresholds, window sizes, report wording: built once per config by
// the derive function given to Set) and the generation under which keys
// resolve them. Keys share the *T of their config, so "did my config
// change" is one pointer compare.
type Tuning[C, T any] struct {
	params *detect.Params[C]
	byCfg  map[*C]*T
	base   *T
	gen    detect.Generation
}

// Set installs validated params p (not modified afterwards), deriving each
// config's T, base first. It does not start a new generation: SetParams
// calls Set and then Reload.
func (tn *Tuning[C, T]) Set(p *detect.Params[C], derive func(*C) *T) {
	tn.params = p
	tn.byCfg = make(map[*C]*T, 1+len(p.Rules))
	tn.base = derive(&p.Base)
	tn.byCfg[&p.Base] = tn.base
	for i := range p.Rules {
		c := &p.Rules[i].Config
		tn.byCfg[c] = derive(c)
	}
}

// Reload starts a new generation: every key re-resolves on its next access.
func (tn *Tuning[C, T]) Reload() { tn.gen.Next() }

// Base is the derived base config.
func (tn *Tuning[C, T]) Base() *T { return tn.base }

// Each calls f with every derived config, base first.
func (tn *Tuning[C, T]) Each(f func(*T)) {
	f(tn.base)
	for i := range tn.params.Rules {
		f(tn.byCfg[&tn.params.Rules[i].Config])
	}
}

// For is the derived config of (agent, tool); agent "" for the tool level.
func (tn *Tuning[C, T]) For(agent, tool string) *T { return tn.byCfg[tn.params.For(agent, tool)] }

// Resolve is For with the stamp the key records.
func (tn *Tuning[C, T]) Resolve(agent, tool string) (*T, detect.Stamp) {
	return tn.For(agent, tool), tn.gen.Stamp()
}

// Stamp is the current generation (a key restored already resolved).
func (tn *Tuning[C, T]) Stamp() detect.Stamp { return tn.gen.Stamp() }

// Current reports whether a key stamped s needs no re-resolving.
func (tn *Tuning[C, T]) Current(s detect.Stamp) bool { return tn.gen.Current(s) }

// SweepDue and Swept: see detect.Generation (the first tick after a
// reload visits every key once, where eager ticks re-resolved it).
func (tn *Tuning[C, T]) SweepDue() bool { return tn.gen.SweepDue() }

// Swept: see SweepDue.
func (tn *Tuning[C, T]) Swept() { tn.gen.Swept() }

// SameScales reports whether a Rate counted under a stays meaningful
// under b (same window and scales).
func SameScales(a, b *baseline.RateParams) bool {
	return a.Size == b.Size && a.Scales == b.Scales && a.N == b.N
}

// SameWindow reports whether a Rate recorded in a snapshot as counted in
// windows of size seconds and scales windows per scale is meaningful under
// rp; a restore resets it otherwise, as SetParams does.
func SameWindow(rp *baseline.RateParams, size int64, scales [baseline.MaxScales]int) bool {
	return rp.Size == size && rp.N == scales
}

// PutWindow writes a snapshot's record of the windows a Rate was counted
// in: varint size, MaxScales × varint windows per scale.
func PutWindow(e *encoding.Encbuf, size int64, scales *[baseline.MaxScales]int) {
	e.PutVarint(size)
	for _, n := range scales {
		e.PutVarint(int64(n))
	}
}

// GetWindow reads what PutWindow wrote.
func GetWindow(d *encoding.Decbuf, size *int64, scales *[baseline.MaxScales]int) {
	*size = d.Varint()
	for i := range scales {
		scales[i] = d.Int()
	}
}

// DefaultSpike is the documented spike defaults both rate detectors ship
// (config.yaml), with the given long windows.
func DefaultSpike(long ...time.Duration) baseline.SpikeConfig {
	return baseline.SpikeConfig{
		Window:             5 * time.Minute,
		LongWindows:        long,
		FalseAlarmRate:     1e-6,
		MinCount:           10,
		PeakRatio:          1.5,
		NeighbourWeight:    0.5,
		Warmup:             24 * time.Hour,
		MinSlotWindows:     6,
		HalfLife:           72 * time.Hour,
		PeakHalfLife:       7 * 24 * time.Hour,
		Hold:               6 * time.Hour,
		BorrowToolBaseline: true,
	}
}

// Inspect is the part of detect.Inspector both rate detectors share: the
// baseline of rate r of (agent, tool) judged by rule, with one part per
// time scale holding the details a spike finding in the current window
// would carry (details, the detector's spike finding's details for a
// synthetic record of the key, without the observation's log10_p; without
// "baseline" while the window is disarmed), the scale's sum and whether it
// is armed. JudgedBy is the spike baseline ("own" or "tool"), "" while the
// window is disarmed (warm-up and nothing to borrow).
func Inspect(agent, tool string, r *baseline.Rate, rp *baseline.RateParams, rule *baseline.SpikeRule, rep *SpikeReport,
	details func(rec *record.Record, v baseline.RateVerdict) map[string]any) detect.Baseline {
	b := detect.Baseline{Pattern: rep.Pattern, Agent: agent, Tool: tool, Unit: rep.Noun + "/" + rep.Windows[0], Warm: r.Warm(rule)}
	if r.Thr > 0 {
		b.JudgedBy = source(r)
	}
	var rec record.Record
	rec.AgentID, rec.Tool.Name, rec.Timestamp = agent, tool, time.Unix(r.Start, 0).UTC()
	for i := 0; i < rp.Scales; i++ {
		st := &r.Sc[i]
		// The verdict Rate.Judge would give this scale, without its tail.
		v := baseline.RateVerdict{Scale: i, Sum: st.Base + r.N, Expected: math.Max(float64(st.Mu), float64(st.M))}
		m := details(&rec, v)
		delete(m, "log10_p")
		if r.Thr == 0 {
			delete(m, "baseline") // a disarmed window judges nothing
		}
		m["sum"] = v.Sum
		m["armed"] = st.Crit > 0
		b.Parts = append(b.Parts, detect.BaselinePart{Name: rep.Windows[i], Values: m})
	}
	return b
}
