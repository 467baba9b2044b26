package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/group"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/snapshot"
	"github.com/toolwatch/toolwatch/telemetry"
)

// checkGroup says why cfg cannot run as a group member.
func checkGroup(cfg *config.Config) error {
	switch {
	case cfg.Ingest.Mode != ingest.ModeJetStream:
		return errors.New("group.enabled needs ingest.mode jetstream")
	case !cfg.Snapshot.Enabled || cfg.Snapshot.Store != snapshot.StoreNATS:
		return errors.New("group.enabled needs snapshot.enabled with snapshot.store nats: a partition's snapshot must be readable by the member it moves to")
	}
	_, err := group.Transform(cfg.Ingest.Subject, cfg.Group.Partitions)
	return err
}

// groupMember is this daemon as a member of a partitioned consumer group
// (package group): one pipeline per owned partition, each with its own
// durable consumer, applied position and snapshot objects
// (<snapshot.bucket>/<group>/<partition>/). The partitions share the sinks,
// telemetry and compliance view; their handlers are serialised by mu (one
// uncontended lock per record) because telemetry and compliance are
// single-goroutine, so a member applies records at one pipeline's rate and
// the group scales with members.
type groupMember struct {
	cfg        *config.Config
	nc         *nats.Conn
	store      *snapshot.ObjectStore
	snapM      *snapshot.Metrics
	ingestM    *ingest.Metrics
	out        *sink.Dispatcher
	tm         *telemetry.Metrics
	cv         *compliance.View
	suppressed prometheus.Counter
	log        zerolog.Logger
	now        func() time.Time

	member string

	owned prometheus.Gauge
	moves *prometheus.CounterVec

	mu   sync.Mutex            // serialises the partitions' handlers
	runs map[int]*partitionRun // running partitions, under mu

	share *toolShare // nil: group.share_interval 0
}

// partitions returns the running partitions' numbers.
func (g *groupMember) partitions() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	ps := make([]int, 0, len(g.runs))
	for p := range g.runs {
		ps = append(ps, p)
	}
	return ps
}

// lockedHandler is a partition's worker behind the member's lock.
type lockedHandler struct {
	mu *sync.Mutex
	w  *worker
}

func (h lockedHandler) HandleMessage(m *ingest.Message) ingest.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.w.HandleMessage(m)
}

func (h lockedHandler) Idle(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w.Idle(now)
}

// partitionRun is one running partition.
type partitionRun struct {
	g      *groupMember
	p      int
	w      *worker
	cancel context.CancelFunc
	done   chan error
}

// Stop implements group.Partition.
func (r *partitionRun) Stop(graceful bool) {
	r.g.mu.Lock()
	delete(r.g.runs, r.p)
	r.g.mu.Unlock()
	r.cancel()
	if err := <-r.done; err != nil {
		r.w.log.Warn().Err(err).Msg("partition consumer stopped with an error")
	}
	reason := "released"
	if graceful {
		r.w.finalSnapshot()
	} else {
		reason = "lost"
		r.w.saves.Wait()
	}
	r.g.owned.Dec()
	r.g.moves.WithLabelValues(reason).Inc()
}

