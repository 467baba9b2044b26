package app

import (
	"context"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert/sink/sinks"
	"github.com/toolwatch/toolwatch/config"
)

// reloader re-reads the configuration on a request of the caller
// (Options.Reload: SIGHUP in cmd/detector), on a change of the file and on
// POST /-/reload. Everything that can fail (parsing, validation,
// building new sinks) happens here first; only a fully built configuration
// is handed to the worker, which swaps it in between two records. A bad
// file leaves the running configuration untouched.
type reloader struct {
	opts     Options
	worker   *worker
	metrics  *daemonMetrics
	log      zerolog.Logger
	sinkDeps sinks.Deps
	now      func() time.Time

	mu      sync.Mutex
	current *config.Config
}

// pollInterval is how often the configuration file's stat is checked.
const pollInterval = 2 * time.Second

func (rl *reloader) watch(ctx context.Context) {
	var last fileStamp
	if rl.opts.ConfigPath != "" {
		last = stamp(rl.opts.ConfigPath)
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case errc := <-rl.opts.Reload:
			err := rl.reload("caller")
			if errc != nil {
				select {
				case errc <- err:
				case <-ctx.Done():
					return
				}
			}
		case <-tick.C:
			if rl.opts.ConfigPath == "" {
				continue
			}
			if s := stamp(rl.opts.ConfigPath); s != last {
				last = s
				_ = rl.reload("file change")
			}
		}
	}
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// reload loads, validates and prepares a new configuration.
func (rl *reloader) reload(source string) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	cfg, err := LoadConfig(rl.opts)
	if err != nil {
		rl.metrics.reloadSuccess.Set(0)
		rl.log.Error().Str("source", source).Err(err).Msg("configuration reload rejected; the previous configuration keeps running")
		return err
	}
	old := rl.current
	for _, section := range restartOnly(old, cfg) {
		rl.log.Warn().Str("section", section).Msg("this section changed but applies only after a restart")
	}
	req := &reloadRequest{cfg: cfg}
	if !reflect.DeepEqual(old.Sinks, cfg.Sinks) {
		out, err := sinks.Build(cfg.Sinks, rl.sinkDeps)
		if err != nil {
			rl.metrics.reloadSuccess.Set(0)
			rl.log.Error().Str("source", source).Err(err).Msg("configuration reload rejected: sinks could not be built; the previous configuration keeps running")
			return err
		}
		req.out = out
	}
	if prev := rl.worker.pending.Swap(req); prev != nil && prev.out != nil {
		// A reload that was never applied: its sinks were never used.
		go closeSinks(prev.out, rl.log)
	}
	rl.current = cfg
	rl.metrics.reloadSuccess.Set(1)
	rl.metrics.reloadTime.Set(float64(rl.now().Unix()))
	rl.log.Info().Str("source", source).Msg("configuration reload accepted")
	return nil
}

// restartOnly lists sections that changed but are read only at start.
func restartOnly(old, cfg *config.Config) []string {
	var out []string
	if !reflect.DeepEqual(old.NATS, cfg.NATS) {
		out = append(out, "nats")
	}
	if !reflect.DeepEqual(old.Ingest, cfg.Ingest) {
		out = append(out, "ingest")
	}
	if !reflect.DeepEqual(old.OTLP, cfg.OTLP) {
		out = append(out, "otlp")
	}
	if !reflect.DeepEqual(old.Metrics, cfg.Metrics) {
		out = append(out, "metrics")
	}
	if !reflect.DeepEqual(old.Log, cfg.Log) {
		out = append(out, "log")
	}
	if !reflect.DeepEqual(old.Baseline, cfg.Baseline) {
		out = append(out, "baseline")
	}
	return out
}
