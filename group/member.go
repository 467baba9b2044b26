package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Partition is one partition this member runs (a pipeline with its own
// consumer and snapshots), returned by StartFunc.
type Partition interface {
	// Stop stops consuming and returns when the partition is stopped.
	// graceful: the partition is handed over (rebalance, shutdown), so it
	// writes its final snapshot; otherwise its lease was lost to another
	// member, which may already run it, and nothing is written.
	Stop(graceful bool)
}

// StartFunc starts partition p on this member: restore its snapshot and
// consume after its last applied sequence. An error leaves the lease to
// be released and the start retried at a later heartbeat.
type StartFunc func(ctx context.Context, p int) (Partition, error)

// Bucket is the membership KV bucket of group name.
func Bucket(name string) string { return "toolwatch-group-" + name }

// Member keys in the bucket: member.<name> (a heartbeat) and owner.<p>
// (the lease of partition p, value the owner's name). The bucket's max
// age is the lease TTL, so a key not rewritten for that long disappears.
const (
	memberKey = "member."
	ownerKey  = "owner."
)

// OpenBucket opens or creates the membership bucket.
func OpenBucket(ctx context.Context, js jetstream.JetStream, cfg Config, replicas int) (jetstream.KeyValue, error) {
	return openKV(ctx, js, "group bucket", jetstream.KeyValueConfig{
		Bucket:      Bucket(cfg.Name),
		Description: "Toolwatch consumer group members and partition leases",
		TTL:         cfg.LeaseTTL,
	}, replicas)
}

// openKV opens or creates a group bucket c (what names it in the error):
// the latest value per key, on file, on at least one replica; its TTL is
// the keys' max age.
func openKV(ctx context.Context, js jetstream.JetStream, what string, c jetstream.KeyValueConfig, replicas int) (jetstream.KeyValue, error) {
	c.History, c.Storage, c.Replicas = 1, jetstream.FileStorage, max(replicas, 1)
	kv, err := js.CreateOrUpdateKeyValue(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, c.Bucket, err)
	}
	return kv, nil
}

// Member runs one daemon's part of the group: every heartbeat it renews
// its membership key and its leases, reads the live members, and starts
// the partitions rendezvous hashing gives it (once their lease is free)
// and hands over those it should no longer own.
type Member struct {
	kv    jetstream.KeyValue
	cfg   Config
	name  string
	start StartFunc
	log   zerolog.Logger

	joined     chan struct{} // closed after the first heartbeat
	joinedOnce sync.Once

	mu    sync.Mutex
	owned map[int]*held
}

type held struct {
	rev       uint64 // lease revision
	part      Partition
	releasing bool
	done      chan struct{} // closed when a release finished
}

// NewMember returns a member named name of the group in kv.
func NewMember(kv jetstream.KeyValue, cfg Config, name string, start StartFunc, log zerolog.Logger) *Member {
	return &Member{kv: kv, cfg: cfg, name: name, start: start, log: log.With().Str("component", "group").Str("member", name).Logger(),
		owned: map[int]*held{}, joined: make(chan struct{})}
}

// Joined is closed after the member's first heartbeat: it is listed, and
// it started the free partitions that are its own.
func (m *Member) Joined() <-chan struct{} { return m.joined }

// Owned returns the partitions this member runs, sorted.
func (m *Member) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, 0, len(m.owned))
	for p, h := range m.owned {
		if !h.releasing {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Run takes part in the group until ctx is cancelled, then stops its
// partitions gracefully (final snapshots), releases their leases and its
// membership, and returns.
func (m *Member) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Heartbeat)
	defer t.Stop()
	for {
		m.beat(ctx)
		m.joinedOnce.Do(func() { close(m.joined) })
		select {
		case <-ctx.Done():
			m.leave()
			return nil
		case <-t.C:
		}
	}
}

func (m *Member) beat(ctx context.Context) {
	rctx, cancel := m.request(ctx)
	defer cancel()
	if _, err := m.kv.Put(rctx, memberKey+m.name, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		m.log.Warn().Err(err).Msg("membership heartbeat failed")
	}
	m.renew(ctx)
	members, err := m.members(rctx)
	if err != nil {
		m.log.Warn().Err(err).Msg("cannot list group members; assignments unchanged")
		return
	}
	for p := range m.cfg.Partitions {
		want := Owner(members, p) == m.name
		m.mu.Lock()
		h, have := m.owned[p]
		m.mu.Unlock()
		switch {
		case have && !want && !h.releasing:
			m.release(p, h)
		case !have && want && ctx.Err() == nil:
			if m.acquire(ctx, p) {
				// Restoring a big snapshot takes a while; keep the other
				// leases fresh between two starts.
				m.renew(ctx)
			}
		}
	}
}

