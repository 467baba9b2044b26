package outputsize

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector.
func (d *Detector) BaselineKeys() []detect.Key {
	return detect.StoreKeys(d.core.Keys, d.core.Tools)
}

// Inspect implements detect.Inspector: one part with the values a large
// finding's details carry (distdetect.TailDetails), and JudgedBy the
// scope Observe would choose for the key's next output.
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	scope := "agent"
	var st *state
	if agent == "" {
		scope = "tool"
		st = d.core.Tools.Peek(tool)
	} else {
		st = d.core.Keys.Peek(baseline.Key{Agent: agent, Tool: tool})
	}
	if st == nil {
		return detect.Baseline{}, false
	}
	cfg := d.core.Params.For(agent, tool)
	j := judgeOf(cfg)
	need := float64(cfg.MinSamples)
	// Judge then Quantiles, in Observe's order; x = 0 judges nothing.
	v := st.dist.Judge(d.core.G, 0, &j, 0)
	q := st.dist.Quantiles(d.core.G)
	m := distdetect.TailDetails(q, &v, scope)
	delete(m, "p_decades") // of an observation
	m["min_samples"] = cfg.MinSamples
	b := detect.Baseline{Pattern: detect.PatternOutputSize, Agent: agent, Tool: tool, Unit: "bytes",
		Warm:  q.Count >= need,
		Parts: []detect.BaselinePart{{Name: "outputs", Values: m}}}
	switch {
	case b.Warm:
		b.JudgedBy = scope
	case agent != "":
		if ts := d.core.Tools.Peek(tool); ts != nil && ts.dist.Quantiles(d.core.G).Count >= need {
			b.JudgedBy = "tool"
		}
	}
	return b, true
}
