package inputs

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

var _ detect.Inspector = (*Detector)(nil)

// BaselineKeys implements detect.Inspector: tools only (the vocabulary is
// per tool).
func (d *Detector) BaselineKeys() []detect.Key {
	var ks []detect.Key
	d.store.Range(func(k baseline.Key, _ *tool) bool {
		ks = append(ks, detect.Key{Tool: k.Tool})
		return true
	})
	return ks
}

// Inspect implements detect.Inspector for agent "" (vocabularies are per
// tool). The "shapes" part has the details a finding on the tool carries
// (the detector's finding, openness and stability; the shape itself is not
// stored, only its hash) as of the tool's last record, plus known_shapes
// and new_shape_log10_p, the Good–Turing term of a first-seen shape's
// score before priors, and the long-term reference: its size, openness and
// windows, whether an opening is under way and how many shapes it
// quarantined, and field_pairs: the (field path, type) pairs it knows.
func (d *Detector) Inspect(agent, name string) (detect.Baseline, bool) {
	if agent != "" {
		return detect.Baseline{}, false
	}
	t, seen := d.store.PeekSeen(baseline.Key{Tool: name})
	if t == nil {
		return detect.Baseline{}, false
	}
	cfg := d.params.For("", name)
	c := *t
	c.cfg = cfg
	at := time.Unix(seen, 0).UTC()
	var rec record.Record
	rec.Tool.Name, rec.Timestamp = name, at
	m := d.finding(&c, &rec, "", "", false, 0).Details
	delete(m, "shape")
	delete(m, "class")
	delete(m, "first_seen")
	delete(m, "kind")
	o, rate := c.openness()
	m["openness"] = round3(o)
	m["stability"] = round3(c.stability(at.UnixNano()))
	m["novelty_per_1000"] = round3(rate)
	m["singletons"] = c.n1
	m["known_shapes"] = c.known()
	m["new_shape_log10_p"] = round3(math.Log10((float64(c.n1) + 1) / (float64(c.records) + 1)))
	m["as_of"] = at.Format(time.RFC3339)
	m["reference_openness"] = round3(c.refOpen)
	m["reference_windows"] = c.refWindows
	m["opening"] = c.flood != nil
	if c.flood != nil {
		m["opening_agents"] = c.flood.n
	}
	m["quarantined_shapes"] = c.floodShapes
	m["field_pairs"] = c.fields.Len()
	warm := c.records >= uint64(cfg.WarmupRecords) && at.UnixNano()-c.first >= int64(cfg.WarmupAge)
	b := detect.Baseline{Pattern: d.Pattern(), Tool: name, Unit: "shapes", Warm: warm,
		Parts: []detect.BaselinePart{{Name: "shapes", Values: m}}}
	if warm {
		b.JudgedBy = "tool"
	}
	return b, true
}
