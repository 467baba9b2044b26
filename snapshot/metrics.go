package snapshot

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the snapshot counters and gauges; reason takes the values of
// Reason plus "state" (a component rejected its section) and "chain" (a
// delta does not follow its predecessor).
type Metrics struct {
	saves        prometheus.Counter
	saveFailures prometheus.Counter
	loadFailures *prometheus.CounterVec
	lastSuccess  prometheus.Gauge
	bytes        prometheus.Gauge
	restored     prometheus.Gauge
	deltaSaves   prometheus.Counter
	chainLinks   prometheus.Gauge
}

// Reasons are every value of the reason label.
var Reasons = []string{"magic", "version", "truncated", "checksum", "malformed", "io", "state", "chain"}

// NewMetrics creates the snapshot metrics and registers them on reg (nil
// skips registration, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		saves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_snapshot_saves_total",
			Help: "Snapshots written successfully.",
		}),
		saveFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_snapshot_save_failures_total",
			Help: "Snapshot writes that failed (the previous snapshot stays in place).",
		}),
		loadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_snapshot_load_failures_total",
			Help: "Stored snapshots and deltas found unusable at start, by reason: magic, version, truncated, checksum, malformed, io, state, chain.",
		}, []string{"reason"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_snapshot_last_success_timestamp_seconds",
			Help: "Wall-clock time of the last successful snapshot write (unix seconds).",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_snapshot_bytes",
			Help: "Size of the last snapshot written or restored.",
		}),
		restored: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_snapshot_restored",
			Help: "1 if the baselines were restored from a snapshot at start, 0 if they are being rebuilt from the stream.",
		}),
		deltaSaves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_snapshot_delta_saves_total",
			Help: "Snapshots written as deltas (keys changed since the previous snapshot); also counted in toolwatch_snapshot_saves_total.",
		}),
		chainLinks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_snapshot_chain_deltas",
			Help: "Deltas written since the last full snapshot (base).",
		}),
	}
	for _, r := range Reasons {
		m.loadFailures.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.saves, m.saveFailures, m.loadFailures, m.lastSuccess, m.bytes, m.restored, m.deltaSaves, m.chainLinks)
	}
	return m
}
