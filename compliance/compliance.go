// Package compliance counts the compliance view of the audit stream: how
// many records carry a complete audit trail, which fields are missing,
// data-classification and retention-policy coverage, and — fed by the
// chain-integrity detector through ChainStats and by the alert stream —
// how many records are hash-chained and verified and how many gaps and
// tamper findings each producer has (a detector implementing
// ChainReporter gets the View through Attach). It exports Prometheus
// counters for the compliance dashboard (deploy/grafana/compliance.json)
// and a Summary for the status page. Nothing here scores or alerts.
//
// Completeness: a record is complete when it carries every field of the
// minimum audit set (the Field constants): trace id, span id, timestamp,
// agent, tool name and version, trust tier, input and output hash,
// duration, status, permissions (at least one entry in permissions_used or
// permissions_denied: the decoder cannot tell an absent list from an
// empty one) and data classification. Each missing field is counted on its
// own, so one record may count under several fields.
//
// Exact under replay: every stream record is counted by exactly one run.
// The daemon calls SetProcessed for each message with
// ingest.Message.Processed; while it is set (a record a previous run
// already applied and counted, re-applied after a restart or while
// rebuilding the baselines from the stream) nothing is counted — records,
// chain verdicts and chain alerts alike — so increase() over a restart
// neither loses nor doubles records. The one exception is a record applied
// but not yet acknowledged when a run crashed, which both runs count.
//
// Labels are bounded: environment and classification come from fixed sets
// (anything else is "other", absent is "none"); retention policies and
// producers are free text, so the first MaxRetentionPolicies /
// MaxProducers distinct values get their own label and later ones are
// counted under "other" and in the *_labels_overflow_total counters.
//
// A View is for one goroutine, the pipeline's: ObserveRecord is on the
// per-record path and does no allocation, lock or clock read once a
// record's retention policy is known — fixed arrays of pre-resolved
// counters and one map look-up. /metrics reads only client_golang's own
// concurrency-safe children; Summary is read on the View's goroutine.
package compliance

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/record"
)

// Field is one field of the minimum audit set.
type Field uint8

// The minimum audit set, in label order.
const (
	FieldTraceID Field = iota
	FieldSpanID
	FieldTimestamp
	FieldAgentID
	FieldToolName
	FieldToolVersion
	FieldTrustLevel
	FieldInputHash
	FieldOutputHash
	FieldDuration
	FieldStatus
	FieldPermissions
	FieldClassification
	NumFields
)

// fieldNames are the field label values: the record's JSON paths
// ("invocation.permissions" stands for permissions_used/_denied).
var fieldNames = [NumFields]string{
	"trace_id", "span_id", "timestamp", "agent_id", "tool.name", "tool.version",
	"tool.trust_level", "invocation.input_hash", "invocation.output_hash",
	"invocation.duration_ms", "invocation.status", "invocation.permissions",
	"context.data_classification",
}

func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return "unknown"
}

// Missing returns the fields of the minimum set that r lacks, as a bit set
// (bit f for Field f); 0 means r is complete.
func Missing(r *record.Record) uint16 {
	var m uint16
	set := func(f Field, missing bool) {
		if missing {
			m |= 1 << f
		}
	}
	inv := &r.Invocation
	set(FieldTraceID, r.TraceID == "")
	set(FieldSpanID, r.SpanID == "")
	set(FieldTimestamp, r.Timestamp.IsZero())
	set(FieldAgentID, r.AgentID == "")
	set(FieldToolName, r.Tool.Name == "")
	set(FieldToolVersion, r.Tool.Version == "")
	set(FieldTrustLevel, r.Tool.TrustLevel == "")
	set(FieldInputHash, inv.InputHash == "")
	set(FieldOutputHash, inv.OutputHash == "")
	set(FieldDuration, inv.DurationMS < 0)
	set(FieldStatus, inv.Status == "")
	set(FieldPermissions, len(inv.PermissionsUsed)+len(inv.PermissionsDenied) == 0)
	set(FieldClassification, r.Context.DataClassification == "")
	return m
}

// Label values.
const (
	OtherLabel = "other" // outside a fixed set, or past a label cap
	NoneLabel  = "none"  // the optional field was absent
)

// Fixed label sets; the last entry is the catch-all.
var (
	environments    = []string{"production", "staging", "development", "test", NoneLabel, OtherLabel}
	classifications = []string{"public", "internal", "confidential", "restricted", NoneLabel, OtherLabel}
)

const (
	nEnv   = 6
	nClass = 6
)

