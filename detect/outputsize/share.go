package outputsize

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

var _ detect.ToolSharer = (*Detector)(nil)

// ToolSketches implements detect.ToolSharer: each tool-level baseline as
// a t-digest sketch (distdetect).
func (d *Detector) ToolSketches(emit func(tool string, sketch []byte)) { d.core.ToolSketches(emit) }

// SetSharedTools implements detect.ToolSharer: a young key borrows the
// tool's baseline merged over all partitions (as of the last call)
// instead of this partition's own.
func (d *Detector) SetSharedTools(others map[string][][]byte) error {
	return d.core.SetSharedTools(others)
}

// SharedDist implements distdetect.Sharer: its Dist (output sizes have no versions).
func (st *state) SharedDist() (string, *baseline.Dist) {
	return "", &st.dist
}
