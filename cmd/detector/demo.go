package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/app"
	"github.com/toolwatch/toolwatch/tools/demo"
)

// cmdDemo runs the daemon in-process on an embedded NATS server, publishes
// a compressed day of simulated agent traffic as a backlog (detection runs
// in event time, so the baselines warm up in seconds), then live traffic
// with one injected anomaly of each pattern, and prints alerts as they fire.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	live := fs.Duration("live", 60*time.Second, "length of the live phase (anomalies start 10s in, 6s apart)")
	history := fs.Duration("history", 26*time.Hour, "event time of simulated history published first as a backlog")
	seed := fs.Uint64("seed", 1, "random seed of the simulated traffic")
	colorFlag := fs.String("color", "auto", "color the alert lines: auto, always, never")
	var opts app.Options
	fs.StringVar(&opts.AlertmanagerURL, "alertmanager-url", "", "also send the demo's alerts to this Alertmanager")
	fs.StringVar(&opts.HTTPListen, "listen", "127.0.0.1:0", "HTTP address of the status page and metrics")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	color := *colorFlag == "always" || (*colorFlag == "auto" && isTerminal(stdout))

	dir, err := os.MkdirTemp("", "toolwatch-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "detector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	defer logFile.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	daemonCtx, stopDaemon := context.WithCancel(context.Background())
	defer stopDaemon()

	opts.EmbeddedPort = -1
	opts.DataDir = dir
	opts.LogOutput = logFile
	started := make(chan app.Info, 1)
	opts.Started = func(i app.Info) { started <- i }
	opts.Reload = reloadOnHUP(daemonCtx)
	done := make(chan error, 1)
	go func() { done <- app.Run(daemonCtx, opts) }()

	var info app.Info
	select {
	case info = <-started:
	case err := <-done:
		fmt.Fprintf(stderr, "demo: the detector failed to start: %v\n", err)
		return 1
	case <-ctx.Done():
		return 130
	}
	fmt.Fprintf(stdout, "Toolwatch demo — detector running on an embedded NATS server at %s\n", info.NATSURL)
	if info.HTTPAddr != "" {
		fmt.Fprintf(stdout, "status page: http://%s/   metrics: http://%s/metrics\n", info.HTTPAddr, info.HTTPAddr)
	}

	nc, err := nats.Connect(info.NATSURL, nats.Name("toolwatch-demo"))
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	defer nc.Close()

	printer := demo.NewPrinter(stdout, color)
	var mu sync.Mutex
	firing := 0
	sub, err := demo.Subscribe(nc, "audit.alerts.>", func(a alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		if a.Status == alert.StatusFiring {
			firing++
		}
		printer.Print(a)
	})
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	defer sub.Unsubscribe()

	fmt.Fprintf(stdout, "publishing %s of simulated agent traffic as a backlog (detection runs in event time)...\n", *history)
	cfg := demo.PublishConfig{Seed: *seed, History: *history, Live: *live}
	liveAnnounced := false
	stats, err := demo.Publish(ctx, nc, cfg, func(p demo.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case p.Phase == demo.PhaseHistory && p.Done:
			fmt.Fprintf(stdout, "backlog published: %d records\n", p.Records)
		case p.Phase == demo.PhaseLive && !liveAnnounced:
			liveAnnounced = true
			fmt.Fprintf(stdout, "live traffic for %s; injecting one anomaly of each pattern:\n", *live)
		}
		if p.Injected != nil {
			fmt.Fprintf(stdout, "  → injecting %s: %s\n", p.Injected.Pattern, p.Injected.Description)
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "demo: publish: %v\n", err)
	}
	// Give the detector a moment to apply the last records and the sinks
	// to deliver, unless the user interrupted.
	if ctx.Err() == nil {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
	}
	stopDaemon()
	if err := <-done; err != nil {
		fmt.Fprintf(stderr, "demo: detector: %v\n", err)
	}
	_ = nc.Flush()
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintln(stdout)
	printer.Summary(stdout, stats.Injected)
	fmt.Fprintf(stdout, "%d firing alerts; detector log was %s (removed on exit)\n", firing, logPath)
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
