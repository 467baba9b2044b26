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
// tool and agent match the globs (path.Match syntax; "" matches all, and
// the all-agents baseline has agent ""), read through each detector's
// detect.Inspector, sorted by tool, agent and the detectors' order. With
// limit > 0 only the first limit are inspected and returned; matched is
// the number of keys that matched. A malformed glob is an error.
// Single-goroutine, like Handle: about 6 µs per baseline (BENCHMARKS.md).
func (p *Pipeline) Baselines(toolGlob, agentGlob string, limit int) (bs []detect.Baseline, matched int, err error) {
	for _, g := range []string{toolGlob, agentGlob} {
		if _, err := path.Match(g, ""); err != nil {
			return nil, 0, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	match := func(glob, s string) bool {
		ok, _ := path.Match(glob, s)
		return glob == "" || ok
	}
	type hit struct {
		key detect.Key
		det int
		in  detect.Inspector
	}
	var hits []hit
	for i, d := range p.eng.Detectors() {
		in, ok := d.(detect.Inspector)
		if !ok {
			continue
		}
		for _, k := range in.BaselineKeys() {
			if match(toolGlob, k.Tool) && match(agentGlob, k.Agent) {
				hits = append(hits, hit{k, i, in})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.key.Tool, b.key.Tool), cmp.Compare(a.key.Agent, b.key.Agent), cmp.Compare(a.det, b.det))
	})
	matched = len(hits)
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	bs = make([]detect.Baseline, 0, len(hits))
	for _, h := range hits {
		if b, ok := h.in.Inspect(h.key.Agent, h.key.Tool); ok {
			finite(&b)
			bs = append(bs, b)
		}
	}
	return bs, matched, nil
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
