// Package telemetry holds the operator-facing Prometheus metrics behind the
// three dashboards (real-time activity, security overview, compliance audit;
// deploy/grafana): what the agents' tool calls look like, not how the
// daemon itself is doing (ingest/ and alert/sink/ export those).
//
// Labels are bounded: every label value comes from a fixed set (status,
// denial type, trust level, score band, pattern, severity, outcome; anything unexpected becomes "other"), except
// tool, which is capped at Config.MaxTools distinct names: records of later
// names are counted under tool="other" and in
// toolwatch_tool_labels_overflow_total (empty or non-UTF-8 names also go to
// "other"). The name "other" itself is reserved: a real tool of that name
// shares the catch-all label.
// Agent, trace, span, task and user ids never become labels.
// Completeness, classification and retention coverage are counted by
// package compliance.
//
// ObserveRecord is on the per-record hot path: the per-tool children are
// cached in a map keyed by tool name, so a record of a known tool costs a
// map lookup and a few atomic adds, with no allocation and no
// WithLabelValues. Metrics is meant for the pipeline's single goroutine; the
// /metrics scrape only reads client_golang's own (concurrency-safe)
// children, never the map.
package telemetry

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/toolwatch/toolwatch/record"
)

// Config bounds the metrics' cardinality.
type Config struct {
	// MaxTools is how many distinct tool names get their own tool label;
	// later ones are labelled "other". 0 means DefaultMaxTools.
	MaxTools int
	// Patterns are the values of the pattern and detector labels: the
	// detector registry's pattern names (config.Config.Registry). Any other
	// value is counted as "other".
	Patterns []string
}

// DefaultMaxTools is the tool-label cap when Config.MaxTools is 0.
const DefaultMaxTools = 50

// OtherLabel is the label value for anything outside a label's fixed set,
// and for tools past the cap.
const OtherLabel = "other"

// NoneLabel marks an optional record field that was absent.
const NoneLabel = "none"

// Fixed label sets. The last entry of each is the catch-all.
var (
	statuses      = []string{record.StatusSuccess, record.StatusError, record.StatusDenied, record.StatusTimeout, OtherLabel}
	denialTypes   = []string{"network", "filesystem", "code_execution", "data_access", "secrets", "payments", "email", OtherLabel}
	trustLevels   = []string{"gold", "silver", "bronze", "unverified", NoneLabel, OtherLabel}
	scoreBands    = []string{"0-49", "50-79", "80-89", "90-100", NoneLabel}
	outcomes      = []string{"applied", "late", "invalid", "dead_lettered", "duplicate", OtherLabel}
	severities    = []string{"info", "warning", "critical", OtherLabel}
	alertStatuses = []string{"firing", "resolved", OtherLabel}
)

// DurationBuckets span 5ms..60s (seconds), so histogram_quantile gives a
// usable p95/p99 for tools from fast lookups to slow crawls.
var DurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// OutputBuckets span 256 B..1 GiB in powers of 4.
var OutputBuckets = prometheus.ExponentialBuckets(256, 4, 12)

// Metrics are the dashboard metrics. Build with New.
type Metrics struct {
	maxTools int
	patterns []string // Config.Patterns and OtherLabel last

	invocations  *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	output       *prometheus.HistogramVec
	toolDenials  *prometheus.CounterVec
	overflow     prometheus.Counter
	tools        map[string]*toolMetrics
	other        *toolMetrics // created on first overflow
	denialByType [8]prometheus.Counter
	trust        [6][5]prometheus.Counter
	outcome      [6]prometheus.Counter

	alerts       *prometheus.CounterVec
	keys         *prometheus.GaugeVec
	keysRejected *prometheus.CounterVec
	keysEvicted  *prometheus.CounterVec
	detectors    map[string]*detectorState
	watermark    prometheus.Gauge
}

// toolMetrics are one tool label's cached children.
type toolMetrics struct {
	label    string
	status   [5]prometheus.Counter // indexed like statuses; "other" created lazily
	duration prometheus.Observer
	output   prometheus.Observer
	denials  prometheus.Counter
}

// detectorState remembers the detector's last cumulative counts so the
// exported counters can advance by deltas.
type detectorState struct {
	live              prometheus.Gauge
	rejected, evicted prometheus.Counter
	lastRej, lastEvi  uint64
}