// Config bounds the free-text labels.
type Config struct {
	// MaxRetentionPolicies is how many distinct retention_policy values get
	// their own label (0: DefaultMaxRetentionPolicies).
	MaxRetentionPolicies int
	// MaxProducers is how many distinct producers get their own label in
	// the chain metrics (0: DefaultMaxProducers).
	MaxProducers int
}

// Label caps when Config leaves them 0.
const (
	DefaultMaxRetentionPolicies = 20
	DefaultMaxProducers         = 100
)

// View counts the compliance figures. Build with New.
type View struct {
	cfg       Config
	processed bool

	c counts

	records   [nEnv]prometheus.Counter
	complete  [nEnv]prometheus.Counter
	missing   [NumFields]prometheus.Counter
	class     [nClass]prometheus.Counter
	retVec    *prometheus.CounterVec
	retention map[string]*labelled // by policy, bounded; "" is none
	retOther  *labelled
	retOver   prometheus.Counter

	chain chainMetrics
}

// counts are the plain figures behind Summary, kept next to the
// Prometheus children so the status page reads them without a scrape.
type counts struct {
	records, complete [nEnv]uint64
	missing           [NumFields]uint64
	class             [nClass]uint64
}

// labelled is one free-text label's counter and count.
type labelled struct {
	label string
	c     prometheus.Counter
	n     uint64
}

// New builds a View and registers its metrics on reg (nil: not
// registered, for tests and replay).
func New(reg prometheus.Registerer, cfg Config) *View {
	if cfg.MaxRetentionPolicies <= 0 {
		cfg.MaxRetentionPolicies = DefaultMaxRetentionPolicies
	}
	if cfg.MaxProducers <= 0 {
		cfg.MaxProducers = DefaultMaxProducers
	}
	v := &View{cfg: cfg, retention: make(map[string]*labelled, cfg.MaxRetentionPolicies+1)}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_audit_records_total",
		Help: "Valid audit records counted by the compliance view (applied or late; not those a previous run already counted), by context.environment.",
	}, []string{"environment"})
	complete := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_audit_records_complete_total",
		Help: "Audit records carrying every field of the minimum audit set (trace and span id, timestamp, agent, tool name and version, trust level, input and output hash, duration, status, permissions, data classification), by context.environment.",
	}, []string{"environment"})
	missing := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_audit_field_missing_total",
		Help: "Audit records lacking a field of the minimum audit set, by field (a record lacking several counts under each).",
	}, []string{"field"})
	class := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_audit_records_by_classification_total",
		Help: "Audit records by context.data_classification (\"none\" when absent).",
	}, []string{"classification"})
	v.retVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolwatch_audit_records_by_retention_total",
		Help: "Audit records by retention_policy (\"none\" when absent; policies past the label cap are \"other\").",
	}, []string{"retention_policy"})
	v.retOver = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "toolwatch_audit_retention_labels_overflow_total",
		Help: "Audit records counted under retention_policy=\"other\" because the retention-policy label cap was reached.",
	})
	for i, e := range environments {
		v.records[i] = records.WithLabelValues(e)
		v.complete[i] = complete.WithLabelValues(e)
	}
	for f := range NumFields {
		v.missing[f] = missing.WithLabelValues(fieldNames[f])
	}
	for i, c := range classifications {
		v.class[i] = class.WithLabelValues(c)
	}
	v.retention[""] = &labelled{label: NoneLabel, c: v.retVec.WithLabelValues(NoneLabel)}
	v.chain.init(cfg.MaxProducers)
	if reg != nil {
		reg.MustRegister(records, complete, missing, class, v.retVec, v.retOver)
		v.chain.register(reg)
	}
	return v
}

// SetProcessed says whether the message being handled was already applied
// and counted by a previous run (ingest.Message.Processed). While set,
// nothing is counted. Call it before each message; false between messages.
func (v *View) SetProcessed(processed bool) { v.processed = processed }

// ObserveRecord counts one valid record (applied or late). Hot path: no
// allocation once the record's retention policy has been seen.
func (v *View) ObserveRecord(r *record.Record) {
	if v.processed {
		return
	}
	e := index(environments, r.Context.Environment)
	v.c.records[e]++
	v.records[e].Inc()
	if m := Missing(r); m == 0 {
		v.c.complete[e]++
		v.complete[e].Inc()
	} else {
		for f := range NumFields {
			if m&(1<<f) != 0 {
				v.c.missing[f]++
				v.missing[f].Inc()
			}
		}
	}
	c := index(classifications, r.Context.DataClassification)
	v.c.class[c]++
	v.class[c].Inc()
	l := v.retentionLabel(r.RetentionPolicy)
	l.n++
	l.c.Inc()
}

