package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// Patterns (the alert pattern names of docs/design.md §5).
const (
	PatternFrequency    = detect.PatternFrequency
	PatternInputNovelty = detect.PatternInputNovelty
	PatternDenialSpike  = detect.PatternDenialSpike
	PatternOutputSize   = detect.PatternOutputSize
	PatternLatency      = detect.PatternLatency
)

// Kinds of injected behaviour.
const (
	KindAgentLoop  = "agent_loop"  // Multiplier × the (agent, tool) mean rate
	KindSameInput  = "same_input"  // one input_hash PerMinute times a minute
	KindShape      = "shape"       // Count calls with input shape Shape
	KindDenial     = "denial"      // Count calls denied Permission
	KindOutputSize = "output_size" // Count calls returning ~Value bytes
	KindLatency    = "latency"     // Count calls taking ~Value ms

	// Realistic profile: moderate, sustained changes.
	KindRate         = "rate"          // the key's own rate × Multiplier (extra calls)
	KindTaskRate     = "task_rate"     // the key's rate × Multiplier as extra tasks of ~Count calls each, 1–20 s apart
	KindDenialSpike  = "denial_spike"  // the key's routine denials of Permission × Multiplier
	KindLatencyShift = "latency_shift" // the key's normal calls take × Value (3: shift up; 0.01: collapse to ~1 ms)
	KindOutputShift  = "output_shift"  // the key's normal outputs × Value (0.002: collapse toward zero)
	KindDrop         = "drop"          // the key's normal calls stop while its agent keeps working
)

// Anomaly is one labeled injected anomaly: the ground truth.
type Anomaly struct {
	ID, Pattern, AgentID, Tool string
	Start, End                 time.Time
	Description                string
	// Kind is what was injected (KindAgentLoop, KindDrop, ...).
	Kind string `json:",omitempty"`
	// Detail names the finding expected from the detector where one
	// applies ("spike", "drop", "level_shift", "loop", "new_permission",
	// "large", "slow"); informational, not required by the scoring.
	Detail string `json:",omitempty"`
	// Sustained marks a change that lasts (shift, drop, rate): a detector
	// may also flag the return to normal, up to Duration after End.
	Sustained bool `json:",omitempty"`
}

// AnomalySpec describes an anomaly to inject; Plan gives it its time.
type AnomalySpec struct {
	Pattern, Kind string
	AgentID, Tool string
	Duration      time.Duration
	Count         int     // shape, denial, output_size, latency: calls in the window
	Multiplier    float64 // agent_loop
	PerMinute     float64 // same_input
	Shape         string  // shape
	Permission    string  // denial: the denied "type:action"
	Value         float64 // output_size: bytes; latency: ms; *_shift: factor
	Description   string
	// Realistic profile:
	Detail  string // expected finding detail (Anomaly.Detail)
	Daytime bool   // place the window on a weekday 08:00–18:00 UTC
}

// DefaultAnomalies are the anomalies injected by default: several of each
// pattern, on different agents and tools, in the shapes operators think in
// (CONTEXT.md).
func DefaultAnomalies() []AnomalySpec {
	return []AnomalySpec{
		{Pattern: PatternFrequency, Kind: KindAgentLoop, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Duration: 15 * time.Minute, Multiplier: 80,
			Description: "prompt-injected loop: customer-lookup called ×80 its usual rate"},
		{Pattern: PatternFrequency, Kind: KindAgentLoop, AgentID: "coding-agent-prod-01", Tool: "web-search", Duration: 12 * time.Minute, Multiplier: 60,
			Description: "agent loop: web-search called ×60 its usual rate"},
		{Pattern: PatternFrequency, Kind: KindAgentLoop, AgentID: "analytics-agent-prod-01", Tool: "file-reader", Duration: 18 * time.Minute, Multiplier: 100,
			Description: "exfiltration-like loop: file-reader called ×100 its usual rate"},
		{Pattern: PatternFrequency, Kind: KindSameInput, AgentID: "analytics-agent-prod-01", Tool: "db-query", Duration: 10 * time.Minute, PerMinute: 60,
			Description: "same-input loop: one db-query input repeated 60 times a minute"},
		{Pattern: PatternFrequency, Kind: KindSameInput, AgentID: "billing-agent-prod-01", Tool: "send-email", Duration: 10 * time.Minute, PerMinute: 60,
			Description: "same-input loop: the same email sent 60 times a minute"},

		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "analytics-agent-prod-01", Tool: "db-query", Duration: 5 * time.Minute, Count: 8, Shape: "text/sql-injection",
			Description: "SQL-injection-like text input at db-query"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "billing-agent-prod-01", Tool: "db-query", Duration: 4 * time.Minute, Count: 6, Shape: "json{limit:num,query:str/sql-injection}",
			Description: "SQL-injection-like query field at db-query"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "support-agent-prod-01", Tool: "summarize", Duration: 3 * time.Minute, Count: 5, Shape: "binary",
			Description: "binary input at a text tool"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "billing-agent-prod-01", Tool: "customer-lookup", Duration: 5 * time.Minute, Count: 6, Shape: "json{customer_id:str,export_all:bool,fields:str}",
			Description: "brand-new JSON shape at a closed-vocabulary tool"},

		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "support-agent-prod-02", Tool: "summarize", Duration: 5 * time.Minute, Count: 20, Permission: "network:connect",
			Description: "summarize suddenly attempting network connections (never before), production"},
		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "coding-agent-prod-01", Tool: "file-reader", Duration: 8 * time.Minute, Count: 30, Permission: "filesystem:write",
			Description: "file-reader suddenly attempting filesystem writes, production"},
		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "billing-agent-prod-01", Tool: "crm-update", Duration: 5 * time.Minute, Count: 40, Permission: "data_access:write",
			Description: "burst of data_access denials at crm-update"},

		{Pattern: PatternOutputSize, Kind: KindOutputSize, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Duration: 2 * time.Minute, Count: 3, Value: 100e6,
			Description: "~1 KB tool returning ~100 MB"},
		{Pattern: PatternOutputSize, Kind: KindOutputSize, AgentID: "analytics-agent-prod-01", Tool: "vector-search", Duration: 5 * time.Minute, Count: 10, Value: 750e3,
			Description: "vector-search output ×50 its p99"},
		{Pattern: PatternOutputSize, Kind: KindOutputSize, AgentID: "support-agent-prod-02", Tool: "calendar", Duration: 3 * time.Minute, Count: 4, Value: 5e6,
			Description: "calendar returning ~5 MB instead of ~1 KB"},

		{Pattern: PatternLatency, Kind: KindLatency, AgentID: "support-agent-prod-02", Tool: "crm-update", Duration: 5 * time.Minute, Count: 8, Value: 30000,
			Description: "~250 ms tool taking ~30 s"},
		{Pattern: PatternLatency, Kind: KindLatency, AgentID: "billing-agent-prod-01", Tool: "customer-lookup", Duration: 4 * time.Minute, Count: 6, Value: 30000,
			Description: "~200 ms tool taking ~30 s (hidden network calls)"},
		{Pattern: PatternLatency, Kind: KindLatency, AgentID: "analytics-agent-prod-01", Tool: "vector-search", Duration: 5 * time.Minute, Count: 10, Value: 6000,
			Description: "vector-search ×20 its p99"},
	}
}

