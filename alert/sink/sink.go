// Package sink delivers alerts to their receivers (docs/design.md §5, §8 `sinks`).
//
// The design follows Alertmanager's notify package and Prometheus' notifier:
// a receiver implementation only knows how to talk to its receiver and
// whether a failure is worth retrying (Notifier); everything else is generic
// and lives here. Each receiver target gets its own bounded Queue and
// goroutine, so one dead receiver never delays another; the producer never
// blocks (a full queue drops its oldest alert, counts and logs it); failed
// deliveries are retried with exponential backoff and jitter when the
// notifier says so. A receiver that asks not to be called (PauseError, a
// webhook's 410 Gone) pauses its queue, holding its alerts, until a retry
// interval passes or Resume (any reload). A NotificationLog (package nflog)
// lets a queue skip alert ids its target delivered before a crash.
// Implementations live in sub-packages: alertmanager, webhook, natsink,
// logsink, and the notification log nflog.
package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toolwatch/toolwatch/alert"
)

// Notifier delivers a batch of alerts to one receiver target. It reports
// whether a failed delivery is worth retrying (5xx: yes, 4xx: no); the retry
// loop stays generic. Notify must honour ctx cancellation.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, alerts ...alert.Alert) (retry bool, err error)
}

// Sink is what the daemon hands alerts to. Send never blocks; Close flushes
// what is queued, giving up when ctx is done.
type Sink interface {
	Name() string
	Send(alerts ...alert.Alert)
	Close(ctx context.Context) error
}

// RetryAfterError carries a receiver's request to wait (HTTP Retry-After)
// before the next attempt. A Notifier returns it wrapped or bare; the retry
// loop waits at least After (capped by QueueOptions.MaxRetryAfter).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// PauseError says the receiver asked not to be called any more (HTTP 410
// Gone): the queue keeps the batch and everything behind it (bounded, the
// oldest dropped and counted when full), makes no attempt for After, and
// tries again then or as soon as Resume is called (any configuration
// reload), whichever comes first. Pauses do not count against MaxAttempts
// or RetryFor: the alerts are held, never failed.
type PauseError struct {
	After time.Duration
	Err   error
}

func (e *PauseError) Error() string {
	return fmt.Sprintf("%v (paused for %s or until reload)", e.Err, e.After)
}

func (e *PauseError) Unwrap() error { return e.Err }

// NotificationLog remembers which alert emissions (ids) each sink target
// has delivered, across restarts (Alertmanager's nflog): a Queue with one
// skips an alert already delivered to it and logs each one it delivers.
// After a crash the daemon re-applies the records since its last snapshot
// and regenerates the same deterministic ids; the log keeps them from
// being delivered twice. Errors are counted by the caller and never stop a
// delivery (at least once beats at most once).
type NotificationLog interface {
	Delivered(ctx context.Context, sink string, a *alert.Alert) (bool, error)
	Log(ctx context.Context, sink string, a *alert.Alert) error
}

// Resumer is a sink that can be told to end a pause at once.
type Resumer interface {
	Resume()
}

// retryAfter returns the delay requested by err, if any.
func retryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After, true
	}
	return 0, false
}

// MarshalAlert renders the alert's wire JSON without a trailing newline,
// with the same encoder as replay output (alert.MarshalJSONLine), so every
// sink and `detector replay` emit identical bytes for one alert.
func MarshalAlert(a alert.Alert) ([]byte, error) {
	b := alert.MarshalJSONLine(&a, nil)
	return b[:len(b)-1], nil
}
