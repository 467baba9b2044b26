package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Manager saves snapshots to a Store and restores the newest valid one,
// with metrics and log lines. Save, SaveDelta and Load may be called from
// any one goroutine at a time.
//
// It writes chains: a base (Save), then deltas (SaveDelta) while NeedBase
// is false, that is while the chain has fewer than FullEvery links and
// its deltas add up to at most MaxDeltaRatio of the base. A failed save
// ends the chain (the changes it carried are in no stored link), so the
// next snapshot is a base; so is the first after a start.
type Manager struct {
	store   Store
	m       *Metrics
	log     zerolog.Logger
	version string
	now     func() time.Time

	fullEvery int
	maxRatio  float64
	mu        sync.Mutex
	chain     chainState
}

// chainState is the chain being written.
type chainState struct {
	ok         bool // a base was saved and every link since
	base, last uint64
	baseBytes  int
	deltaBytes int
	links      uint32 // deltas after the base
	lastSeq    uint64
}

// NewManager returns a Manager over store; m nil creates unregistered
// metrics; version is written into each snapshot (informational).
func NewManager(store Store, m *Metrics, log zerolog.Logger, version string) *Manager {
	if m == nil {
		m = NewMetrics(nil)
	}
	d := DefaultConfig()
	return &Manager{
		store:     store,
		m:         m,
		log:       log.With().Str("component", "snapshot").Str("store", store.String()).Logger(),
		version:   version,
		now:       time.Now,
		fullEvery: d.FullEvery,
		maxRatio:  d.MaxDeltaRatio,
	}
}

// SetChain sets the chain limits (Config.FullEvery, MaxDeltaRatio).
func (mg *Manager) SetChain(fullEvery int, maxDeltaRatio float64) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	mg.fullEvery, mg.maxRatio = fullEvery, maxDeltaRatio
}

// NeedBase reports whether the next snapshot must be a base (Save)
// rather than a delta (SaveDelta).
func (mg *Manager) NeedBase() bool {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	c := &mg.chain
	return !c.ok || int(c.links)+1 >= mg.fullEvery || float64(c.deltaBytes) > mg.maxRatio*float64(c.baseBytes)
}

// BreakChain makes the next snapshot a base: call it when a captured
// snapshot is not saved (its encoding failed), since the next delta would
// be relative to it.
func (mg *Manager) BreakChain() {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	mg.chain.ok = false
	mg.m.chainLinks.Set(0)
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
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if err != nil {
		mg.chain.ok = false
		mg.m.saveFailures.Inc()
		mg.log.Warn().Err(err).Uint64("last_applied_seq", s.LastAppliedSeq).Msg("snapshot save failed; previous snapshot kept")
		return err
	}
	id := ID(data)
	mg.chain = chainState{ok: true, base: id, last: id, baseBytes: len(data), lastSeq: s.LastAppliedSeq}
	mg.m.saves.Inc()
	mg.m.bytes.Set(float64(len(data)))
	mg.m.chainLinks.Set(0)
	mg.m.lastSuccess.Set(float64(mg.now().UnixNano()) / 1e9)
	mg.log.Debug().Uint64("last_applied_seq", s.LastAppliedSeq).Int("bytes", len(data)).Msg("snapshot saved")
	// The replaced chains go only now that the new base is durable.
	if err := mg.store.Prune(ctx); err != nil {
		mg.log.Warn().Err(err).Msg("old snapshot deltas not removed; retried after the next base")
	}
	return nil
}

