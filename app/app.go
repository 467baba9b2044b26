// Package app is the Toolwatch daemon: it wires configuration, NATS ingest
// (or an embedded NATS server), the detection pipeline, the alert sinks and
// the HTTP endpoints together, and handles reload and shutdown. Like
// Alertmanager's main, the caller owns the process-wide pieces: it hands
// Run its logger, Prometheus registerer and a channel of reload requests
// (cmd/detector: the default registry and SIGHUP), so tests and `detector
// demo` embed the daemon in-process, several at once if they like.
//
// Concurrency: the ingest consumer owns the pipeline and calls every
// detector, one call at a time (never concurrently); reloads are prepared elsewhere and handed to it
// through an atomic pointer, checked once per message.
//
// Never drop an alert: without a usable snapshot the baselines are rebuilt
// from the stream, and only alerts of records a previous run processed
// (ingest.Message.Processed, by stream position) are withheld; after a
// crash the records since the snapshot raise the same alert ids, which the
// notification log (alert/sink/nflog) keeps from being delivered twice.
//
// HTTP goes through the Prometheus exporter-toolkit (TLS, basic auth from
// metrics.web_config_file); POST /-/reload is off unless enabled and
// refuses requests a browser on another origin could send.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/alert/sink/nflog"
	"github.com/toolwatch/toolwatch/alert/sink/sinks"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/internal/buildinfo"
	"github.com/toolwatch/toolwatch/telemetry"
)

// Version is reported in logs, metrics and snapshots; set it at
// link time through internal/buildinfo.Version.
var Version = buildinfo.Version

// Options configure one daemon run. Zero values mean the defaults.
type Options struct {
	// ConfigPath is the configuration file; "" uses the built-in defaults
	// (identical to the shipped config.yaml). Reloads re-read this file.
	ConfigPath string
	// Quick-start overrides of the file, so users can try the daemon
	// against their own servers without editing YAML.
	NATSURL           string // nats.url
	AlertmanagerURL   string // enables sinks.alertmanager with this URL
	WebhookURL        string // enables sinks.webhook with this URL
	WebhookSecretFile string // sinks.webhook.secret_file for WebhookURL
	// OTLP enables the OTLP receiver (otlp.enabled; detector run --otlp).
	OTLP bool
	// HTTPListen overrides metrics.listen ("127.0.0.1:0" picks a free port).
	HTTPListen string
	// WebConfigFile overrides metrics.web_config_file (--web.config.file).
	WebConfigFile string
	// EnableLifecycle turns metrics.enable_lifecycle on
	// (--web.enable-lifecycle).
	EnableLifecycle bool
	// EmbeddedPort overrides nats.embedded.port (0 keeps the config's; use
	// -1 for a free port).
	EmbeddedPort int
	// DataDir, when set, holds all state: the embedded server's store
	// (DataDir/nats) and the snapshot file (DataDir/toolwatch.snapshot).
	DataDir string
	// Logger, when set, is the daemon's logger (cmd/detector builds it with
	// NewLogger from the configuration's log section); nil builds that
	// logger on LogOutput.
	Logger *zerolog.Logger
	// LogOutput receives the daemon's logs when Logger is nil (default
	// os.Stderr).
	LogOutput io.Writer
	// Registerer receives the daemon's metrics and Gatherer serves them on
	// metrics.path; cmd/detector passes prometheus.DefaultRegisterer and
	// DefaultGatherer. A Registerer that is also a Gatherer (a
	// *prometheus.Registry) may come alone. Both nil: a registry of this
	// run with the Go and process collectors, so several daemons can share
	// a process.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Reload, when set, carries reload requests from the caller
	// (cmd/detector sends one per SIGHUP, as Alertmanager's main does);
	// the daemon answers each on the channel it carries: nil, or why the
	// new configuration was rejected. Reads stop when Run returns.
	Reload <-chan chan error
	// Started is called once the daemon is consuming, with its addresses.
	Started func(Info)
	// Now is the wall clock (default time.Now).
	Now func() time.Time
}

