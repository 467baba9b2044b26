package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolwatch/toolwatch/record"
)

// Metrics are the ingest counters and gauges. Labels are bounded: result
// takes four values.
type Metrics struct {
	applied, invalid, late, duplicate prometheus.Counter
	deadLettered                      prometheus.Counter
	deadLetterFailed                  prometheus.Counter
	dropped                           prometheus.Counter
	redelivered                       prometheus.Counter
	acks                              prometheus.Counter
	nakLost                           prometheus.Counter
	pending                           prometheus.Gauge
	connected                         prometheus.Gauge
}

// NewMetrics creates the ingest metrics and registers them on reg (nil
// skips registration, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_ingest_messages_total",
		Help: "Record messages consumed, by result: applied, late (older than the allowed lateness), invalid (dead-lettered), duplicate (a redelivery of a record already applied).",
	}, []string{"result"})
	m := &Metrics{
		applied:   msgs.WithLabelValues("applied"),
		invalid:   msgs.WithLabelValues("invalid"),
		late:      msgs.WithLabelValues("late"),
		duplicate: msgs.WithLabelValues("duplicate"),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_dead_lettered_total",
			Help: "Invalid records republished to the dead-letter subject.",
		}),
		deadLetterFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_dead_letter_failed_total",
			Help: "Failed dead-letter publishes (jetstream: the record is redelivered and retried; core: the record is lost).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_slow_consumer_dropped_total",
			Help: "Records dropped by the client because the detector fell behind (core mode).",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_redelivered_total",
			Help: "JetStream deliveries that were redeliveries.",
		}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_acks_total",
			Help: "JetStream acks sent (AckAll: one ack, or the term of an invalid record, covers every record up to its stream sequence; so this counts batches, not records).",
		}),
		nakLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "toolwatch_ingest_lost_naks_total",
			Help: "NAKs sent for records a gap in JetStream delivery sequences showed lost in flight, so they are redelivered at once instead of after ack_wait.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_ingest_consumer_pending",
			Help: "Records in the stream not yet delivered to the consumer (core mode: buffered in the client).",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toolwatch_ingest_connected",
			Help: "1 while connected to NATS.",
		}),
	}
	if reg != nil {
		reg.MustRegister(msgs, m.deadLettered, m.deadLetterFailed, m.dropped, m.redelivered, m.acks, m.nakLost, m.pending, m.connected)
	}
	return m
}

func (m *Metrics) outcome(o record.Outcome) prometheus.Counter {
	switch o {
	case record.Late:
		return m.late
	case record.Invalid:
		return m.invalid
	}
	return m.applied
}