// start implements group.StartFunc: restore partition p's snapshot and
// consume its records after the snapshot's sequence.
func (g *groupMember) start(ctx context.Context, p int) (group.Partition, error) {
	pcfg := *g.cfg
	prefix := g.cfg.Ingest.Consumer + "-" + g.cfg.Group.Name + "-p" + strconv.Itoa(p) + "-"
	pcfg.Ingest.Consumer = prefix + g.member
	pcfg.Ingest.Subject = group.Filter(g.cfg.Ingest.Subject, p)
	pcfg.Ingest.CreateStream = false
	log := g.log.With().Int("partition", p).Logger()
	mg := snapshot.NewManager(g.store.Sub(g.cfg.Group.Name+"/"+strconv.Itoa(p)+"/"), g.snapM, log, Version)
	mg.SetChain(pcfg.Snapshot.FullEvery, pcfg.Snapshot.MaxDeltaRatio)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	pl, resumeAfter, rebuilt, err := load(rctx, &pcfg, mg, log, g.now)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", p, err)
	}
	w := newWorker(&pcfg, pl, g.out, g.tm, g.cv, log.With().Str("component", "pipeline").Logger(), g.now)
	w.snaps, w.snapEvery, w.suppressed = mg, pcfg.Snapshot.Interval, g.suppressed
	w.rebuilt, w.reseed = rebuilt, rebuilt
	if !rebuilt {
		w.lastSnap = g.now()
	}
	prior, err := g.takeOver(ctx, prefix, pcfg.Ingest.Consumer)
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", p, err)
	}
	consumer, err := ingest.New(g.nc, pcfg.Ingest, ingest.Options{
		Prior: prior, PriorKnown: true,
		Log: log, Metrics: g.ingestM, IdleAfter: pcfg.Time.IdleAdvance,
		Resume: true, ResumeAfter: resumeAfter,
		// A new owner's first pull can reach the cluster before the new
		// durable's leader serves it; ingest pulls again on the 503 or
		// after 2 missed 1s heartbeats (design.md §3, pull stalls).
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d consumer: %w", p, err)
	}
	w.consumer, w.syncPoint = consumer, true
	if g.share != nil {
		g.share.install(p, w, g.share.s.Others(p)) // the group's view from the first record
	}
	runCtx, stop := context.WithCancel(context.Background())
	r := &partitionRun{g: g, p: p, w: w, cancel: stop, done: make(chan error, 1)}
	g.mu.Lock()
	g.runs[p] = r
	g.mu.Unlock()
	go func() { r.done <- consumer.Run(runCtx, lockedHandler{mu: &g.mu, w: w}) }()
	g.owned.Inc()
	g.moves.WithLabelValues("acquired").Inc()
	return r, nil
}

// takeOver prepares the partition's durable for this member. Each owner
// consumes through a durable of its own (prefix + member): the previous
// owners' durables are deleted here, which fences off one that lost its
// lease while stalled (it cannot ack or receive anything more), and the
// highest of their ack floors is returned as the position a previous
// owner processed (ingest.Options.Prior).
func (g *groupMember) takeOver(ctx context.Context, prefix, own string) (prior uint64, err error) {
	js, err := jetstream.New(g.nc)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := js.Stream(rctx, g.cfg.Ingest.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", g.cfg.Ingest.Stream, err)
	}
	var names []string
	l := s.ConsumerNames(rctx)
	for n := range l.Name() {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	if err := l.Err(); err != nil {
		return 0, fmt.Errorf("list consumers of %s: %w", g.cfg.Ingest.Stream, err)
	}
	for _, n := range names {
		c, err := s.Consumer(rctx, n)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("consumer %s: %w", n, err)
		}
		prior = max(prior, c.CachedInfo().AckFloor.Stream)
		if n == own {
			continue // ingest recreates it at the snapshot's position
		}
		if err := s.DeleteConsumer(rctx, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return 0, fmt.Errorf("delete the previous owner's consumer %s: %w", n, err)
		}
	}
	return prior, nil
}

