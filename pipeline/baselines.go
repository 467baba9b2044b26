package pipeline

import (
	"cmp"
	"fmt"
	"math"
	"path"
	"slices"

	"github.com/toolwatch/toolwatch/detect"
)

// Baselines returns what the detectors have learned about the keys whose
// tool and agent match the globs (path.Match syntax; "" matches all), read
// through each detector's detect.Inspector, sorted by tool, agent (the
// all-agents baseline, agent "", first) and the detectors' order. A
// malformed glob is an error. Single-goroutine, like Handle.
func (p *Pipeline) Baselines(toolGlob, agentGlob string) ([]detect.Baseline, error) {
	for _, g := range []string{toolGlob, agentGlob} {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	match := func(glob, s string) bool {
		ok, _ := path.Match(glob, s)
		return glob == "" || ok
	}
	var out []detect.Baseline
	order := map[string]int{}
	for i, d := range p.eng.Detectors() {
		in, ok := d.(detect.Inspector)
		if !ok {
			continue
		}
		order[in.Pattern()] = i
		for _, k := range in.BaselineKeys() {
			if !match(toolGlob, k.Tool) || !match(agentGlob, k.Agent) {
				continue
			}
			if b, ok := in.Inspect(k.Agent, k.Tool); ok {
				finite(&b)
				out = append(out, b)
			}
		}
	}
	slices.SortFunc(out, func(a, b detect.Baseline) int {
		return cmp.Or(cmp.Compare(a.Tool, b.Tool), cmp.Compare(a.Agent, b.Agent), cmp.Compare(order[a.Pattern], order[b.Pattern]))
	})
	return out, nil
}

// finite replaces non-finite values (the +Inf threshold of a baseline
// without a tail yet) by nil, which JSON can carry (as null).
func finite(b *detect.Baseline) {
	for _, p := range b.Parts {
		for k, v := range p.Values {
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				p.Values[k] = nil
			}
		}
	}
}
