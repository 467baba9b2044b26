// Package sinks builds the sinks enabled in the `sinks` configuration
// section and fans alerts out to them: the one visible place where sink
// implementations are wired (like Alertmanager's config/receiver).
package sinks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/alert/sink/alertmanager"
	"github.com/toolwatch/toolwatch/alert/sink/logsink"
	"github.com/toolwatch/toolwatch/alert/sink/natsink"
	"github.com/toolwatch/toolwatch/alert/sink/webhook"
)

// Deps are what the sinks need from the daemon.
type Deps struct {
	// NATS is the connection alerts are published on; required when
	// sinks.nats.enabled. Not closed by the sinks.
	NATS *nats.Conn
	// Logger is the daemon's logger; the log sink writes alerts to it.
	Logger zerolog.Logger
	// Metrics are shared by all sinks (register once per process).
	Metrics *sink.Metrics
	// Log is the notification log of the log, NATS and webhook targets
	// (nil: none). Alertmanager deduplicates by itself.
	Log sink.NotificationLog
}

// Build starts every enabled sink (log, nats, alertmanager, webhook, in
// that order). cfg must have passed Validate. On error nothing is left
// running. Close the returned Dispatcher on shutdown or reload.
func Build(cfg sink.Config, deps Deps) (*sink.Dispatcher, error) {
	if deps.Metrics == nil {
		deps.Metrics = sink.NewMetrics(nil)
	}
	qo := sink.QueueOptions{Metrics: deps.Metrics, Logger: deps.Logger, Log: deps.Log}
	var built []sink.Sink
	fail := func(err error) (*sink.Dispatcher, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return nil, errors.Join(err, sink.NewDispatcher(built...).Close(ctx))
	}
	if cfg.Log.Enabled {
		built = append(built, logsink.NewSink(deps.Logger, qo))
	}
	if cfg.NATS.Enabled {
		if deps.NATS == nil {
			return fail(errors.New("sinks.nats: enabled but no NATS connection"))
		}
		built = append(built, natsink.NewSink(deps.NATS, cfg.NATS, qo))
	}
	if cfg.Alertmanager.Enabled {
		am, err := alertmanager.New(cfg.Alertmanager, alertmanager.Options{Metrics: deps.Metrics, Logger: deps.Logger})
		if err != nil {
			return fail(fmt.Errorf("sinks.alertmanager: %w", err))
		}
		built = append(built, am)
	}
	if cfg.Webhook.Enabled {
		wh, err := webhook.New(cfg.Webhook, webhook.Options{Metrics: deps.Metrics, Logger: deps.Logger, Queue: sink.QueueOptions{Log: deps.Log}})
		if err != nil {
			return fail(fmt.Errorf("sinks.webhook: %w", err))
		}
		built = append(built, wh)
	}
	return sink.NewDispatcher(built...), nil
}
