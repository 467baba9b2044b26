// Package loadbench is `detector bench`: an end-to-end load harness that
// measures, in one run and against one NATS server (embedded, or a given
// server on 127.0.0.1), how fast the daemon consumes compared with the bus
// itself.
//
// The run has four phases:
//
//  1. fill: Records simulated records (tools/sim, realistic traffic over
//     about 30 h of event time ending near now) are published to the
//     daemon's stream with JetStream acks;
//  2. raw: a plain JetStream pull consumer that only acks (Consume, 1,000
//     prefetched, one ack per message) drains the stream: the bus's rate;
//  3. daemon: the real daemon (a `detector run` process, or app.Run
//     in-process) drains the same stream through its ingest and pipeline;
//     its rate is read from its durable's ack floor, polled every 10 ms;
//  4. live: once the daemon has caught up and idled, records are published
//     at Rate (default half the daemon's rate) for Duration, stamped with
//     the wall clock, with an anomaly injected into a few dozen records a
//     second (a production denial, a 50× latency, a 1000× output); every
//     alert that arrives on the NATS sink is matched to its record by
//     span_id, and publish → alert latency is reported as p50/p99/max.
//
// Peak RSS is the daemon process's (getrusage) when it runs as a child, or
// the whole bench process's (VmHWM) in-process. Every phase is bounded by
// Timeout.
package loadbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fastjson"

	"github.com/toolwatch/toolwatch/app"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// Config bounds one bench run. Zero fields take the defaults noted.
type Config struct {
	// Records published before the raw and daemon phases; default 600,000.
	Records int
	// Rate of the live phase in records/s; 0 = half the daemon's rate.
	Rate float64
	// Duration of the live phase; default 10s.
	Duration time.Duration
	// NATSURL of a running server; "" starts an embedded one in Dir.
	NATSURL string
	// AllowRemote permits a NATSURL host other than the loopback.
	AllowRemote bool
	// ConfigPath is the daemon's configuration ("" = built-in defaults);
	// the bench reads the stream, subjects and idle_advance from it.
	ConfigPath string
	// Prefetch of the raw consumer; default 1000.
	Prefetch int
	// Timeout bounds each phase; default 5m.
	Timeout time.Duration
	// Seed of the simulation; default 1.
	Seed uint64
	// Dir holds the embedded server's store and the daemon's data and log;
	// "" makes (and removes) a temporary directory.
	Dir string
	// Daemon starts the detector; nil runs it in-process.
	Daemon Launcher
	// Progress receives one line per phase; nil discards.
	Progress io.Writer

	// Members, when set, replaces the daemon and live phases with one
	// group phase per entry (members.go): the fill drained by that many
	// member processes of one core each. Needs Daemon to be a *Process
	// and the built-in configuration (no ConfigPath).
	Members []int
	// Partitions of the group phases' stream; default 12.
	Partitions int
	// ShareInterval is the members' group.share_interval (0: off).
	ShareInterval time.Duration
}

// Launcher starts the daemon against natsURL with its data and log in dir;
// stop ends it (SIGTERM or cancel) and returns its peak RSS in bytes.
type Launcher interface {
	Start(natsURL, configPath, dir string) (stop func() (peakRSS int64, err error), err error)
	// RSSScope says what the peak RSS covers.
	RSSScope() string
}

// CPUMeter is a Launcher that can read the daemon's CPU time (user +
// system) while it runs: CPU per record is steadier than a rate on a
// loaded machine.
type CPUMeter interface{ CPU() time.Duration }

// Result is what one run measured.
type Result struct {
	Server  string // "embedded" or the URL
	Records int    // records in the stream before the raw and daemon phases

	RawRate    float64   // records/s, ack-only consumer: mean of RawRates
	RawRates   []float64 // before and after the daemon's drain
	DaemonRate float64   // records/s, the daemon's ingest + pipeline
	Ratio      float64   // DaemonRate / RawRate
	// DaemonCPU is the daemon's CPU time per record while it drained the
	// fill (0 when the launcher cannot tell).
	DaemonCPU time.Duration

	LiveRate      float64       // requested live rate
	LivePublished int           // records published in the live phase
	LiveAchieved  float64       // records/s actually published
	LiveFor       time.Duration // length of the live phase
	Alerts        int           // alerts matched to live records
	Unmatched     int           // alerts on the sink not from a live record
	P50, P99, Max time.Duration // publish → alert on the NATS sink

	PeakRSS  int64
	RSSScope string

	Groups []GroupResult // group phases (Config.Members)
}

