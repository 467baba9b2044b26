// Package logsink writes one structured zerolog line per alert, at info
// level, with the alert's fields as log fields (no raw record contents).
package logsink

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

// Notifier logs alerts. It implements sink.Notifier and never fails.
type Notifier struct {
	log zerolog.Logger
}

// New logs to log with component=sink, sink=log.
func New(log zerolog.Logger) *Notifier {
	return &Notifier{log: log.With().Str("component", "sink").Str("sink", "log").Logger()}
}

// NewSink wraps a Notifier in its own queue, so logging never blocks the
// producer.
func NewSink(log zerolog.Logger, opts sink.QueueOptions) *sink.Queue {
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 64
	}
	return sink.NewQueue(New(log), opts)
}

// Name implements sink.Notifier.
func (n *Notifier) Name() string { return "log" }

// Notify writes one line per alert.
func (n *Notifier) Notify(_ context.Context, alerts ...alert.Alert) (bool, error) {
	for _, a := range alerts {
		ev := n.log.Info().
			Str("alert_id", a.ID).
			Str("fingerprint", a.Fingerprint).
			Str("status", a.Status).
			Str("pattern", a.Pattern).
			Str("severity", a.Severity).
			Float64("score", a.Score).
			Str("agent_id", a.AgentID).
			Str("tool", a.Tool)
		if a.ToolVersion != "" {
			ev = ev.Str("tool_version", a.ToolVersion)
		}
		if a.Environment != "" {
			ev = ev.Str("environment", a.Environment)
		}
		ev = ev.Float64("observed", a.Observed).
			Float64("expected", a.Expected).
			Str("unit", a.Unit).
			Str("summary", a.Summary).
			Time("event_time", a.EventTime).
			Time("starts_at", a.StartsAt)
		if a.EndsAt != nil {
			ev = ev.Time("ends_at", *a.EndsAt)
		}
		ev = ev.Str("trace_id", a.TraceID).Str("span_id", a.SpanID)
		if a.TaskID != "" {
			ev = ev.Str("task_id", a.TaskID)
		}
		if a.TraceURL != "" {
			ev = ev.Str("trace_url", a.TraceURL)
		}
		if a.RunbookURL != "" {
			ev = ev.Str("runbook_url", a.RunbookURL)
		}
		ev.Msg("alert")
	}
	return false, nil
}
