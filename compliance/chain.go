package compliance

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ChainPattern is the alert pattern of the chain-integrity detector.
const ChainPattern = "chain_integrity"

// ChainKindKey is the alert Details key that carries a chain-integrity
// alert's kind (one of ChainKinds).
const ChainKindKey = "kind"

// Kinds of chain findings. Tamper kinds are those that mean a record was
// altered, removed, reordered, forged or signed with a key not configured.
const (
	KindGap               = "gap"
	KindFork              = "fork"
	KindAltered           = "altered"
	KindPrevMismatch      = "prev_mismatch"
	KindBadSignature      = "bad_signature"
	KindUnknownKey        = "unknown_key"
	KindMissingCheckpoint = "missing_checkpoint"
	KindStoppedChaining   = "stopped_chaining"
)

// ChainKinds are the kind label values, in order; "other" is the catch-all.
var ChainKinds = []string{KindGap, KindFork, KindAltered, KindPrevMismatch, KindBadSignature,
	KindUnknownKey, KindMissingCheckpoint, KindStoppedChaining, OtherLabel}

const nKinds = 9

func kindIndex(kind string) int {
	for i, k := range ChainKinds[:nKinds-1] {
		if k == kind {
			return i
		}
	}
	return nKinds - 1
}

// ChainStats receives the chain-integrity detector's verdicts. The View
// implements it; the detector calls it on the pipeline goroutine, per
// record for Chained (no allocation once the producer is known) and per
// finding for Finding. A record of a message a previous run processed is
// not counted (View.SetProcessed).
type ChainStats interface {
	// Chained counts one record carrying chain fields of producer;
	// verified says its own hash and its link to the producer's previous
	// record (or a valid checkpoint covering it) checked out.
	Chained(producer string, verified bool)
	// Finding counts one chain finding of kind (KindGap, ...; anything
	// else is "other") for producer; for a gap, missing is the number of
	// sequence numbers skipped (0 for other kinds).
	Finding(producer, kind string, missing uint64)
}

var _ ChainStats = (*View)(nil)

// ChainReporter is implemented by a detector that reports chain verdicts
// (the chain-integrity detector): the daemon hands it its View through
// Attach, so the detector needs no wiring of its own.
type ChainReporter interface {
	ReportChainTo(ChainStats)
}

// Attach hands v to every element of ds that is a ChainReporter and
// returns how many there were. The daemon calls it with the pipeline's
// detectors at start and after each reload.
func Attach[D any](v *View, ds []D) int {
	n := 0
	for _, d := range ds {
		if r, ok := any(d).(ChainReporter); ok {
			r.ReportChainTo(v)
			n++
		}
	}
	return n
}

// chainMetrics are the per-producer chain counters.
type chainMetrics struct {
	maxProducers int
	producers    map[string]*producer
	other        *producer

	records, verified, missing *prometheus.CounterVec
	findings                   *prometheus.CounterVec
	overflow                   prometheus.Counter
	alerts                     [nKinds]prometheus.Counter
	alertN                     [nKinds]uint64
	alertVec                   *prometheus.CounterVec
}

// producer is one producer label's children and counts. Every findings
// child exists (at 0) from the producer's first record, so increase()
// sees a producer's first finding.
type producer struct {
	label                       string
	records, verified, missing  prometheus.Counter
	nRecords, nVerified, nMissd uint64
	findings                    [nKinds]prometheus.Counter
	nFindings                   [nKinds]uint64
}

func (c *chainMetrics) init(maxProducers int) {
	c.maxProducers = maxProducers
	c.producers = make(map[string]*producer)
	c.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_chain_records_total",
		Help: "Audit records carrying hash-chain fields, by producer (capped, see toolwatch_chain_producer_labels_overflow_total).",
	}, []string{"producer"})
	c.verified = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_chain_records_verified_total",
		Help: "Chained audit records whose hash and link to the previous record checked out, by producer.",
	}, []string{"producer"})
	c.missing = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_chain_records_missing_total",
		Help: "Sequence numbers skipped by chain gaps (records missing from the stream), by producer.",
	}, []string{"producer"})
	c.findings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_chain_findings_total",
		Help: "Chain-integrity findings by producer and kind (gap, fork, altered, prev_mismatch, bad_signature, unknown_key, missing_checkpoint, stopped_chaining, other).",
	}, []string{"producer", "kind"})
	c.overflow = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "toolwatch_chain_producer_labels_overflow_total",
		Help: "Chain records and findings counted under producer=\"other\" because the producer label cap was reached.",
	})
	c.alertVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_chain_alerts_total",
		Help: "Firing chain_integrity alerts emitted, by details.kind.",
	}, []string{"kind"})
	for i, k := range ChainKinds {
		c.alerts[i] = c.alertVec.WithLabelValues(k)
	}
}

