// Package alert turns detector findings into alerts (DESIGN §5): a stable
// fingerprint per (pattern, agent, tool, detail), a severity from the
// configured score bands, dedup of repeats inside a cooldown, and a resolve
// once the condition has not been seen for the resolve interval. Sinks that
// deliver alerts live in sub-packages.
package alert

import "time"

// Status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is the wire form of an alert: the webhook body, the NATS alert
// message and one line of `detector replay` output. Field order is the
// JSON order.
type Alert struct {
	ID          string         `json:"id"`
	Fingerprint string         `json:"fingerprint"`
	Status      string         `json:"status"`
	Pattern     string         `json:"pattern"`
	Severity    string         `json:"severity"`
	Score       float64        `json:"score"`
	AgentID     string         `json:"agent_id"`
	Tool        string         `json:"tool"`
	ToolVersion string         `json:"tool_version,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Observed    float64        `json:"observed"`
	Expected    float64        `json:"expected"`
	Unit        string         `json:"unit"`
	Summary     string         `json:"summary"`
	Details     map[string]any `json:"details,omitempty"`
	EventTime   time.Time      `json:"event_time"`
	StartsAt    time.Time      `json:"starts_at"`
	EndsAt      *time.Time     `json:"ends_at,omitempty"`
	TraceID     string         `json:"trace_id"`
	SpanID      string         `json:"span_id"`
	TaskID      string         `json:"task_id,omitempty"`
}