// New builds the metrics and registers them on reg (nil: not registered,
// for tests that only read the children).
func New(reg prometheus.Registerer, cfg Config) *Metrics {
	if cfg.MaxTools <= 0 {
		cfg.MaxTools = DefaultMaxTools
	}
	m := &Metrics{
		maxTools: cfg.MaxTools,
		patterns: labelSet(cfg.Patterns),
		tools:    make(map[string]*toolMetrics, cfg.MaxTools),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_tool_invocations_total",
			Help: "Tool invocations seen in valid audit records, by tool (capped, see toolwatch_tool_labels_overflow_total) and status.",
		}, []string{"tool", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "toolwatch_tool_duration_seconds",
			Help:    "Tool execution time (invocation.duration_ms) by tool.",
			Buckets: DurationBuckets,
		}, []string{"tool"}),
		output: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "toolwatch_tool_output_bytes",
			Help:    "Tool output size (invocation.output_bytes, when present) by tool.",
			Buckets: OutputBuckets,
		}, []string{"tool"}),
		toolDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_tool_permission_denials_total",
			Help: "Entries of invocation.permissions_denied, by tool.",
		}, []string{"tool"}),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_tool_labels_overflow_total",
			Help: "Records counted under tool=\"other\" because the tool-label cap (metrics.max_tool_labels) was reached.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_alerts_total",
			Help: "Anomaly alerts emitted, by pattern, severity and status (firing, resolved).",
		}, []string{"pattern", "severity", "status"}),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "toolwatch_baseline_keys",
			Help: "Live baseline keys held by the detector.",
		}, []string{"detector"}),
		keysRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_baseline_keys_rejected_total",
			Help: "Baseline keys evicted (least recently seen first) to make room for a new key because the detector's key store was at its cap (baseline.memory_limit / max_keys).",
		}, []string{"detector"}),
		keysEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_baseline_keys_evicted_total",
			Help: "Baseline keys evicted as idle.",
		}, []string{"detector"}),
		detectors: make(map[string]*detectorState, len(cfg.Patterns)+1),
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_event_time_watermark_seconds",
			Help: "Event-time watermark of the detectors as a Unix time; time() minus it is the event-time lag.",
		}),
	}
	byType := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_permission_denials_total",
		Help: "Entries of invocation.permissions_denied, by type (the part before ':').",
	}, []string{"type"})
	for i, t := range denialTypes {
		m.denialByType[i] = byType.WithLabelValues(t)
	}
	trust := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_invocations_by_trust_total",
		Help: "Tool invocations by tool.trust_level and tool.verification_score band.",
	}, []string{"trust_level", "score_band"})
	for i, t := range trustLevels {
		for j, b := range scoreBands {
			m.trust[i][j] = trust.WithLabelValues(t, b)
		}
	}
	outcome := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_records_total",
		Help: "Record messages by outcome: applied, late, invalid (not dead-lettered), dead_lettered (invalid and republished to the dead-letter subject), duplicate (a redelivery already applied).",
	}, []string{"outcome"})
	for i, o := range outcomes {
		m.outcome[i] = outcome.WithLabelValues(o)
	}
	for _, p := range m.patterns {
		m.detectors[p] = &detectorState{
			live:     m.keys.WithLabelValues(p),
			rejected: m.keysRejected.WithLabelValues(p),
			evicted:  m.keysEvicted.WithLabelValues(p),
		}
	}
	if reg != nil {
		reg.MustRegister(m.invocations, m.duration, m.output, m.toolDenials, m.overflow,
			byType, trust, outcome,
			m.alerts, m.keys, m.keysRejected, m.keysEvicted, m.watermark)
	}
	return m
}

// ObserveRecord counts one valid record (applied or late). Hot path: no
// allocation once the record's tool is known.
func (m *Metrics) ObserveRecord(r *record.Record) {
	inv := &r.Invocation
	tm := m.tool(r.Tool.Name)
	si := statusIndex(inv.Status)
	c := tm.status[si]
	if c == nil {
		c = m.invocations.WithLabelValues(tm.label, statuses[si])
		tm.status[si] = c
	}
	c.Inc()
	if inv.DurationMS >= 0 {
		tm.duration.Observe(inv.DurationMS / 1000)
	}
	if inv.OutputBytes >= 0 {
		tm.output.Observe(float64(inv.OutputBytes))
	}
	if n := len(inv.PermissionsDenied); n > 0 {
		for _, p := range inv.PermissionsDenied {
			m.denialByType[denialTypeIndex(p)].Inc()
		}
		tm.denials.Add(float64(n))
	}
	m.trust[trustIndex(r.Tool.TrustLevel)][bandIndex(r.Tool.VerificationScore)].Inc()
}