// Info says where a running daemon can be reached.
type Info struct {
	NATSURL  string // where producers publish records
	HTTPAddr string // metrics, health and status page
	Embedded bool   // the NATS server runs inside the daemon
	// OTLP receiver addresses ("" when off or disabled).
	OTLPHTTPAddr, OTLPGRPCAddr string
}

// LoadConfig reads the configuration of opts and applies its overrides.
func LoadConfig(opts Options) (*config.Config, error) {
	var cfg *config.Config
	if opts.ConfigPath == "" {
		cfg = config.Default()
	} else {
		var err error
		if cfg, err = config.Load(opts.ConfigPath); err != nil {
			return nil, err
		}
	}
	if err := applyOverrides(cfg, opts); err != nil {
		return nil, err
	}
	return cfg, nil
}

func applyOverrides(cfg *config.Config, opts Options) error {
	if opts.NATSURL != "" {
		cfg.NATS.URL = opts.NATSURL
	}
	if opts.AlertmanagerURL != "" {
		cfg.Sinks.Alertmanager.Enabled = true
		cfg.Sinks.Alertmanager.URLs = []string{opts.AlertmanagerURL}
	}
	if opts.WebhookURL != "" {
		cfg.Sinks.Webhook.Enabled = true
		cfg.Sinks.Webhook.URLs = []string{opts.WebhookURL}
	}
	if opts.WebhookSecretFile != "" {
		cfg.Sinks.Webhook.SecretFile = opts.WebhookSecretFile
		cfg.Sinks.Webhook.SecretEnv = ""
	}
	applyOTLPOverrides(cfg, opts)
	if opts.HTTPListen != "" {
		cfg.Metrics.Listen = opts.HTTPListen
	}
	if opts.WebConfigFile != "" {
		cfg.Metrics.WebConfigFile = opts.WebConfigFile
	}
	if opts.EnableLifecycle {
		cfg.Metrics.EnableLifecycle = true
	}
	switch {
	case opts.EmbeddedPort < 0:
		cfg.NATS.Embedded.Port = 0
	case opts.EmbeddedPort > 0:
		cfg.NATS.Embedded.Port = opts.EmbeddedPort
	}
	if opts.DataDir != "" {
		cfg.NATS.Embedded.StoreDir = filepath.Join(opts.DataDir, "nats")
		cfg.Snapshot.Path = filepath.Join(opts.DataDir, "toolwatch.snapshot")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return fmt.Errorf("configuration (with command-line overrides): %w", errs)
	}
	return nil
}

