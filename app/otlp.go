package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/ingest/otlp"
)

// applyOTLPOverrides applies the --otlp quick-start flag.
func applyOTLPOverrides(cfg *config.Config, opts Options) {
	if opts.OTLP {
		cfg.OTLP.Enabled = true
	}
}

// startOTLP starts the OTLP receiver when `otlp.enabled`: it publishes the
// records of tool-call spans to the stream the consumer reads, so they take
// the one ingest path. It returns nil when the receiver is off.
func startOTLP(cfg *config.Config, nc *nats.Conn, reg prometheus.Registerer, log zerolog.Logger, info *Info) (*otlp.Receiver, error) {
	if !cfg.OTLP.Enabled {
		return nil, nil
	}
	if cfg.Ingest.Mode != ingest.ModeJetStream {
		return nil, errors.New("otlp.enabled needs ingest.mode jetstream: spans are acknowledged only once JetStream stored their records")
	}
	if !otlp.SubjectCovered(cfg.Ingest.Subject, cfg.OTLP.SubjectPrefix) {
		return nil, fmt.Errorf("otlp.subject_prefix %q is not covered by ingest.subject %q: the detector would never see the records",
			cfg.OTLP.SubjectPrefix, cfg.Ingest.Subject)
	}
	r, err := otlp.New(cfg.OTLP, nc, otlp.Options{
		Log:     log.With().Str("component", "otlp").Logger(),
		Metrics: otlp.NewMetrics(reg),
		Limits:  cfg.Limits,
	})
	if err != nil {
		return nil, err
	}
	if err := r.Start(); err != nil {
		return nil, err
	}
	info.OTLPHTTPAddr, info.OTLPGRPCAddr = r.HTTPAddr(), r.GRPCAddr()
	return r, nil
}

// stopOTLP stops accepting spans and lets in-flight requests finish their
// publishes (bounded), before the NATS connection drains.
func stopOTLP(r *otlp.Receiver) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Shutdown(ctx)
}
