// Package alert turns detector findings into alerts (docs/design.md §5) and owns
// their wire form. Sinks that deliver alerts live in sub-packages.
//
// The Manager runs the lifecycle, in event time only (finding timestamps
// and Tick watermarks; never the wall clock), so a replay yields the same
// alerts, byte for byte, as the live run that saw the same records:
//
//   - Severity: a finding's score maps to the highest band whose lower bound
//     it reaches (bands.info <= score < bands.warning is info, and so on).
//     Below bands.info the finding is dropped and counted.
//   - Fingerprint: 16 hex digits of SHA-256 over (pattern, agent_id, tool,
//     detect.Finding.Detail), each length-prefixed (see Fingerprint).
//   - Fire: a finding whose fingerprint is not firing emits a firing alert;
//     its event time becomes starts_at of the episode.
//   - Fold: a later finding of a firing fingerprint less than cooldown after
//     the fingerprint's last emission, with a severity no higher than the
//     last emitted one, emits nothing: it is counted and its score kept.
//   - Escalate: such a finding with a higher severity emits at once.
//   - Re-emit: a finding at or after cooldown since the last emission emits
//     the firing alert again, with the finding's evidence and severity, the
//     episode's starts_at, and details "repeats" (occurrences folded since
//     the previous emission) and "max_score" (their highest score,
//     including this one) when anything was folded.
//   - Resolve: once a fingerprint has had no finding for resolve_after
//     (watermark >= last occurrence + resolve_after), Tick emits it with
//     status "resolved" and forgets it. Its ends_at and event_time are last
//     occurrence + resolve_after, so they do not depend on tick cadence; it
//     carries the last firing alert's evidence, with "repeats"/"max_score"
//     for occurrences folded since that emission. A finding arriving after
//     that point resolves the old episode itself (if no Tick did) and starts
//     a new one with a new starts_at.
//
// Alert ids are 16 hex digits of SHA-256 over fingerprint, status,
// starts_at, event_time and the emission's sequence number in the episode:
// deterministic and unique per emission. Emission order is the order of
// Add calls; Tick resolves in fingerprint order. Times are UTC.
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
	// SeverityNone labels findings below the info band in Counters; no
	// alert carries it.
	SeverityNone = "none"
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
	// TraceURL and RunbookURL are the links of alerts.trace_url and
	// alerts.runbook_urls, omitted when not configured.
	TraceURL   string `json:"trace_url,omitempty"`
	RunbookURL string `json:"runbook_url,omitempty"`
}