// NewLogger builds the daemon's zerolog logger from the `log` section.
// Format auto is console on a terminal and JSON otherwise (a pipe, a file,
// journald); console colours only a terminal.
func NewLogger(cfg config.LogConfig, w io.Writer) zerolog.Logger {
	if w == nil {
		w = os.Stderr
	}
	tty := isTerminal(w)
	if cfg.Format == "console" || cfg.Format == "auto" && tty {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !tty}
	}
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Run runs the daemon until ctx is cancelled, then drains in-flight records,
// flushes the sinks (bounded) and returns nil. It returns an error when the
// daemon cannot start.
func Run(ctx context.Context, opts Options) error {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	cfg, err := LoadConfig(opts)
	if err != nil {
		return err
	}
	if cfg.Group.Enabled {
		if err := checkGroup(cfg); err != nil {
			return err
		}
	}
	log := NewLogger(cfg.Log, opts.LogOutput)
	if opts.Logger != nil {
		log = *opts.Logger
	}
	reg, gatherer, err := registry(opts)
	if err != nil {
		return err
	}
	log.Info().Str("version", Version).Str("commit", buildinfo.Read().Commit).Str("config", orDefault(opts.ConfigPath, "(built-in defaults)")).Msg("starting toolwatch detector")

	dm := newDaemonMetrics(reg)

	// NATS: the configured servers, or an embedded one.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	info := Info{}
	natsCfg := cfg.NATS
	if natsCfg.URL == "" {
		srv, url, err := embedded.Start(natsCfg.Embedded.Port, natsCfg.Embedded.StoreDir, log)
		if err != nil {
			return fmt.Errorf("start embedded NATS server: %w", err)
		}
		cleanups = append(cleanups, func() { srv.Shutdown(); srv.WaitForShutdown() })
		natsCfg.URL = url
		info.Embedded = true
		log.Info().Str("url", url).Str("subject", cfg.Ingest.Subject).Str("store_dir", natsCfg.Embedded.StoreDir).
			Msg("embedded NATS server with JetStream started; publish audit records here")
	}
	info.NATSURL = natsCfg.URL
	connStatus := ingest.NewConnStatus(log)
	nc, err := ingest.ConnectStatus(ctx, natsCfg, log, connStatus)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	go connStatus.Watch(watchCtx, nc, 500*time.Millisecond)
	cleanups = append(cleanups, stopWatch)
	cleanups = append(cleanups, func() {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			nc.Close()
		}
		waitClosed(nc, 5*time.Second)
	})

	sinkMetrics := sink.NewMetrics(reg)
	sinkLog := log.With().Str("component", "sink").Logger()
	var nfl sink.NotificationLog
	if nl := cfg.Sinks.NotificationLog; nl.Enabled {
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("notification log: %w", err)
		}
		nfl = nflog.New(js, nl.Bucket, nl.TTL, cfg.Ingest.Replicas)
	}
	sinkDeps := sinks.Deps{NATS: nc, Logger: sinkLog, Metrics: sinkMetrics, Log: nfl}
	out, err := sinks.Build(cfg.Sinks, sinkDeps)
	if err != nil {
		return fmt.Errorf("start sinks: %w", err)
	}

	tm := telemetry.New(reg, telemetry.Config{MaxTools: cfg.Metrics.MaxToolLabels, Patterns: cfg.Registry().Patterns()})
	if cfg.Group.Enabled {
		recv, err := startOTLP(cfg, nc, reg, log, &info)
		if err != nil {
			closeSinks(out, log)
			return fmt.Errorf("start otlp receiver: %w", err)
		}
		cleanups = append(cleanups, func() { stopOTLP(recv) })
		if err := runGroup(ctx, opts, cfg, nc, reg, gatherer, out, tm, dm, info, log, now); err != nil {
			return fmt.Errorf("consumer group: %w", err)
		}
		return nil
	}
	p, snaps, resumeAfter, rebuilt, err := restore(ctx, cfg, nc, reg, log, now)
	if err != nil {
		closeSinks(out, log)
		return err
	}
	cv := compliance.New(reg, compliance.Config{})
	w := newWorker(cfg, p, out, tm, cv, log.With().Str("component", "pipeline").Logger(), now)
	w.status.conn = connStatus
	w.snaps, w.snapEvery, w.suppressed = snaps, cfg.Snapshot.Interval, dm.suppressed
	// Baselines rebuilt by replaying the stream: alerts of records the
	// previous run processed (by stream position, never by clock) are not
	// delivered again; see worker.rebuilt.
	w.rebuilt, w.reseed = rebuilt, rebuilt
	if !rebuilt && snaps != nil {
		// The state equals the restored snapshot: the next one is due a
		// full interval from now, not at the first tick.
		w.lastSnap = now()
	}

	jetstreamMode := cfg.Ingest.Mode == "jetstream"
	consumer, err := ingest.New(nc, cfg.Ingest, ingest.Options{
		Log:         log,
		Metrics:     ingest.NewMetrics(reg),
		IdleAfter:   cfg.Time.IdleAdvance,
		Resume:      jetstreamMode,
		ResumeAfter: resumeAfter,
	})
	if err != nil {
		closeSinks(out, log)
		return fmt.Errorf("start consumer: %w", err)
	}
	w.consumer = consumer

	recv, err := startOTLP(cfg, nc, reg, log, &info)
	if err != nil {
		closeSinks(out, log)
		return fmt.Errorf("start otlp receiver: %w", err)
	}
	cleanups = append(cleanups, func() { stopOTLP(recv) })

	rl := &reloader{opts: opts, current: cfg, worker: w, metrics: dm, log: log.With().Str("component", "reload").Logger(),
		sinkDeps: sinkDeps, now: now}
	dm.reloadSuccess.Set(1)
	dm.reloadTime.Set(float64(now().Unix()))

	// HTTP: metrics, health, reload and the status page.
	var httpSrv *http.Server
	if cfg.Metrics.Enabled {
		var addr string
		httpSrv, addr, err = serveHTTP(cfg.Metrics, newMux(cfg.Metrics, reg, gatherer, consumer, connStatus, rl, w), log)
		if err != nil {
			closeSinks(out, log)
			return err
		}
		info.HTTPAddr = addr
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); rl.watch(runCtx) }()

	// Started means "publish now": wait until the consumer is set up
	// (stream created, consumer bound) so no early record is missed.
	notifyStarted(runCtx, &wg, consumer.Consuming(), opts.Started, info)
	log.Info().Str("mode", cfg.Ingest.Mode).Str("subject", cfg.Ingest.Subject).Msg("consuming audit records")
	runErr := consumer.Run(ctx, w)
	stopRun()
	wg.Wait()

	// The consumer has drained: every acked record was applied. Deliver
	// what is left and stop.
	log.Info().Msg("stopping: consumer drained, flushing sinks")
	w.finalSnapshot()
	w.shutdown()
	shutdownHTTP(httpSrv)
	applied, late, future := w.p.Engine().Counts()
	log.Info().Uint64("applied", applied).Uint64("late", late).Uint64("future", future).Msg("stopped")
	if runErr != nil {
		return fmt.Errorf("consume: %w", runErr)
	}
	return nil
}

