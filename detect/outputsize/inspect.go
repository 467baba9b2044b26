package outputsize

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector.
func (d *Detector) BaselineKeys() []detect.Key {
	return detect.StoreKeys(d.Keys, d.Tools)
}

// Inspect implements detect.Inspector: one part with the values a large
// finding's details carry (distdetect.TailDetails), and JudgedBy the
// scope Observe would choose for the key's next output.
func (d *Detector) Inspect(agent, tool string) (detect.Baseline, bool) {
	scope := "agent"
	var st *state
	if agent == "" {
		scope = "tool"
		st = d.Tools.Peek(tool)
	} else {
		st = d.Keys.Peek(baseline.Key{Agent: agent, Tool: tool})
	}
	if st == nil {
		return detect.Baseline{}, false
	}
	cfg := d.Params.For(agent, tool)
	j := judgeOf(cfg)
	need := float64(cfg.MinSamples)
	// Judge then Quantiles, in Observe's order; x = 0 judges nothing.
	v := st.dist.Judge(d.G, 0, &j, 0)
	q := st.dist.Quantiles(d.G)
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
		if ts := d.Tools.Peek(tool); ts != nil && ts.dist.Quantiles(d.G).Count >= need {
			b.JudgedBy = "tool"
		}
	}
	return b, true
}