// planned is an anomaly with its injection parameters.
type planned struct {
	Anomaly
	spec  AnomalySpec
	agent int // index into the topology
	tool  int
}

// Plan returns the anomalies Generate injects for cfg, sorted by Start: the
// labeled ground truth. Specs naming an agent or tool missing from the
// topology, or not in cfg.Patterns, are left out. Anomalies are spread
// evenly over [start+WarmUp, end) in a seed-shuffled order, one per slot,
// never inside the nightly batch hour of 01:45–02:45.
func Plan(cfg Config) []Anomaly {
	ps := plan(cfg.withDefaults())
	out := make([]Anomaly, len(ps))
	for i := range ps {
		out[i] = ps[i].Anomaly
	}
	return out
}

func plan(cfg Config) []planned {
	if cfg.NoAnomalies {
		return nil
	}
	if cfg.Profile == ProfileRealistic {
		return planRealistic(cfg, newSchedule(cfg))
	}
	agents, tools := cfg.index()
	var specs []AnomalySpec
	for _, s := range cfg.Anomalies {
		_, okA := agents[s.AgentID]
		_, okT := tools[s.Tool]
		if okA && okT && cfg.wants(s.Pattern) {
			specs = append(specs, s)
		}
	}
	from := cfg.Start.Add(cfg.WarmUp)
	end := cfg.Start.Add(cfg.Duration)
	if len(specs) == 0 || !from.Before(end) {
		return nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xA11A))
	order := rng.Perm(len(specs))
	slot := end.Sub(from) / time.Duration(len(specs))
	out := make([]planned, 0, len(specs))
	counts := map[string]int{}
	for si, i := range order {
		s := specs[i]
		if s.Duration <= 0 || s.Duration > slot/2 {
			continue // does not fit its slot
		}
		slotStart := from.Add(time.Duration(si) * slot)
		free := slot - s.Duration
		start := slotStart.Add(time.Duration(float64(free) * (0.1 + 0.5*rng.Float64()))).Truncate(time.Second)
		start = avoidBatch(start, slotStart, slotStart.Add(free))
		counts[s.Pattern]++
		out = append(out, planned{
			Anomaly: Anomaly{
				ID:      fmt.Sprintf("%s-%d", s.Pattern, counts[s.Pattern]),
				Pattern: s.Pattern, AgentID: s.AgentID, Tool: s.Tool,
				Start: start, End: start.Add(s.Duration), Description: s.Description, Kind: s.Kind,
			},
			spec: s, agent: agents[s.AgentID], tool: tools[s.Tool],
		})
	}
	sortPlanned(out)
	return out
}

// avoidBatch moves a start inside 01:45–02:45 UTC to 02:45 (or, if that
// leaves the slot, to the slot's start), so anomalies do not overlap the
// nightly burst.
func avoidBatch(t, earliest, latest time.Time) time.Time {
	day := t.Truncate(24 * time.Hour)
	lo, hi := day.Add(105*time.Minute), day.Add(165*time.Minute)
	if t.Before(lo) || !t.Before(hi) {
		return t
	}
	if !hi.After(latest) {
		return hi
	}
	return earliest
}

func sortPlanned(ps []planned) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Start.Before(ps[j-1].Start); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
