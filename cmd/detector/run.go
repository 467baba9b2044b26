package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolwatch/toolwatch/app"
)

// defaultConfigPath is used by `detector run` when --config is not given
// and the file exists (the shipped config.yaml in the working directory).
const defaultConfigPath = "config.yaml"

func daemonFlags(fs *flag.FlagSet, opts *app.Options) {
	fs.StringVar(&opts.ConfigPath, "config", "", "configuration file (default: ./config.yaml if present, else built-in defaults)")
	fs.StringVar(&opts.NATSURL, "nats-url", "", "NATS server URL(s), overriding nats.url (empty config and flag: start an embedded server)")
	fs.StringVar(&opts.AlertmanagerURL, "alertmanager-url", "", "send alerts to this Alertmanager (base URL, e.g. http://127.0.0.1:9093)")
	fs.StringVar(&opts.WebhookURL, "webhook-url", "", "POST signed alerts to this URL (needs --webhook-secret-file or sinks.webhook.secret_*)")
	fs.StringVar(&opts.WebhookSecretFile, "webhook-secret-file", "", "file holding the webhook signing secret (whsec_<base64> or raw)")
	fs.BoolVar(&opts.OTLP, "otlp", false, "start the OTLP receiver (OpenTelemetry spans in; otlp.http_listen/grpc_listen, default 127.0.0.1:4318/4317)")
	fs.StringVar(&opts.HTTPListen, "listen", "", "HTTP address for metrics, health and the status page, overriding metrics.listen")
	fs.StringVar(&opts.WebConfigFile, "web.config.file", "", "Prometheus web config (TLS, basic auth) for the HTTP endpoints, overriding metrics.web_config_file")
	fs.BoolVar(&opts.EnableLifecycle, "web.enable-lifecycle", false, "serve POST /-/reload (metrics.enable_lifecycle)")
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	var opts app.Options
	daemonFlags(fs, &opts)
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file (go tool pprof)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *cpuprofile != "" {
		stopProfile, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "detector: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	if opts.ConfigPath == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			opts.ConfigPath = defaultConfigPath
		}
	}
	// The daemon takes its logger, registry and reload requests from here,
	// as Alertmanager's main hands them to its components.
	cfg, err := app.LoadConfig(opts)
	if err != nil {
		fmt.Fprintf(stderr, "detector: %v\n", err)
		return 1
	}
	log := app.NewLogger(cfg.Log, stderr)
	opts.Logger = &log
	if percent, limit, ok := tuneGC(cfg.Baseline, os.Getenv); ok {
		log.Info().Int("gc_percent", percent).Int64("memory_limit_bytes", limit).Msg("garbage collector: GOGC and soft memory limit from baseline.memory_limit (set GOGC or GOMEMLIMIT to override)")
	}
	opts.Registerer, opts.Gatherer = prometheus.DefaultRegisterer, prometheus.DefaultGatherer
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts.Reload = reloadOnHUP(ctx)
	if err := app.Run(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "detector: %v\n", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// reloadOnHUP turns each SIGHUP into a reload request until ctx ends. The
// daemon logs whether the reload was accepted, so the answer is dropped.
func reloadOnHUP(ctx context.Context) <-chan chan error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan chan error)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			errc := make(chan error, 1)
			select {
			case reload <- errc:
			case <-ctx.Done():
				return
			}
			select {
			case <-errc:
			case <-ctx.Done():
				return
			}
		}
	}()
	return reload
}
