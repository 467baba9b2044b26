package latency

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

var _ detect.ToolQuantiler = (*Detector)(nil)

// ToolQuantiles reports the tool-level baseline (all agents, newest
// version) of tool, for the status page. ok is false for an unknown tool.
// Single goroutine, like Observe.
func (d *Detector) ToolQuantiles(tool string) (q baseline.Quantiles, ok bool) {
	s := d.core.PeekTool(tool)
	if s == nil {
		return q, false
	}
	return s.at(s.active).dist.Quantiles(d.core.G), true
}