// runGroup runs the daemon as a group member until ctx is cancelled; the
// caller has connected, built the sinks and telemetry, and closes them.
func runGroup(ctx context.Context, opts Options, cfg *config.Config, nc *nats.Conn, reg prometheus.Registerer, gatherer prometheus.Gatherer,
	out *sink.Dispatcher, tm *telemetry.Metrics, dm *daemonMetrics, info Info, log zerolog.Logger, now func() time.Time) error {
	defer closeSinks(out, log)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("group: %w", err)
	}
	member := cfg.Group.Member
	if member == "" {
		if member, err = os.Hostname(); err != nil {
			return fmt.Errorf("group.member is empty and the host name is unknown: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.Ingest.CreateStream {
		if added, err := group.EnsureStream(sctx, js, cfg.Ingest.StreamConfig(), cfg.Group.Partitions); err != nil {
			return err
		} else if added {
			log.Info().Str("stream", cfg.Ingest.Stream).Int("partitions", cfg.Group.Partitions).
				Msg("stream partitions records by agent_id from now on (records stored before belong to no partition)")
		}
	}
	store, err := snapshot.OpenObjectStore(sctx, js, cfg.Snapshot.Bucket, cfg.Ingest.Replicas)
	if err != nil {
		return err
	}
	kv, err := group.OpenBucket(sctx, js, cfg.Group, cfg.Ingest.Replicas)
	if err != nil {
		return err
	}
	g := &groupMember{
		cfg: cfg, nc: nc, store: store, snapM: snapshot.NewMetrics(reg), ingestM: ingest.NewMetrics(reg),
		out: out, tm: tm, cv: compliance.New(reg, compliance.Config{}), suppressed: dm.suppressed,
		log: log, now: now, member: member, runs: map[int]*partitionRun{},
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_group_partitions_owned",
			Help: "Partitions of the consumer group this member runs.",
		}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_group_partition_changes_total",
			Help: "Partitions this member started (acquired), handed over with a final snapshot (released) or stopped after its lease was taken (lost).",
		}, []string{"change"}),
	}
	reg.MustRegister(g.owned, g.moves)
	for _, c := range []string{"acquired", "released", "lost"} {
		g.moves.WithLabelValues(c)
	}
	if cfg.Group.ShareInterval > 0 {
		skv, err := group.OpenSketchBucket(sctx, js, cfg.Group, cfg.Ingest.Replicas)
		if err != nil {
			return err
		}
		g.share = newToolShare(g, group.NewSharer(skv, cfg.Group.ShareMaxAge, now, log), reg)
	}
	m := group.NewMember(kv, cfg.Group, member, g.start, log)

	var httpSrv *http.Server
	if cfg.Metrics.Enabled {
		var addr string
		httpSrv, addr, err = serveHTTP(cfg.Metrics, groupMux(cfg.Metrics, reg, gatherer, nc, m), log)
		if err != nil {
			return err
		}
		info.HTTPAddr = addr
	}
	dm.reloadSuccess.Set(1)
	dm.reloadTime.Set(float64(now().Unix()))

	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if g.share != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := g.share.s.Watch(runCtx); err != nil {
				log.Warn().Err(err).Msg("tool sketch sharing stopped: tool baselines stay per partition")
			}
		}()
		go func() {
			defer wg.Done()
			g.share.run(runCtx, cfg.Group.ShareInterval)
		}()
		select { // the others' sketches before the first partition starts
		case <-g.share.s.Synced():
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		refuseReloads(runCtx, opts.Reload)
	}()
	notifyStarted(runCtx, &wg, m.Joined(), opts.Started, info)
	if d, ok := cfg.Detectors.Lookup("chain_integrity"); ok && d.Section.On() {
		log.Warn().Msg("chain_integrity runs per partition: a producer whose hash chain spans agents in several partitions shows gaps; use one chain per agent, or disable the detector in group mode (docs/design.md §3a)")
	}
	log.Info().Str("group", cfg.Group.Name).Str("member", member).Int("partitions", cfg.Group.Partitions).Msg("joining the consumer group")
	runErr := m.Run(ctx) // returns after handing over every partition
	stopRun()
	wg.Wait()
	shutdownHTTP(httpSrv)
	log.Info().Msg("left the consumer group; stopped")
	return runErr
}

// refuseReloads answers reload requests: a group member applies a new
// configuration on restart only (its partitions' pipelines are not
// reconfigured in place yet).
func refuseReloads(ctx context.Context, reqs <-chan chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-reqs:
			c <- errors.New("reload is not supported with group.enabled: restart the member (its partitions move and come back)")
		}
	}
}

// groupMux serves metrics and health; the status page, baselines and
// triage endpoints are per pipeline and not served by a group member.
func groupMux(cfg config.MetricsConfig, reg prometheus.Registerer, gatherer prometheus.Gatherer, nc *nats.Conn, m *group.Member) *http.ServeMux {
	mux := baseMux(cfg, reg, gatherer)
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		select {
		case <-m.Joined():
		default:
			rw.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(rw, "not ready: not joined the consumer group yet\n")
			return
		}
		if !nc.IsConnected() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(rw, "not ready: not connected to NATS\n")
			return
		}
		fmt.Fprintf(rw, "ready: partitions %v\n", m.Owned())
	})
	return mux
}
