// Package app is the Toolwatch daemon: it wires configuration, NATS ingest
// (or an embedded NATS server), the detection pipeline, the alert sinks and
// the HTTP endpoints together, and handles reload and shutdown. cmd/detector
// only parses flags and calls Run, so tests and `detector demo` embed the
// daemon in-process.
//
// Concurrency: the ingest consumer owns the pipeline and calls every
// detector, one call at a time (never concurrently); reloads are prepared elsewhere and handed to it
// through an atomic pointer, checked once per message.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/alert/sink/sinks"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/telemetry"
)

// Version is reported in logs, metrics and the status page.
var Version = "0.1.0-dev"

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
	// HTTPListen overrides metrics.listen ("127.0.0.1:0" picks a free port).
	HTTPListen string
	// EmbeddedPort overrides nats.embedded.port (0 keeps the config's; use
	// -1 for a free port).
	EmbeddedPort int
	// DataDir, when set, holds all state: the embedded server's store
	// (DataDir/nats) and the snapshot file (DataDir/toolwatch.snapshot).
	DataDir string
	// LogOutput receives the daemon's logs (default os.Stderr).
	LogOutput io.Writer
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
	if opts.HTTPListen != "" {
		cfg.Metrics.Listen = opts.HTTPListen
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
func NewLogger(cfg config.LogConfig, w io.Writer) zerolog.Logger {
	if w == nil {
		w = os.Stderr
	}
	if cfg.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
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
	log := NewLogger(cfg.Log, opts.LogOutput)
	log.Info().Str("version", Version).Str("config", orDefault(opts.ConfigPath, "(built-in defaults)")).Msg("starting toolwatch detector")

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	nc, err := ingest.Connect(ctx, natsCfg, log)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	cleanups = append(cleanups, func() {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			nc.Close()
		}
		waitClosed(nc, 5*time.Second)
	})

	sinkMetrics := sink.NewMetrics(reg)
	sinkLog := log.With().Str("component", "sink").Logger()
	out, err := sinks.Build(cfg.Sinks, sinks.Deps{NATS: nc, Logger: sinkLog, Metrics: sinkMetrics})
	if err != nil {
		return fmt.Errorf("start sinks: %w", err)
	}

	tm := telemetry.New(reg, telemetry.Config{MaxTools: cfg.Metrics.MaxToolLabels})
	p, snaps, resumeAfter, rebuilt, err := restore(ctx, cfg, nc, reg, log, now)
	if err != nil {
		closeSinks(out, log)
		return err
	}
	w := newWorker(cfg, p, out, tm, log.With().Str("component", "pipeline").Logger(), now)
	w.snaps, w.snapEvery, w.suppressed = snaps, cfg.Snapshot.Interval, dm.suppressed
	if rebuilt {
		// The baselines are rebuilt by replaying the stream: alerts about
		// records from before this start were (or could have been) raised
		// by the previous run, so they are not delivered again.
		w.quietBefore = now().Add(-rebuildQuiet)
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

	rl := &reloader{opts: opts, current: cfg, worker: w, metrics: dm, log: log.With().Str("component", "reload").Logger(),
		sinkDeps: sinks.Deps{NATS: nc, Logger: sinkLog, Metrics: sinkMetrics}, now: now}
	dm.reloadSuccess.Set(1)
	dm.reloadTime.Set(float64(now().Unix()))

	// HTTP: metrics, health, reload and the status page.
	var httpSrv *http.Server
	if cfg.Metrics.Enabled {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			closeSinks(out, log)
			return fmt.Errorf("listen on %s: %w", cfg.Metrics.Listen, err)
		}
		info.HTTPAddr = ln.Addr().String()
		httpSrv = &http.Server{Handler: newMux(cfg.Metrics.Path, reg, consumer, rl, w), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("http server failed")
			}
		}()
		log.Info().Str("addr", info.HTTPAddr).Str("metrics", cfg.Metrics.Path).Msg("http endpoints listening")
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); rl.watch(runCtx) }()

	if opts.Started != nil {
		// Started means "publish now": wait until the consumer is set up
		// (stream created, consumer bound) so no early record is missed.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !consumer.Ready() {
				select {
				case <-runCtx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			opts.Started(info)
		}()
	}
	log.Info().Str("mode", cfg.Ingest.Mode).Str("subject", cfg.Ingest.Subject).Msg("consuming audit records")
	runErr := consumer.Run(ctx, w)
	stopRun()
	wg.Wait()

	// The consumer has drained: every acked record was applied. Deliver
	// what is left and stop.
	log.Info().Msg("stopping: consumer drained, flushing sinks")
	w.finalSnapshot()
	w.shutdown()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
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

func waitClosed(nc *nats.Conn, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
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
			Help: "Alerts not delivered because they concern records from before the start while baselines were rebuilt from the stream (no snapshot).",
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

func newMux(metricsPath string, reg *prometheus.Registry, consumer *ingest.Consumer, rl *reloader, w *worker) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(rw, "ok\n")
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !consumer.Ready() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(rw, "not ready: not connected or not consuming\n")
			return
		}
		io.WriteString(rw, "ready\n")
	})
	mux.HandleFunc("/-/reload", func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			rw.Header().Set("Allow", "POST, PUT")
			http.Error(rw, "use POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.reload("http"); err != nil {
			http.Error(rw, "reload rejected; the previous configuration keeps running:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(rw, "reloaded\n")
	})
	w.mountStatus(mux)
	return mux
}
