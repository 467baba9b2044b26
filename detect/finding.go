package detect

import (
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// Pattern names of the shipped detectors (docs/design.md §5): each is a
// detector's Factory name, its config key, its snapshot section and the
// `pattern` of its alerts. Code that needs the list of patterns loops over
// the registry (detect/registry) instead of these.
const (
	PatternFrequency      = "frequency"
	PatternInputNovelty   = "input_novelty"
	PatternDenialSpike    = "denial_spike"
	PatternOutputSize     = "output_size"
	PatternLatency        = "latency"
	PatternChainIntegrity = "chain_integrity"
	PatternEgress         = "egress"
)

// Finding is what a detector reports: one anomalous observation with its
// evidence. Detectors never decide severity, dedup or delivery; the
// alert.Manager turns findings into alerts. A Finding is built only when
// something is anomalous, so it may allocate (Details).
type Finding struct {
	Pattern string
	// Detail distinguishes findings of one pattern for the same (agent, tool)
	// and is part of the fingerprint: "spike", "loop", an input shape, a
	// denied permission type, "p99" ... Keep it low-cardinality.
	Detail string
	Score  float64 // 0..100, monotone in how anomalous the observation is

	AgentID     string
	Tool        string
	ToolVersion string
	Environment string

	Observed float64
	Expected float64
	Unit     string // "calls/5m", "bytes", "ms", "denials/5m", "shapes" ...
	Summary  string // one human sentence: observed vs expected
	Details  map[string]any

	EventTime time.Time // the record's timestamp, or the window end
	TraceID   string
	SpanID    string
	TaskID    string
}

// FromRecord fills the identity and trace fields of f from r.
func (f *Finding) FromRecord(r *record.Record) {
	f.AgentID = r.AgentID
	f.Tool = r.Tool.Name
	f.ToolVersion = r.Tool.Version
	f.Environment = r.Context.Environment
	f.EventTime = r.Timestamp
	f.TraceID = r.TraceID
	f.SpanID = r.SpanID
	f.TaskID = r.Context.TaskID
}
