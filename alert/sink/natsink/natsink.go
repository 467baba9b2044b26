// Package natsink publishes each alert's wire JSON (docs/design.md §5) to
// <prefix>.<pattern>.<severity> (default prefix audit.alerts) on a NATS
// connection owned by the caller.
package natsink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

// Notifier publishes alerts. It implements sink.Notifier.
type Notifier struct {
	nc     *nats.Conn
	prefix string
}

// New publishes on nc (not closed by the notifier) under cfg.SubjectPrefix.
func New(nc *nats.Conn, cfg sink.NATSConfig) *Notifier {
	return &Notifier{nc: nc, prefix: strings.TrimSuffix(cfg.SubjectPrefix, ".")}
}

// NewSink wraps a Notifier in its own queue.
func NewSink(nc *nats.Conn, cfg sink.NATSConfig, opts sink.QueueOptions) *sink.Queue {
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 64
	}
	return sink.NewQueue(New(nc, cfg), opts)
}

// Name implements sink.Notifier.
func (n *Notifier) Name() string { return "nats" }

// Subject is the subject an alert is published on. Pattern and severity
// come from fixed sets; any character that is not safe in a subject token
// is replaced by '_' all the same.
func Subject(prefix string, a alert.Alert) string {
	return prefix + "." + token(a.Pattern) + "." + token(a.Severity)
}

func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// Notify publishes each alert. A publish while reconnecting is buffered by
// the client; an overflowing buffer is retryable, a closed connection or a
// bad message is not.
func (n *Notifier) Notify(_ context.Context, alerts ...alert.Alert) (bool, error) {
	for _, a := range alerts {
		data, err := sink.MarshalAlert(a)
		if err != nil {
			return false, err
		}
		subj := Subject(n.prefix, a)
		if err := n.nc.Publish(subj, data); err != nil {
			retry := !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrMaxPayload) &&
				!errors.Is(err, nats.ErrBadSubject)
			return retry, fmt.Errorf("nats sink: publish %s: %w", subj, err)
		}
	}
	return false, nil
}
