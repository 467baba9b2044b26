package app

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/snapshot"
)

// restore builds the pipeline from the newest valid snapshot chain (a
// base and the deltas after it), returning
// the stream sequence to resume after. With no usable snapshot it returns
// a fresh pipeline, sequence 0 (the stream is replayed to rebuild the
// baselines) and rebuilt = true. A store that cannot be read at all is an
// error: the daemon never starts silently with empty baselines.
func restore(ctx context.Context, cfg *config.Config, nc *nats.Conn, reg prometheus.Registerer, log zerolog.Logger, now func() time.Time) (p *pipeline.Pipeline, mg *snapshot.Manager, resumeAfter uint64, rebuilt bool, err error) {
	if p, err = pipeline.Build(cfg, now); err != nil {
		return nil, nil, 0, false, fmt.Errorf("build detectors: %w", err)
	}
	if !cfg.Snapshot.Enabled {
		log.Warn().Msg("snapshots are disabled: baselines are rebuilt from the stream on every start")
		return p, nil, 0, true, nil
	}
	var js jetstream.JetStream
	if cfg.Snapshot.Store == snapshot.StoreNATS {
		if js, err = jetstream.New(nc); err != nil {
			return nil, nil, 0, false, fmt.Errorf("snapshot store: %w", err)
		}
	}
	store, err := snapshot.Open(ctx, cfg.Snapshot, js, cfg.Ingest.Replicas)
	if err != nil {
		return nil, nil, 0, false, fmt.Errorf("open snapshot store: %w", err)
	}
	mg = snapshot.NewManager(store, snapshot.NewMetrics(reg), log, Version)
	mg.SetChain(cfg.Snapshot.FullEvery, cfg.Snapshot.MaxDeltaRatio)
	p, resumeAfter, rebuilt, err = load(ctx, cfg, mg, log, now)
	if err != nil {
		return nil, nil, 0, false, err
	}
	return p, mg, resumeAfter, rebuilt, nil
}

// load restores the newest valid snapshot chain (a base and its deltas) of
// mg into a pipeline built from cfg, as restore says.
func load(ctx context.Context, cfg *config.Config, mg *snapshot.Manager, log zerolog.Logger, now func() time.Time) (p *pipeline.Pipeline, resumeAfter uint64, rebuilt bool, err error) {
	deltas := 0
	snap, source, problems, err := mg.Load(ctx, func(s *snapshot.Snapshot, ds []*snapshot.Delta) error {
		fresh, err := pipeline.Build(cfg, now)
		if err != nil {
			return err
		}
		links := make([]pipeline.Link, len(ds))
		for i, d := range ds {
			links[i] = pipeline.Link{Whole: d.Whole, Changes: d.Changes}
		}
		missing, err := fresh.UnmarshalChain(s.Sections, links)
		if err != nil {
			return err
		}
		deltas = len(ds)
		for _, d := range missing {
			log.Warn().Str("detector", d).Msg("snapshot has no state for this detector (enabled since?); it starts learning now")
		}
		p = fresh
		return nil
	})
	switch {
	case err == nil:
		log.Info().Str("source", source).Int("deltas", deltas).Uint64("last_applied_seq", snap.LastAppliedSeq).
			Time("watermark", snap.Watermark).Time("created_at", snap.CreatedAt).
			Msg("baselines restored from snapshot; resuming after its sequence")
		return p, snap.LastAppliedSeq, false, nil
	case snapshot.IsNoSnapshot(err):
		if len(problems) > 0 {
			log.Error().Int("problems", len(problems)).Msg("no usable snapshot: rebuilding baselines by replaying the stream")
		} else {
			log.Info().Msg("no snapshot yet: learning baselines from the whole stream")
		}
		if p, err = pipeline.Build(cfg, now); err != nil {
			return nil, 0, false, fmt.Errorf("build detectors: %w", err)
		}
		return p, 0, true, nil
	default:
		return nil, 0, false, fmt.Errorf("load snapshot: %w", err)
	}
}