// retentionLabel returns the counter of policy's label, creating it while
// under the cap.
func (v *View) retentionLabel(policy string) *labelled {
	if l, ok := v.retention[policy]; ok {
		return l
	}
	// len-1: the "none" entry does not count against the cap.
	if len(v.retention)-1 >= v.cfg.MaxRetentionPolicies || !validLabel(policy) {
		v.retOver.Inc()
		if v.retOther == nil {
			v.retOther = &labelled{label: OtherLabel, c: v.retVec.WithLabelValues(OtherLabel)}
		}
		return v.retOther
	}
	policy = strings.Clone(policy) // may point into the decoder's buffer
	l := &labelled{label: policy, c: v.retVec.WithLabelValues(policy)}
	v.retention[policy] = l
	return l
}

// validLabel: client_golang panics on non-UTF-8 label values; the decoder
// guarantees UTF-8, records built in code might not. "other" and "none"
// are reserved for the catch-alls.
func validLabel(s string) bool {
	return s != "" && s != OtherLabel && s != NoneLabel && utf8.ValidString(s)
}

// ObserveAlert counts a firing alert of the chain-integrity pattern by its
// kind (Details[ChainKindKey]). Other alerts, resolutions and alerts of a
// processed message are not counted. Not on the per-record path.
func (v *View) ObserveAlert(a *alert.Alert) {
	if v.processed || a.Pattern != ChainPattern || a.Status != alert.StatusFiring {
		return
	}
	kind, _ := a.Details[ChainKindKey].(string)
	k := kindIndex(kind)
	v.chain.alertN[k]++
	v.chain.alerts[k].Inc()
}

// index returns the position of s in set; "" is "none", anything unknown
// the last (catch-all) position.
func index(set []string, s string) int {
	if s == "" {
		return len(set) - 2
	}
	for i, x := range set[:len(set)-2] {
		if x == s {
			return i
		}
	}
	return len(set) - 1
}

// Count is one labelled figure of a Summary.
type Count struct {
	Label string `json:"label"`
	N     uint64 `json:"count"`
}

// EnvCount is one environment's records and complete records.
type EnvCount struct {
	Environment string `json:"environment"`
	Records     uint64 `json:"records"`
	Complete    uint64 `json:"complete"`
}

// Summary is the compliance view for the status page: counts since this
// run started (records a previous run counted excluded). Shares are left
// to the reader (complete / records).
type Summary struct {
	Records  uint64 `json:"records"`
	Complete uint64 `json:"complete"`
	// MissingFields has every field of the minimum set, in set order.
	MissingFields []Count `json:"missing_fields"`
	// Environments lists those with records, in label order.
	Environments []EnvCount `json:"environments"`
	// Classifications has every classification label, in label order.
	Classifications []Count `json:"classifications"`
	// RetentionPolicies: "none" first, then the policies by count
	// (descending) and name, "other" last when used.
	RetentionPolicies []Count      `json:"retention_policies"`
	Chain             ChainSummary `json:"chain"`
}

// Summary returns the current figures. It allocates; call it on the View's
// goroutine, off the per-record path (the status page publishes once a
// second).
func (v *View) Summary() Summary {
	s := Summary{
		MissingFields:   make([]Count, NumFields),
		Environments:    []EnvCount{},
		Classifications: make([]Count, nClass),
	}
	for i, e := range environments {
		s.Records += v.c.records[i]
		s.Complete += v.c.complete[i]
		if v.c.records[i] > 0 {
			s.Environments = append(s.Environments, EnvCount{e, v.c.records[i], v.c.complete[i]})
		}
	}
	for f := range NumFields {
		s.MissingFields[f] = Count{fieldNames[f], v.c.missing[f]}
	}
	for i, c := range classifications {
		s.Classifications[i] = Count{c, v.c.class[i]}
	}
	for _, l := range v.retention {
		if l.label != NoneLabel {
			s.RetentionPolicies = append(s.RetentionPolicies, Count{l.label, l.n})
		}
	}
	sortCounts(s.RetentionPolicies)
	s.RetentionPolicies = append([]Count{{NoneLabel, v.retention[""].n}}, s.RetentionPolicies...)
	if v.retOther != nil {
		s.RetentionPolicies = append(s.RetentionPolicies, Count{OtherLabel, v.retOther.n})
	}
	s.Chain = v.chain.summary()
	return s
}

// sortCounts orders by count, descending, then label.
func sortCounts(cs []Count) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].N != cs[j].N {
			return cs[i].N > cs[j].N
		}
		return cs[i].Label < cs[j].Label
	})
}