// ObserveOutcome counts one record message by outcome. Call it exactly once
// per message: "applied", "late", "invalid" (not dead-lettered, e.g. in
// replay or when the publish failed), "dead_lettered" (invalid and
// republished) or "duplicate" (a JetStream redelivery of an applied
// record); anything else is counted as "other".
func (m *Metrics) ObserveOutcome(outcome string) {
	m.outcome[index(outcomes, outcome)].Inc()
}

// ObserveAlert counts one emitted alert. Values outside the known patterns,
// severities and statuses are counted as "other". Not on the hot path.
func (m *Metrics) ObserveAlert(pattern, severity, status string) {
	m.alerts.WithLabelValues(
		m.patterns[index(m.patterns, pattern)],
		severities[index(severities, severity)],
		alertStatuses[index(alertStatuses, status)],
	).Inc()
}

// SetDetectorKeys exports a detector's key-store counts (detect.Stats): live
// keys as a gauge, the cumulative capacity evictions ("rejected": the
// metric predates eviction at the cap) and idle evictions as counters
// advanced by the difference since the last call. A count that went down
// (the detector was rebuilt on reload) restarts from the new value.
func (m *Metrics) SetDetectorKeys(detector string, live int, rejected, evicted uint64) {
	d := m.detectors[m.patterns[index(m.patterns, detector)]]
	d.live.Set(float64(live))
	d.rejected.Add(float64(delta(d.lastRej, rejected)))
	d.evicted.Add(float64(delta(d.lastEvi, evicted)))
	d.lastRej, d.lastEvi = rejected, evicted
}

func delta(last, now uint64) uint64 {
	if now < last {
		return now
	}
	return now - last
}

// SetWatermark exports the detectors' event-time watermark. A zero time
// (no record yet) is ignored.
func (m *Metrics) SetWatermark(t time.Time) {
	if t.IsZero() {
		return
	}
	m.watermark.Set(float64(t.UnixNano()) / 1e9)
}

// tool returns the cached children of name's label, creating them while
// under the cap.
func (m *Metrics) tool(name string) *toolMetrics {
	if tm, ok := m.tools[name]; ok {
		return tm
	}
	// Label values must be UTF-8 (client_golang panics otherwise); the
	// decoder guarantees it, records built in code might not.
	if name == "" || !utf8.ValidString(name) || len(m.tools) >= m.maxTools {
		if name != "" && len(m.tools) >= m.maxTools {
			m.overflow.Inc()
		}
		if m.other == nil {
			m.other = m.newTool(OtherLabel)
		}
		return m.other
	}
	// Clone: name may point into a buffer the decoder shares per record.
	name = strings.Clone(name)
	tm := m.newTool(name)
	m.tools[name] = tm
	return tm
}

func (m *Metrics) newTool(label string) *toolMetrics {
	tm := &toolMetrics{
		label:    label,
		duration: m.duration.WithLabelValues(label),
		output:   m.output.WithLabelValues(label),
		denials:  m.toolDenials.WithLabelValues(label),
	}
	// The four valid statuses exist from the start so error-rate queries
	// see 0, not a missing series; "other" only appears if used.
	for i := range len(statuses) - 1 {
		tm.status[i] = m.invocations.WithLabelValues(label, statuses[i])
	}
	return tm
}

// index returns the position of v in set, or the last (catch-all) position;
// "" maps to "none" where the set has it.
// labelSet is vals (valid UTF-8, without "other") followed by "other".
func labelSet(vals []string) []string {
	set := make([]string, 0, len(vals)+1)
	for _, v := range vals {
		if v != OtherLabel && utf8.ValidString(v) {
			set = append(set, v)
		}
	}
	return append(set, OtherLabel)
}

func index(set []string, v string) int {
	if v == "" {
		for i, s := range set {
			if s == NoneLabel {
				return i
			}
		}
	}
	for i, s := range set[:len(set)-1] {
		if s == v {
			return i
		}
	}
	return len(set) - 1
}

func statusIndex(s string) int { return index(statuses, s) }

func trustIndex(s string) int { return index(trustLevels, s) }

// denialTypeIndex classifies a "type:action" entry by its type.
func denialTypeIndex(p string) int {
	if i := strings.IndexByte(p, ':'); i >= 0 {
		p = p[:i]
	}
	return index(denialTypes, p)
}

// bandIndex maps a verification score (Absent when missing) to its band.
func bandIndex(score float64) int {
	switch {
	case score < 0:
		return 4 // none
	case score < 50:
		return 0
	case score < 80:
		return 1
	case score < 90:
		return 2
	}
	return 3
}