// SaveDelta stores d as the next link of the chain (BaseID, PrevID and
// Index filled in; CreatedAt and Version when empty). With no chain to
// extend (NeedBase without a base) it is an error and nothing is written.
// A failure ends the chain: the next snapshot is a base.
func (mg *Manager) SaveDelta(ctx context.Context, d *Delta) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = mg.now().UTC()
	}
	if d.Version == "" {
		d.Version = mg.version
	}
	mg.mu.Lock()
	c := mg.chain
	mg.mu.Unlock()
	var data []byte
	var err error
	switch {
	case !c.ok:
		err = errors.New("save delta: no base to extend (a base is written next)")
	case d.LastAppliedSeq < c.lastSeq:
		err = fmt.Errorf("save delta: sequence %d before the chain's %d", d.LastAppliedSeq, c.lastSeq)
	default:
		d.BaseID, d.PrevID, d.Index = c.base, c.last, c.links+1
		if data, err = EncodeDelta(d); err == nil {
			err = mg.store.SaveDelta(ctx, c.base, d.Index, data)
		}
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if err != nil {
		mg.chain.ok = false
		mg.m.saveFailures.Inc()
		mg.log.Warn().Err(err).Uint64("last_applied_seq", d.LastAppliedSeq).Msg("snapshot delta save failed; the next snapshot is a base")
		return err
	}
	mg.chain.last, mg.chain.links, mg.chain.lastSeq = ID(data), d.Index, d.LastAppliedSeq
	mg.chain.deltaBytes += len(data)
	mg.m.saves.Inc()
	mg.m.deltaSaves.Inc()
	mg.m.bytes.Set(float64(len(data)))
	mg.m.chainLinks.Set(float64(d.Index))
	mg.m.lastSuccess.Set(float64(mg.now().UnixNano()) / 1e9)
	mg.log.Debug().Uint64("last_applied_seq", d.LastAppliedSeq).Uint32("index", d.Index).Int("bytes", len(data)).Msg("snapshot delta saved")
	return nil
}

// Problem is a stored snapshot that could not be used.
type Problem struct {
	Source string
	Reason string // a value of Reasons
	Err    error
}