func (c *chainMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(c.records, c.verified, c.missing, c.findings, c.overflow, c.alertVec)
}

// producer returns name's label, creating it while under the cap.
func (c *chainMetrics) producer(name string) *producer {
	if p, ok := c.producers[name]; ok {
		return p
	}
	if len(c.producers) >= c.maxProducers || !validLabel(name) {
		c.overflow.Inc()
		if c.other == nil {
			c.other = c.newProducer(OtherLabel)
		}
		return c.other
	}
	name = strings.Clone(name)
	p := c.newProducer(name)
	c.producers[name] = p
	return p
}

func (c *chainMetrics) newProducer(label string) *producer {
	p := &producer{label: label,
		records:  c.records.WithLabelValues(label),
		verified: c.verified.WithLabelValues(label),
		missing:  c.missing.WithLabelValues(label),
	}
	for k, kind := range ChainKinds {
		p.findings[k] = c.findings.WithLabelValues(label, kind)
	}
	return p
}

// Chained implements ChainStats.
func (v *View) Chained(producer string, verified bool) {
	if v.processed {
		return
	}
	p := v.chain.producer(producer)
	p.nRecords++
	p.records.Inc()
	if verified {
		p.nVerified++
		p.verified.Inc()
	}
}

// Finding implements ChainStats.
func (v *View) Finding(producer, kind string, missing uint64) {
	if v.processed {
		return
	}
	p := v.chain.producer(producer)
	k := kindIndex(kind)
	p.nFindings[k]++
	p.findings[k].Inc()
	if k == 0 && missing > 0 { // gap
		p.nMissd += missing
		p.missing.Add(float64(missing))
	}
}

// ChainSummary is the chain part of a Summary.
type ChainSummary struct {
	Records  uint64 `json:"records"`
	Verified uint64 `json:"verified"`
	// Producers by label, "other" last when used.
	Producers []ProducerCount `json:"producers"`
	// Alerts has every kind, in ChainKinds order.
	Alerts []Count `json:"alerts"`
}

// ProducerCount is one producer's chain figures. Tamper counts the
// findings of kinds fork, altered, prev_mismatch, bad_signature and
// unknown_key.
type ProducerCount struct {
	Producer string `json:"producer"`
	Records  uint64 `json:"records"`
	Verified uint64 `json:"verified"`
	Gaps     uint64 `json:"gaps"`
	Missing  uint64 `json:"records_missing"`
	Tamper   uint64 `json:"tamper"`
	// Findings by kind, only kinds seen, in ChainKinds order.
	Findings []Count `json:"findings"`
}

// tamperKinds are the ChainKinds indexes counted as tampering.
var tamperKinds = [...]int{1, 2, 3, 4, 5}

func (c *chainMetrics) summary() ChainSummary {
	s := ChainSummary{Producers: []ProducerCount{}, Alerts: make([]Count, nKinds)}
	add := func(p *producer) {
		pc := ProducerCount{Producer: p.label, Records: p.nRecords, Verified: p.nVerified,
			Gaps: p.nFindings[0], Missing: p.nMissd, Findings: []Count{}}
		for _, k := range tamperKinds {
			pc.Tamper += p.nFindings[k]
		}
		for k, n := range p.nFindings {
			if n > 0 {
				pc.Findings = append(pc.Findings, Count{ChainKinds[k], n})
			}
		}
		s.Records += p.nRecords
		s.Verified += p.nVerified
		s.Producers = append(s.Producers, pc)
	}
	names := make([]string, 0, len(c.producers))
	for n := range c.producers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(c.producers[n])
	}
	if c.other != nil {
		add(c.other)
	}
	for i, k := range ChainKinds {
		s.Alerts[i] = Count{k, c.alertN[i]}
	}
	return s
}
