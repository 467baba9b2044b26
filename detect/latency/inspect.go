package latency

import (
	"math"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector.
func (d *Detector) BaselineKeys() []detect.Key {
	return detect.StoreKeys(d.core.Keys, d.core.Tools)
}

// Inspect implements detect.Inspector: one part per version slot (the
// newest first) with the values a slow finding's details carry
// (distdetect.TailDetails; threshold at a call of the slot's version),
// and JudgedBy the scope Observe would choose for a call of the newest
// version. A relearning slot's reference also reports threshold_relearn,
// its threshold widened by relearn_factor.
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	scope, prevScope := ScopeAgent, ScopeAgentPrevVersion
	var st *state
	if agent == "" {
		scope, prevScope = ScopeTool, ScopeToolPrevVersion
		st = d.core.Tools.Peek(tool)
	} else {
		st = d.core.Keys.Peek(baseline.Key{Agent: agent, Tool: tool})
	}
	if st == nil {
		return detect.Baseline{}, false
	}
	cfg := d.core.Params.For(agent, tool)
	j := judgeOf(cfg)
	b := detect.Baseline{Pattern: detect.PatternLatency, Agent: agent, Tool: tool, Unit: "ms"}
	cur, ref := st.at(st.active), st.at(1-st.active)
	for _, s := range []*slot{cur, ref} {
		if !s.used {
			continue
		}
		// Judge then Quantiles, in Observe's order; x = 0 judges nothing.
		v := s.dist.Judge(d.core.G, 0, &j, 0)
		q := s.dist.Quantiles(d.core.G)
		m := distdetect.TailDetails(q, &v, scope)
		delete(m, "p_decades") // of an observation
		m["version"] = s.version
		m["usable"] = s.usable(q, cfg)
		m["relearning"] = s.relearn
		m["min_samples"] = cfg.MinSamples
		if s.relearn {
			m["min_samples"] = cfg.RelearnSamples
		}
		if s == ref && cur.relearn {
			w := s.dist.Judge(d.core.G, 0, &j, math.Log(cfg.RelearnFactor))
			m["threshold_relearn"] = math.Round(w.Threshold())
			m["baseline_scope"] = prevScope
		}
		name := "version " + s.version
		if s.version == "" {
			name = "unversioned"
		}
		b.Parts = append(b.Parts, detect.BaselinePart{Name: name, Values: m})
	}
	b.Warm = cur.usable(cur.dist.Quantiles(d.core.G), cfg)
	switch {
	case b.Warm:
		b.JudgedBy = scope
	case agent != "" && d.toolUsable(tool, cfg):
		b.JudgedBy = ScopeTool
	case cur.relearn && ref.usable(ref.dist.Quantiles(d.core.G), cfg):
		b.JudgedBy = prevScope
	}
	return b, true
}

// toolUsable reports whether tool's newest slot can judge a key's calls.
func (d *Detector) toolUsable(tool string, cfg *Config) bool {
	ts := d.core.Tools.Peek(tool)
	if ts == nil {
		return false
	}
	s := ts.at(ts.active)
	return s.usable(s.dist.Quantiles(d.core.G), cfg)
}
