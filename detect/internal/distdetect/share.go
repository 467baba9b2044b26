package distdetect

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
)

// Sharer is implemented by per-key states whose tool-level baseline a
// consumer group shares (detect.ToolSharer): the Dist young keys borrow
// and the tool version it is of ("" when the detector has no versions).
type Sharer interface {
	SharedDist() (version string, d *baseline.Dist)
}

// sharedTool is a tool's view over all partitions: this partition's tool
// baseline as of the last SetSharedTools merged with the others' sketches
// of the same version.
type sharedTool struct {
	version string
	dist    *baseline.Dist
}

// Tool sketch encoding: uvarint len(version) | version | baseline.DistSketch.
const maxVersionLen = 256

// ToolSketches implements detect.ToolSharer over the tool-level store.
func (c *Core[C, V, P]) ToolSketches(emit func(tool string, sketch []byte)) {
	c.Tools.Range(func(tool string, v *V) bool {
		sh, ok := any(P(v)).(Sharer)
		if !ok {
			return false
		}
		c.advance(v)
		version, d := sh.SharedDist()
		if d == nil || d.Count() == 0 || len(version) > maxVersionLen {
			return true
		}
		s := d.Sketch(c.G)
		b := binary.AppendUvarint(nil, uint64(len(version)))
		b = append(b, version...)
		b, _ = s.AppendBinary(b)
		emit(tool, b)
		return true
	})
}

// DecodeToolSketch decodes one tool sketch (fuzzed).
func DecodeToolSketch(b []byte) (version string, s baseline.DistSketch, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxVersionLen || uint64(len(b)-k) < n {
		return "", s, errors.New("tool sketch: bad version length")
	}
	version = string(b[k : k+int(n)])
	if err := s.UnmarshalBinary(b[k+int(n):]); err != nil {
		return "", s, fmt.Errorf("tool sketch: %w", err)
	}
	return version, s, nil
}

// SetSharedTools implements detect.ToolSharer. A tool's view is of the
// version of this partition's own tool baseline, or, for a tool this
// partition has not seen, of the version with the most values elsewhere;
// sketches of other versions are left out.
func (c *Core[C, V, P]) SetSharedTools(others map[string][][]byte) error {
	views := make(map[string]sharedTool, len(others))
	var errs []error
	for tool, list := range others {
		versions := make([]string, 0, len(list))
		sks := make([]baseline.DistSketch, 0, len(list))
		for _, b := range list {
			v, s, err := DecodeToolSketch(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("tool %q: %w", tool, err))
				continue
			}
			versions, sks = append(versions, v), append(sks, s)
		}
		var local *baseline.Dist
		version, found := "", false
		if v := c.PeekTool(tool); v != nil {
			if sh, ok := any(P(v)).(Sharer); ok {
				if ver, d := sh.SharedDist(); d != nil && d.Count() > 0 {
					version, local, found = ver, d, true
				}
			}
		}
		if !found {
			weight := map[string]float64{}
			best := -1.0
			for i, v := range versions {
				weight[v] += sks[i].Count()
				if w := weight[v]; w > best || w == best && v < version {
					version, best = v, w
				}
			}
		}
		keep := sks[:0]
		for i, v := range versions {
			if v == version {
				keep = append(keep, sks[i])
			}
		}
		if len(keep) == 0 {
			continue // nothing to add to the partition's own baseline
		}
		if d := baseline.SharedDist(c.G, local, keep); d != nil {
			views[tool] = sharedTool{version: version, dist: d}
		}
	}
	c.shared = views
	return errors.Join(errs...)
}

// Sharing reports whether a group view is installed (one compare on a
// young key's record; always false in a single daemon).
func (c *Core[C, V, P]) Sharing() bool { return c.shared != nil }

// JudgeShared judges x (log y) against the group's view of tool at
// version, if it has at least need values: the baseline a young key
// borrows in group mode. conv converts cfg to its judge.
func (c *Core[C, V, P]) JudgeShared(tool, version string, x, y float64, cfg *C, conv func(*C) baseline.Judge, need float64) (q baseline.Quantiles, v baseline.Verdict, j baseline.Judge, ok bool) {
	s, found := c.shared[tool]
	if !found || s.version != version {
		return q, v, j, false
	}
	if q = s.dist.Quantiles(c.G); q.Count < need {
		return q, v, j, false
	}
	j = *c.JudgeFor(cfg, conv)
	return q, s.dist.JudgeLog(c.G, x, y, &j, 0), j, true
}