// Load returns the newest stored chain that decodes and that apply
// accepts (apply nil accepts any), with the source it came from: its
// base and the deltas after it that follow one another (each names the
// base and its predecessor and does not go back in the stream). The
// returned snapshot is the base with the position (LastAppliedSeq,
// Watermark, CreatedAt) of the last delta applied.
//
// Each unusable copy is logged ("snapshot unusable; trying the previous
// one") and counted in toolwatch_snapshot_load_failures_total{reason}; an
// apply error counts as reason "state". A delta that cannot be used
// (corrupt, missing, out of the chain: reason "chain") ends the chain
// there: the earlier links are applied and the stream replays the rest.
// When apply refuses a chain with deltas, the base alone is tried. apply
// must replace every component's state completely, since after its error
// the next (older) snapshot is applied on top.
//
// When no copy is usable, Load returns an error wrapping ErrNoSnapshot:
// with problems when snapshots existed but were all bad (logged at error
// level), without when there were none (a first start). Either way the
// caller rebuilds the baselines by replaying the stream. An error not
// wrapping ErrNoSnapshot means the store could not be read at all (e.g.
// NATS unreachable): retry rather than start with empty baselines.
func (mg *Manager) Load(ctx context.Context, apply func(*Snapshot, []*Delta) error) (*Snapshot, string, []Problem, error) {
	blobs, err := mg.store.Read(ctx)
	if err != nil {
		mg.m.loadFailures.WithLabelValues("io").Inc()
		mg.log.Error().Err(err).Msg("snapshot store unreadable")
		return nil, "", nil, fmt.Errorf("load snapshot: %w", err)
	}
	var problems []Problem
	problem := func(p Problem, fallback bool) {
		problems = append(problems, p)
		mg.m.loadFailures.WithLabelValues(p.Reason).Inc()
		mg.log.Warn().Err(p.Err).Str("source", p.Source).Str("reason", p.Reason).
			Bool("fallback_left", fallback).Msg("snapshot unusable; trying the previous one")
	}
	for i, b := range blobs {
		s, reason, err := mg.decode(b)
		if errors.Is(err, ErrFormatV1) {
			// Older copies are older still: one line, then the rebuild.
			problems = append(problems, Problem{Source: b.Source, Reason: reason, Err: err})
			mg.m.loadFailures.WithLabelValues(reason).Inc()
			mg.log.Warn().Err(err).Str("source", b.Source).Str("reason", reason).
				Msg("snapshot from an older toolwatch (gob sections) refused; the baselines are rebuilt by replaying the stream")
			break
		}
		if err != nil {
			problem(Problem{Source: b.Source, Reason: reason, Err: err}, i < len(blobs)-1)
			continue
		}
		deltas, bad := mg.readChain(ctx, s, ID(b.Data))
		for _, p := range bad {
			problem(p, true)
		}
		for n := len(deltas); ; n = 0 {
			if apply != nil {
				err = apply(s, deltas[:n])
			}
			if err == nil {
				deltas = deltas[:n]
				break
			}
			src := b.Source
			if n > 0 {
				src = fmt.Sprintf("%s + %d deltas", b.Source, n)
			}
			problem(Problem{Source: src, Reason: "state", Err: fmt.Errorf("apply %s: %w", src, err)}, n > 0 || i < len(blobs)-1)
			if n == 0 {
				break
			}
		}
		if err != nil {
			continue
		}
		size := len(b.Data)
		if n := len(deltas); n > 0 {
			last := deltas[n-1]
			s.LastAppliedSeq, s.Watermark, s.CreatedAt = last.LastAppliedSeq, last.Watermark, last.CreatedAt
		}
		mg.m.restored.Set(1)
		mg.m.bytes.Set(float64(size))
		mg.log.Debug().Str("source", b.Source).Int("deltas", len(deltas)).Uint64("last_applied_seq", s.LastAppliedSeq).
			Time("watermark", s.Watermark).Time("created_at", s.CreatedAt).Str("version", s.Version).
			Int("sections", len(s.Sections)).Int("bytes", size).Int("skipped", len(problems)).
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

// ErrChain is a delta that does not follow the link before it (one is
// missing, or it belongs to another chain).
var ErrChain = errors.New("snapshot delta out of its chain")

func (mg *Manager) readChain(ctx context.Context, s *Snapshot, id uint64) ([]*Delta, []Problem) {
	return ReadChain(ctx, mg.store, s, id)
}

// ReadChain returns the deltas stored in st after base s (ID id) that
// follow one another from the first, as Load applies them; the first
// unusable one ends the chain and is returned as a problem.
func ReadChain(ctx context.Context, st Store, s *Snapshot, id uint64) ([]*Delta, []Problem) {
	blobs, err := st.ReadDeltas(ctx, id)
	if err != nil {
		return nil, []Problem{{Source: st.String(), Reason: "io", Err: err}}
	}
	var out []*Delta
	prev, seq := id, s.LastAppliedSeq
	for _, b := range blobs {
		if b.Err != nil {
			return out, []Problem{{Source: b.Source, Reason: Reason(b.Err), Err: b.Err}}
		}
		d, err := DecodeDelta(b.Data)
		if err != nil {
			return out, []Problem{{Source: b.Source, Reason: Reason(err), Err: fmt.Errorf("decode %s: %w", b.Source, err)}}
		}
		switch {
		case d.BaseID != id || d.PrevID != prev || d.Index != uint32(len(out)+1):
			err = fmt.Errorf("%s: delta %d of base %016x after %016x, expected %d after %016x: %w", b.Source, d.Index, d.BaseID, d.PrevID, len(out)+1, prev, ErrChain)
		case d.LastAppliedSeq < seq:
			err = fmt.Errorf("%s: sequence %d before its predecessor's %d: %w", b.Source, d.LastAppliedSeq, seq, ErrChain)
		}
		if err != nil {
			return out, []Problem{{Source: b.Source, Reason: "chain", Err: err}}
		}
		out = append(out, d)
		prev, seq = ID(b.Data), d.LastAppliedSeq
	}
	return out, nil
}

func (mg *Manager) decode(b Blob) (*Snapshot, string, error) {
	if b.Err != nil {
		return nil, Reason(b.Err), b.Err
	}
	s, err := Decode(b.Data)
	if err != nil {
		return nil, Reason(err), fmt.Errorf("decode %s: %w", b.Source, err)
	}
	return s, "", nil
}

// IsNoSnapshot reports whether err means "nothing usable stored".
func IsNoSnapshot(err error) bool { return errors.Is(err, ErrNoSnapshot) }
