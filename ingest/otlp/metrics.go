package otlp

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the receiver. Labels are bounded: transport (http, grpc),
// code (the answer class), outcome and the rejected record field.
type Metrics struct {
	requests *prometheus.CounterVec
	spans    *prometheus.CounterVec
	rejected *prometheus.CounterVec
	publish  prometheus.Histogram
	inflight prometheus.Gauge
}

// Request codes (label values of toolwatch_otlp_requests_total).
const (
	codeOK                   = "ok"
	codePartial              = "partial"
	codeBadRequest           = "bad_request"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeTooLarge             = "too_large"
	codeUnauthenticated      = "unauthenticated"
	codeThrottled            = "throttled"
	codeUnavailable          = "unavailable"
)

// NewMetrics creates the receiver's metrics, registered on reg when it is
// not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_otlp_requests_total",
			Help: "OTLP export requests by transport and answer: ok, partial (some spans rejected), bad_request, unsupported_media_type, too_large, unauthenticated, throttled (429/RESOURCE_EXHAUSTED), unavailable (503/UNAVAILABLE: JetStream did not ack).",
		}, []string{"transport", "code"}),
		spans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_otlp_spans_total",
			Help: "Spans in OTLP requests that were processed: stored (a record acked by JetStream), not_tool (ignored), rejected (in partial_success), unstored (the request was answered 503/429 and will be retried).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolwatch_otlp_spans_rejected_total",
			Help: "Tool spans that could not be mapped to a valid audit record, by the record field at fault.",
		}, []string{"reason"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "toolwatch_otlp_publish_seconds",
			Help:    "Time from publishing a request's records to JetStream acknowledging all of them.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_otlp_inflight_requests",
			Help: "OTLP requests being processed (bounded by otlp.max_concurrent_requests).",
		}),
	}
	for _, t := range []string{"http", "grpc"} {
		for _, c := range []string{codeOK, codePartial, codeBadRequest, codeUnsupportedMediaType, codeTooLarge, codeUnauthenticated, codeThrottled, codeUnavailable} {
			m.requests.WithLabelValues(t, c)
		}
	}
	for _, o := range []string{"stored", "not_tool", "rejected", "unstored"} {
		m.spans.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.spans, m.rejected, m.publish, m.inflight)
	}
	return m
}
