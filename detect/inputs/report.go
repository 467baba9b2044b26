package inputs

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

var _ detect.ToolShaper = (*Detector)(nil)

// ToolShapes reports how many distinct input shapes tool is known to
// receive (exact set plus the HyperLogLog estimate of overflow shapes), for
// the status page. Single goroutine, like Observe.
func (d *Detector) ToolShapes(tool string) (n int, ok bool) {
	t := d.store.Peek(baseline.Key{Tool: tool})
	if t == nil {
		return 0, false
	}
	return t.set.Len() + int(t.overAll.Estimate()), true
}