func closeSinks(d *sink.Dispatcher, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		log.Warn().Err(err).Msg("sinks did not flush in time; undelivered alerts were counted as dropped")
	}
}

// registry returns where the daemon registers its metrics and what its
// metrics endpoint serves (Options.Registerer, Options.Gatherer).
func registry(opts Options) (prometheus.Registerer, prometheus.Gatherer, error) {
	reg, g := opts.Registerer, opts.Gatherer
	switch {
	case reg == nil && g == nil:
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		return r, r, nil
	case g == nil:
		if rg, ok := reg.(prometheus.Gatherer); ok {
			return reg, rg, nil
		}
		return nil, nil, errors.New("app: Options.Registerer is not a Gatherer; set Options.Gatherer too")
	case reg == nil:
		return nil, nil, errors.New("app: Options.Gatherer is set without Options.Registerer")
	}
	return reg, g, nil
}

// waitClosed waits up to limit for nc to close (Drain closes it when done).
func waitClosed(nc *nats.Conn, limit time.Duration) {
	closed := nc.StatusChanged(nats.CLOSED)
	defer nc.RemoveStatusListener(closed)
	if nc.IsClosed() {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
	}
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}

// daemonMetrics are the daemon's own gauges (reload state, build info).
type daemonMetrics struct {
	reloadSuccess prometheus.Gauge
	reloadTime    prometheus.Gauge
	suppressed    prometheus.Counter
}

func newDaemonMetrics(reg prometheus.Registerer) *daemonMetrics {
	m := &daemonMetrics{
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt succeeded (1) or was rejected (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration (re)load.",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_alerts_suppressed_rebuild_total",
			Help: "Alerts not delivered while baselines were rebuilt from the stream (no usable snapshot) because a previous run already processed their record (at or below the durable consumer's ack floor read at start).",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "toolwatch_build_info",
		Help:        "Toolwatch build information; always 1.",
		ConstLabels: prometheus.Labels{"version": Version},
	})
	build.Set(1)
	reg.MustRegister(m.reloadSuccess, m.reloadTime, m.suppressed, build)
	return m
}
