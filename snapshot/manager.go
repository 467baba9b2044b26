package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Manager saves snapshots to a Store and restores the newest valid one,
// with metrics and log lines. Save and Load may be called from any one
// goroutine at a time.
type Manager struct {
	store   Store
	m       *Metrics
	log     zerolog.Logger
	version string
	now     func() time.Time
}

// NewManager returns a Manager over store; m nil creates unregistered
// metrics; version is written into each snapshot (informational).
func NewManager(store Store, m *Metrics, log zerolog.Logger, version string) *Manager {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Manager{
		store:   store,
		m:       m,
		log:     log.With().Str("component", "snapshot").Str("store", store.String()).Logger(),
		version: version,
		now:     time.Now,
	}
}

// Save encodes s (CreatedAt and Version filled in when empty) and stores
// it. A failure is logged and counted here; the previous snapshot stays.
func (mg *Manager) Save(ctx context.Context, s *Snapshot) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = mg.now().UTC()
	}
	if s.Version == "" {
		s.Version = mg.version
	}
	data, err := Encode(s)
	if err == nil {
		err = mg.store.Save(ctx, data)
	}
	if err != nil {
		mg.m.saveFailures.Inc()
		mg.log.Warn().Err(err).Uint64("last_applied_seq", s.LastAppliedSeq).Msg("snapshot save failed; previous snapshot kept")
		return err
	}
	mg.m.saves.Inc()
	mg.m.bytes.Set(float64(len(data)))
	mg.m.lastSuccess.Set(float64(mg.now().UnixNano()) / 1e9)
	mg.log.Debug().Uint64("last_applied_seq", s.LastAppliedSeq).Int("bytes", len(data)).Msg("snapshot saved")
	return nil
}

// Problem is a stored snapshot that could not be used.
type Problem struct {
	Source string
	Reason string // a value of Reasons
	Err    error
}

// Load returns the newest stored snapshot that decodes and that apply
// accepts (apply nil accepts any), with the source it came from.
//
// Each unusable copy is logged ("snapshot unusable; trying the previous
// one") and counted in toolwatch_snapshot_load_failures_total{reason}; an
// apply error counts as reason "state". apply must replace every
// component's state completely, since after its error the next (older)
// snapshot is applied on top.
//
// When no copy is usable, Load returns an error wrapping ErrNoSnapshot:
// with problems when snapshots existed but were all bad (logged at error
// level), without when there were none (a first start). Either way the
// caller rebuilds the baselines by replaying the stream. An error not
// wrapping ErrNoSnapshot means the store could not be read at all (e.g.
// NATS unreachable): retry rather than start with empty baselines.
func (mg *Manager) Load(ctx context.Context, apply func(*Snapshot) error) (*Snapshot, string, []Problem, error) {
	blobs, err := mg.store.Read(ctx)
	if err != nil {
		mg.m.loadFailures.WithLabelValues("io").Inc()
		mg.log.Error().Err(err).Msg("snapshot store unreadable")
		return nil, "", nil, fmt.Errorf("load snapshot: %w", err)
	}
	var problems []Problem
	for i, b := range blobs {
		s, reason, err := mg.try(b, apply)
		if errors.Is(err, ErrFormatV1) {
			// Older copies are older still: one line, then the rebuild.
			problems = append(problems, Problem{Source: b.Source, Reason: reason, Err: err})
			mg.m.loadFailures.WithLabelValues(reason).Inc()
			mg.log.Warn().Err(err).Str("source", b.Source).Str("reason", reason).
				Msg("snapshot from an older toolwatch (gob sections) refused; the baselines are rebuilt by replaying the stream")
			break
		}
		if err != nil {
			problems = append(problems, Problem{Source: b.Source, Reason: reason, Err: err})
			mg.m.loadFailures.WithLabelValues(reason).Inc()
			mg.log.Warn().Err(err).Str("source", b.Source).Str("reason", reason).
				Bool("fallback_left", i < len(blobs)-1).Msg("snapshot unusable; trying the previous one")
			continue
		}
		mg.m.restored.Set(1)
		mg.m.bytes.Set(float64(len(b.Data)))
		mg.log.Debug().Str("source", b.Source).Uint64("last_applied_seq", s.LastAppliedSeq).
			Time("watermark", s.Watermark).Time("created_at", s.CreatedAt).Str("version", s.Version).
			Int("sections", len(s.Sections)).Int("bytes", len(b.Data)).Int("skipped", len(problems)).
			Msg("snapshot restored")
		return s, b.Source, problems, nil
	}
	mg.m.restored.Set(0)
	if len(problems) > 0 {
		// The caller logs the decision at error level; this carries the count.
		mg.log.Debug().Int("unusable", len(problems)).Msg("no valid snapshot")
		return nil, "", problems, fmt.Errorf("load snapshot from %s: %w (%d unusable)", mg.store, ErrNoSnapshot, len(problems))
	}
	mg.log.Debug().Msg("no snapshot yet")
	return nil, "", nil, fmt.Errorf("load snapshot from %s: %w", mg.store, ErrNoSnapshot)
}

func (mg *Manager) try(b Blob, apply func(*Snapshot) error) (*Snapshot, string, error) {
	if b.Err != nil {
		return nil, Reason(b.Err), b.Err
	}
	s, err := Decode(b.Data)
	if err != nil {
		return nil, Reason(err), fmt.Errorf("decode %s: %w", b.Source, err)
	}
	if apply != nil {
		if err := apply(s); err != nil {
			return nil, "state", fmt.Errorf("apply %s: %w", b.Source, err)
		}
	}
	return s, "", nil
}

// IsNoSnapshot reports whether err means "nothing usable stored".
func IsNoSnapshot(err error) bool { return errors.Is(err, ErrNoSnapshot) }