// request bounds one round of KV requests: they may take longer than a
// heartbeat on a loaded server, but must end well within the lease.
func (m *Member) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.LeaseTTL/3)
}

// members lists the live members (keys not expired), sorted.
func (m *Member) members(ctx context.Context) ([]string, error) {
	kl, err := m.kv.ListKeysFiltered(ctx, memberKey+"*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []string{m.name}, nil
		}
		return nil, err
	}
	var out []string
	for k := range kl.Keys() {
		out = append(out, strings.TrimPrefix(k, memberKey))
	}
	if !slices.Contains(out, m.name) {
		out = append(out, m.name) // our heartbeat failed; we are still here
	}
	slices.Sort(out)
	return out, nil
}

// renew rewrites every held lease at its revision. A lease that cannot be
// renewed because its revision moved was taken over (it expired while this
// member was stalled): that partition stops at once, without a snapshot.
func (m *Member) renew(parent context.Context) {
	ctx, cancel := m.request(parent)
	defer cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, h := range m.owned {
		rev, err := m.kv.Update(ctx, ownerKey+strconv.Itoa(p), []byte(m.name), h.rev)
		if err == nil {
			h.rev = rev
			continue
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			// Transient (timeout, no quorum): the lease may still be ours;
			// try again next heartbeat.
			m.log.Warn().Err(err).Int("partition", p).Msg("lease renewal failed")
			continue
		}
		// The revision moved. An earlier renewal that timed out on our
		// side may have been applied: the lease still names us (only
		// this member writes its name), so it is ours at the new revision.
		if e, gerr := m.kv.Get(ctx, ownerKey+strconv.Itoa(p)); gerr == nil && string(e.Value()) == m.name {
			h.rev = e.Revision()
			continue
		} else if gerr != nil && !errors.Is(gerr, jetstream.ErrKeyNotFound) {
			m.log.Warn().Err(gerr).Int("partition", p).Msg("lease renewal failed")
			continue
		}
		m.log.Error().Int("partition", p).Msg("lease lost to another member (this member stalled past lease_ttl); partition stopped without snapshot")
		delete(m.owned, p)
		if !h.releasing {
			go h.part.Stop(false)
		}
	}
}

// acquire takes partition p's lease if it is free and starts it; it
// reports whether it started.
func (m *Member) acquire(ctx context.Context, p int) bool {
	rctx, cancel := m.request(ctx)
	defer cancel()
	rev, err := m.kv.Create(rctx, ownerKey+strconv.Itoa(p), []byte(m.name))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			m.log.Warn().Err(err).Int("partition", p).Msg("lease request failed")
		}
		return false // held by its previous owner until it hands over or expires
	}
	part, err := m.start(ctx, p)
	if err != nil {
		m.log.Error().Err(err).Int("partition", p).Msg("partition failed to start; lease released")
		dctx, cancel := m.request(context.WithoutCancel(ctx))
		defer cancel()
		_ = m.kv.Delete(dctx, ownerKey+strconv.Itoa(p), jetstream.LastRevision(rev))
		return false
	}
	m.mu.Lock()
	m.owned[p] = &held{rev: rev, part: part}
	m.mu.Unlock()
	m.log.Info().Int("partition", p).Msg("partition acquired")
	return true
}

// release hands partition p over: stop it gracefully in the background
// (the lease stays renewed meanwhile), then delete the lease.
func (m *Member) release(p int, h *held) {
	h.releasing = true
	h.done = make(chan struct{})
	m.log.Info().Int("partition", p).Msg("partition moves to another member; handing over")
	go func() {
		defer close(h.done)
		h.part.Stop(true)
		m.mu.Lock()
		rev, still := h.rev, m.owned[p] == h
		delete(m.owned, p)
		m.mu.Unlock()
		if still {
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.LeaseTTL)
			defer cancel()
			if err := m.kv.Delete(ctx, ownerKey+strconv.Itoa(p), jetstream.LastRevision(rev)); err != nil {
				m.log.Warn().Err(err).Int("partition", p).Msg("lease delete failed; it expires after lease_ttl")
			}
		}
	}()
}

// leave stops every partition gracefully, concurrently, and deletes the
// leases and the membership key, so the others take over at once.
func (m *Member) leave() {
	m.mu.Lock()
	var wait []chan struct{}
	for p, h := range m.owned {
		if !h.releasing {
			m.release(p, h)
		}
		wait = append(wait, h.done)
	}
	m.mu.Unlock()
	for _, c := range wait {
		<-c
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.LeaseTTL)
	defer cancel()
	_ = m.kv.Delete(ctx, memberKey+m.name)
}
