package egress

import (
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector: tools only (vocabularies are
// fleet-wide per tool).
func (d *Detector) BaselineKeys() []detect.Key {
	var ks []detect.Key
	d.tools.Range(func(name string, _ *tool) bool {
		ks = append(ks, detect.Key{Tool: name})
		return true
	})
	return ks
}

// Inspect implements detect.Inspector for agent "": the tool's vocabulary
// (counts only, no destination), its openness and Good–Turing rate, and
// how many of its destinations await triage.
func (d *Detector) Inspect(agent, name string) (detect.Baseline, bool) {
	if agent != "" {
		return detect.Baseline{}, false
	}
	t, seen := d.tools.PeekSeen(name)
	if t == nil {
		return detect.Baseline{}, false
	}
	c := *t
	c.cfg = d.params.For("", name)
	o, rate := c.openness()
	var pending, rejected int
	for k := range d.pending {
		if k.tool == name {
			pending++
		}
	}
	for k := range d.rejected {
		if k.tool == name {
			rejected++
		}
	}
	at := time.Unix(seen, 0).UTC()
	warm := c.calls > uint64(c.cfg.WarmupCalls) && at.UnixNano()-c.first >= int64(c.cfg.WarmupAge)
	b := detect.Baseline{Pattern: Pattern, Tool: name, Unit: "destinations", Warm: warm,
		Parts: []detect.BaselinePart{{Name: "destinations", Values: map[string]any{
			"known_destinations": c.known(),
			"known_domains":      c.set.Len() - int(c.exact),
			"calls":              c.calls,
			"uses":               c.uses,
			"singletons":         c.n1,
			"new_rate":           round3(rate),
			"openness":           round3(o),
			"closed":             o <= 0.5,
			"pending":            pending,
			"rejected":           rejected,
			"as_of":              at.Format(time.RFC3339),
		}}}}
	if warm {
		b.JudgedBy = "tool"
	}
	return b, true
}