func (c Config) withDefaults() Config {
	if c.Records <= 0 {
		c.Records = 600_000
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 1000
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Daemon == nil {
		c.Daemon = InProcess{}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Partitions <= 0 {
		c.Partitions = 12
	}
	return c
}

// Run runs the four phases and returns what they measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	proc, isProc := cfg.Daemon.(*Process)
	if len(cfg.Members) > 0 && (!isProc || cfg.ConfigPath != "") {
		return nil, errors.New("bench: --members runs member processes of the built-in configuration: not with --in-process or --config")
	}
	for _, n := range cfg.Members {
		if n < 1 || n > cfg.Partitions {
			return nil, fmt.Errorf("bench: --members %d: must be between 1 and the partitions (%d)", n, cfg.Partitions)
		}
	}
	dcfg, err := app.LoadConfig(app.Options{ConfigPath: cfg.ConfigPath})
	if err != nil {
		return nil, err
	}
	if cfg.ConfigPath != "" {
		if cfg.ConfigPath, err = filepath.Abs(cfg.ConfigPath); err != nil {
			return nil, err
		}
	}
	if dcfg.Ingest.Mode != "jetstream" {
		return nil, errors.New("bench: ingest.mode must be jetstream")
	}
	if !dcfg.Sinks.NATS.Enabled {
		return nil, errors.New("bench: sinks.nats must be enabled (alerts are timed on the NATS sink)")
	}
	prefix, ok := strings.CutSuffix(dcfg.Ingest.Subject, ".>")
	if !ok {
		return nil, fmt.Errorf("bench: ingest.subject %q must end in .> (records go to <prefix>.<environment>.<agent_id>)", dcfg.Ingest.Subject)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "toolwatch-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	res := &Result{Server: "embedded", RSSScope: cfg.Daemon.RSSScope()}
	url := cfg.NATSURL
	if url == "" {
		srv, u, err := embedded.Start(0, filepath.Join(dir, "nats"), zerolog.Nop())
		if err != nil {
			return nil, fmt.Errorf("bench: embedded server: %w", err)
		}
		defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
		url = u
	} else {
		if err := checkLoopback(url, cfg.AllowRemote); err != nil {
			return nil, err
		}
		res.Server = url
	}
	nc, err := nats.Connect(url, nats.Name("toolwatch-bench"))
	if err != nil {
		return nil, fmt.Errorf("bench: connect %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, dcfg: dcfg, nc: nc, js: js, prefix: prefix, res: res}
	create := b.createStream
	if len(cfg.Members) > 0 {
		create = b.createGroupStream
	}
	if err := create(ctx); err != nil {
		return nil, err
	}
	if err := b.fill(ctx); err != nil {
		return nil, err
	}
	if err := b.raw(ctx); err != nil {
		return nil, err
	}
	if len(cfg.Members) > 0 {
		for _, n := range cfg.Members {
			if err := b.groupPhase(ctx, proc.Exe, url, dir, n); err != nil {
				return res, err
			}
		}
		return res, b.raw(ctx)
	}
	stop, err := cfg.Daemon.Start(url, cfg.ConfigPath, dir)
	if err != nil {
		return nil, fmt.Errorf("bench: start daemon: %w", err)
	}
	err = b.daemon(ctx)
	if err == nil {
		// Again while the daemon idles: the machine's load drifts, and the
		// ratio is taken against the mean of both.
		err = b.raw(ctx)
	}
	if err == nil {
		err = b.live(ctx)
	}
	rss, serr := stop()
	res.PeakRSS = rss
	if err == nil && serr != nil {
		err = fmt.Errorf("bench: daemon: %w (log in %s)", serr, dir)
	}
	return res, err
}

type bench struct {
	cfg    Config
	dcfg   *config.Config
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	res    *Result

	lastSeq uint64          // last stream sequence of the fill
	pool    []record.Record // templates for the live phase
}

func checkLoopback(raw string, allowRemote bool) error {
	for _, s := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("bench: --nats-url %q: %w", s, err)
		}
		if allowRemote {
			continue
		}
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("bench: --nats-url %q is not on the loopback (the bench floods the server; pass --allow-remote to insist)", s)
		}
	}
	return nil
}

// createStream makes the daemon's stream; an existing one is refused (the
// bench would mix its records with real ones and drain the real durable).
func (b *bench) createStream(ctx context.Context) error {
	ic := b.dcfg.Ingest
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.js.Stream(rctx, ic.Stream); err == nil {
		return fmt.Errorf("bench: stream %s already exists on the server; run the bench on an empty server", ic.Stream)
	}
	_, err := b.js.CreateStream(rctx, jetstream.StreamConfig{
		Name: ic.Stream, Subjects: []string{ic.Subject}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, Replicas: ic.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bench: create stream %s: %w", ic.Stream, err)
	}
	return nil
}

// stallWait: a publish waits this long for room among the 4096 unacked
// async publishes before failing (the server is busy with the daemon).
var stallWait = jetstream.WithStallWait(30 * time.Second)

// poolSize is the number of records the live phase cycles through.
const poolSize = 20_000

// fillSpan is the event time the fill covers, ending near now.
const fillSpan = 30 * time.Hour

// fill publishes the first Records records of a simulation whose traffic
// rate puts them over about fillSpan ending near now; the last poolSize
// are kept as live templates.
func (b *bench) fill(ctx context.Context) error {
	n := b.cfg.Records
	now := time.Now().UTC()
	// sim.Config.Rate (1.5 calls/s) × Scale, over fillSpan.
	scale := max(float64(n)/(1.5*fillSpan.Seconds()), 0.001)
	sc := sim.Config{Seed: b.cfg.Seed, Start: now.Add(-fillSpan - time.Hour), Duration: 2 * fillSpan, Scale: scale}
	keep := min(poolSize, n)
	b.pool = make([]record.Record, 0, keep)
	var (
		count int
		buf   []byte
		subj  []byte
		limit = now.Add(-time.Minute)
		done  = errors.New("done")
	)
	start := time.Now()
	err := sim.Generate(sc, func(r *record.Record, _ sim.Truth) error {
		if count == n || r.Timestamp.After(limit) {
			return done
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		subj = ingest.AppendRecordSubject(subj[:0], b.prefix, r.Context.Environment, r.AgentID)
		buf = r.AppendJSON(nil) // the async publisher keeps it until acked
		if _, err := b.js.PublishAsync(string(subj), buf, stallWait); err != nil {
			return err
		}
		if count >= n-keep {
			b.pool = append(b.pool, *r.Clone())
		}
		count++
		return nil
	})
	if err != nil && !errors.Is(err, done) {
		return fmt.Errorf("bench: fill: %w", err)
	}
	if err := b.waitPublished(ctx); err != nil {
		return fmt.Errorf("bench: fill: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := b.js.Stream(rctx, b.dcfg.Ingest.Stream)
	if err != nil {
		return err
	}
	b.lastSeq = s.CachedInfo().State.LastSeq
	b.res.Records = int(s.CachedInfo().State.Msgs)
	if b.res.Records != count || len(b.pool) == 0 {
		return fmt.Errorf("bench: fill: stream holds %d records, published %d", b.res.Records, count)
	}
	fmt.Fprintf(b.cfg.Progress, "fill: %d records in %s\n", count, time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *bench) waitPublished(ctx context.Context) error {
	t := time.NewTimer(b.cfg.Timeout)
	defer t.Stop()
	select {
	case <-b.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("publish acks timed out")
	}
}

// raw drains the stream with an ack-only durable: the bus's rate.
func (b *bench) raw(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	const name = "toolwatch-bench-raw"
	cons, err := b.js.CreateOrUpdateConsumer(rctx, b.dcfg.Ingest.Stream, jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: max(b.cfg.Prefetch, b.dcfg.Ingest.MaxAckPending),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("bench: raw consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, b.dcfg.Ingest.Stream, name)
	}()
	want := b.res.Records
	var (
		n      int
		t0, t1 time.Time
		doneCh = make(chan struct{})
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		n++
		switch n {
		case 1:
			t0 = time.Now()
		case want:
			t1 = time.Now()
			close(doneCh)
		}
	}, jetstream.PullMaxMessages(b.cfg.Prefetch))
	if err != nil {
		return fmt.Errorf("bench: raw consume: %w", err)
	}
	defer cc.Stop()
	t := time.NewTimer(b.cfg.Timeout)
	defer t.Stop()
	select {
	case <-doneCh:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("bench: raw consumer did not drain %d records within %s", want, b.cfg.Timeout)
	}
	r := rate(want-1, t1.Sub(t0))
	b.res.RawRates = append(b.res.RawRates, r)
	sum := 0.0
	for _, x := range b.res.RawRates {
		sum += x
	}
	b.res.RawRate = sum / float64(len(b.res.RawRates))
	if b.res.DaemonRate > 0 {
		b.res.Ratio = b.res.DaemonRate / b.res.RawRate
	}
	fmt.Fprintf(b.cfg.Progress, "raw: %d records at %.0f records/s\n", want, r)
	return nil
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// daemon waits until the daemon's durable has acked the whole fill and
// derives its rate from the ack floor: from the first poll that saw a
// delivery to the one that saw the floor at the last sequence.
func (b *bench) daemon(ctx context.Context) error {
	var (
		t0         time.Time
		floor0     uint64
		cpu0, cpu1 time.Duration
	)
	meter, _ := b.cfg.Daemon.(CPUMeter)
	cpu := func() time.Duration {
		if meter == nil {
			return 0
		}
		return meter.CPU()
	}
	deadline := time.Now().Add(b.cfg.Timeout)
	for {
		info, err := b.daemonInfo(ctx)
		now := time.Now()
		if err == nil {
			if t0.IsZero() && info.Delivered.Stream > 0 {
				t0, floor0, cpu0 = now, info.AckFloor.Stream, cpu()
			}
			if info.AckFloor.Stream >= b.lastSeq {
				cpu1 = cpu()
				b.res.DaemonRate = rate(int(b.lastSeq-floor0), now.Sub(t0))
				if n := int64(b.lastSeq - floor0); n > 0 && cpu1 > cpu0 {
					b.res.DaemonCPU = (cpu1 - cpu0) / time.Duration(n)
				}
				break
			}
		}
		if now.After(deadline) {
			return fmt.Errorf("bench: the daemon did not apply %d records within %s", b.res.Records, b.cfg.Timeout)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	if b.res.RawRate > 0 {
		b.res.Ratio = b.res.DaemonRate / b.res.RawRate
	}
	fmt.Fprintf(b.cfg.Progress, "daemon: %d records at %.0f records/s\n", b.res.Records, b.res.DaemonRate)
	return nil
}

func (b *bench) daemonInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := b.js.Consumer(rctx, b.dcfg.Ingest.Stream, b.dcfg.Ingest.Consumer)
	if err != nil {
		return nil, err
	}
	return cons.CachedInfo(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// spanPrefix marks the live phase's records; the rest of the span_id is
// the record's index in the live phase.
const spanPrefix = "bench-"

// injectPerSecond is how many live records a second carry an anomaly.
const injectPerSecond = 40

// live publishes paced, wall-clock-stamped records with injected
// anomalies and times each alert on the NATS sink against its record.
func (b *bench) live(ctx context.Context) error {
	r := b.cfg.Rate
	if r <= 0 {
		r = b.res.DaemonRate / 2
	}
	r = max(r, 1)
	b.res.LiveRate = r
	// Let the caught-up daemon advance event time to the wall clock first
	// (an idle advance), so the first live record does not pay for it.
	if err := sleep(ctx, b.dcfg.Time.IdleAdvance+500*time.Millisecond); err != nil {
		return err
	}

	capacity := int(r*b.cfg.Duration.Seconds()) + 1
	pubAt := make([]int64, capacity) // ns since base; written before the publish
	base := time.Now()
	var (
		mu        sync.Mutex
		lats      []time.Duration
		unmatched int
		published atomic.Int64
	)
	var p fastjson.Parser
	sub, err := b.nc.Subscribe(b.dcfg.Sinks.NATS.SubjectPrefix+".>", func(m *nats.Msg) {
		at := time.Since(base)
		mu.Lock()
		defer mu.Unlock()
		v, err := p.ParseBytes(m.Data)
		span := ""
		if err == nil {
			span = string(v.GetStringBytes("span_id"))
		}
		idx, err := strconv.Atoi(strings.TrimPrefix(span, spanPrefix))
		if !strings.HasPrefix(span, spanPrefix) || err != nil || idx < 0 || int64(idx) >= published.Load() {
			unmatched++
			return
		}
		lats = append(lats, at-time.Duration(atomic.LoadInt64(&pubAt[idx])))
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := b.nc.Flush(); err != nil {
		return err
	}

	every := max(1, int(r/injectPerSecond))
	var (
		rec  record.Record
		buf  []byte
		subj []byte
		n    int
	)
	start := time.Now()
	end := start.Add(b.cfg.Duration)
	for now := start; now.Before(end) && n < capacity; now = time.Now() {
		due := min(int(r*now.Sub(start).Seconds())+1, capacity)
		for ; n < due; n++ {
			rec = *b.pool[n%len(b.pool)].Clone()
			ts := time.Now()
			rec.Timestamp = ts.UTC().Truncate(time.Millisecond)
			rec.SpanID = spanPrefix + strconv.Itoa(n)
			if n%every == 0 {
				inject(&rec, n/every)
			}
			subj = ingest.AppendRecordSubject(subj[:0], b.prefix, rec.Context.Environment, rec.AgentID)
			buf = rec.AppendJSON(nil)
			atomic.StoreInt64(&pubAt[n], int64(ts.Sub(base)))
			published.Store(int64(n + 1))
			if _, err := b.js.PublishAsync(string(subj), buf, stallWait); err != nil {
				return fmt.Errorf("bench: live publish: %w", err)
			}
		}
		if err := sleep(ctx, 500*time.Microsecond); err != nil {
			return err
		}
	}
	b.res.LiveFor = time.Since(start)
	b.res.LivePublished = n
	b.res.LiveAchieved = rate(n, b.res.LiveFor)
	if err := b.waitPublished(ctx); err != nil {
		return fmt.Errorf("bench: live: %w", err)
	}
	// Wait for the daemon to apply everything, then for the sinks.
	last, deadline := b.lastSeq+uint64(n), time.Now().Add(b.cfg.Timeout)
	for {
		info, err := b.daemonInfo(ctx)
		if err == nil && info.AckFloor.Stream >= last {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the daemon did not apply the live records within %s", b.cfg.Timeout)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	b.res.Alerts, b.res.Unmatched = len(lats), unmatched
	if len(lats) > 0 {
		slices.Sort(lats)
		b.res.P50 = quantile(lats, 0.50)
		b.res.P99 = quantile(lats, 0.99)
		b.res.Max = lats[len(lats)-1]
	}
	fmt.Fprintf(b.cfg.Progress, "live: %d records at %.0f records/s, %d alerts\n", n, b.res.LiveAchieved, len(lats))
	return nil
}

// quantile of sorted xs (nearest rank).
func quantile(xs []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// inject turns rec into an anomaly, cycling through three kinds that
// detectors judge on the record itself: a production denial (alerts
// without a baseline), a latency 50× and an output 1000× the usual (alert
// once the key's distribution is warm).
func inject(rec *record.Record, k int) {
	switch k % 3 {
	case 0:
		rec.Context.Environment = "production"
		rec.Invocation.Status = "denied"
		rec.Invocation.PermissionsDenied = append(rec.Invocation.PermissionsDenied[:0], "admin:write")
	case 1:
		rec.Invocation.DurationMS = max(rec.Invocation.DurationMS, 10) * 50
	case 2:
		if rec.Invocation.OutputBytes > 0 {
			rec.Invocation.OutputBytes *= 1000
		} else {
			rec.Invocation.OutputBytes = 100 << 20
		}
	}
}

func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return "before/after the daemon: " + strings.Join(parts, " / ")
}

func cpuText(d time.Duration) string {
	if d <= 0 {
		return "n/a (in-process)"
	}
	return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + " µs"
}

// WriteTable prints the result as an aligned table.
func (r *Result) WriteTable(w io.Writer) error {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms" }
	if len(r.Groups) > 0 {
		return r.writeGroups(w)
	}
	rows := [][2]string{
		{"server", r.Server},
		{"records in the stream", strconv.Itoa(r.Records)},
		{"raw JetStream consumer (ack only)", fmt.Sprintf("%.0f records/s (%s)", r.RawRate, rates(r.RawRates))},
		{"detector (ingest + pipeline)", fmt.Sprintf("%.0f records/s", r.DaemonRate)},
		{"detector / raw", fmt.Sprintf("%.2f", r.Ratio)},
		{"detector CPU per record (user+sys)", cpuText(r.DaemonCPU)},
		{"live rate (requested / achieved)", fmt.Sprintf("%.0f / %.0f records/s for %s", r.LiveRate, r.LiveAchieved, r.LiveFor.Round(time.Millisecond))},
		{"alerts timed (other alerts)", fmt.Sprintf("%d (%d)", r.Alerts, r.Unmatched)},
		{"publish → alert p50 / p99 / max", ms(r.P50) + " / " + ms(r.P99) + " / " + ms(r.Max)},
		{"peak RSS (" + r.RSSScope + ")", fmt.Sprintf("%.1f MiB", float64(r.PeakRSS)/(1<<20))},
	}
	return writeRows(w, rows)
}

// writeRows prints label/value rows aligned.
func writeRows(w io.Writer, rows [][2]string) error {
	width := 0
	for _, row := range rows {
		width = max(width, len([]rune(row[0])))
	}
	for _, row := range rows {
		pad := strings.Repeat(" ", width-len([]rune(row[0])))
		if _, err := fmt.Fprintf(w, "%s%s  %s\n", row[0], pad, row[1]); err != nil {
			return err
		}
	}
	return nil
}
