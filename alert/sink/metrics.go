package sink

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the delivery metrics of all sinks, labelled by sink target
// name (bounded by configuration).
type Metrics struct {
	Sent        *prometheus.CounterVec
	Failed      *prometheus.CounterVec
	Dropped     *prometheus.CounterVec
	QueueLength *prometheus.GaugeVec
	Paused      *prometheus.GaugeVec
	Latency     *prometheus.HistogramVec
	// Deduplicated: alerts skipped because the notification log shows the
	// target delivered them already (before a crash).
	Deduplicated *prometheus.CounterVec
	// LogErrors: notification log reads or writes that failed.
	LogErrors *prometheus.CounterVec
}

// NewMetrics builds the sink metrics and registers them with reg (nil: not
// registered, e.g. in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_sink_sent_total",
			Help: "Alerts delivered to the sink target.",
		}, []string{"sink"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_sink_failed_total",
			Help: "Alerts given up on after a non-retryable error or exhausted retries.",
		}, []string{"sink"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_sink_dropped_total",
			Help: "Alerts dropped from a full queue (oldest first) or left unsent at shutdown.",
		}, []string{"sink"}),
		QueueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "toolwatch_sink_queue_length",
			Help: "Alerts waiting in the sink target's queue.",
		}, []string{"sink"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "toolwatch_sink_paused",
			Help: "1 while the sink target is paused because its receiver answered 410 Gone (alerts are held in its queue until the next retry or reload).",
		}, []string{"sink"}),
		Deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_sink_deduplicated_total",
			Help: "Alerts not delivered because the notification log shows the sink target delivered them already (records re-applied after a crash).",
		}, []string{"sink"}),
		LogErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_sink_notification_log_errors_total",
			Help: "Notification log reads or writes that failed (the alert is delivered anyway).",
		}, []string{"sink"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "toolwatch_sink_latency_seconds",
			Help:    "Duration of one delivery attempt to the sink target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.Sent, m.Failed, m.Dropped, m.QueueLength, m.Paused, m.Latency, m.Deduplicated, m.LogErrors)
	}
	return m
}
