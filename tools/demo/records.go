// Package demo holds the pieces of `detector demo` and `detector simulate
// --nats`: a publisher of simulated audit traffic with injected anomalies
// (Publish, Simulate), the record sequence it publishes without NATS
// (Records, for tests and backtests), and a live alert printer (Subscribe,
// Printer).
//
// The demo's detectors run in event time and need history before they
// alert (frequency and denial_spike: 24h of event time; output_size and
// latency: 200 samples per key; input_novelty: 500 records and 24h per
// tool; egress: 200 calls and 24h per tool). So the demo first publishes a
// compressed backlog — the simulated traffic of [now−History, now) as fast
// as NATS takes it — then live traffic stamped with the wall clock, into
// which it injects one anomaly of each of the seven patterns a few seconds
// apart, so alerts fire live. One agent's records are hash-chained and
// send-email calls carry hashed recipients (dress.go). Records go out in
// event-time order and are never stamped in the future.
package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// Phase is the part of the demo a record belongs to.
type Phase uint8

const (
	// PhaseHistory is the compressed backlog, published as fast as
	// possible.
	PhaseHistory Phase = iota
	// PhaseLive is real-time traffic stamped with the wall clock.
	PhaseLive
)

func (p Phase) String() string {
	if p == PhaseHistory {
		return "history"
	}
	return "live"
}

// Injected is one anomaly injected in the live phase: the ground truth the
// summary checks the alerts against.
type Injected struct {
	Pattern     string
	AgentID     string
	Tool        string
	Start, End  time.Time // event times of its first and last record
	Records     int
	Description string
}

// PublishConfig configures Publish and Records. Zero fields take the
// defaults noted.
type PublishConfig struct {
	Seed uint64
	// History is the backlog of event time before the start; default 26h
	// (frequency and denial_spike need 24h of warm-up).
	History time.Duration
	// Live is the real-time phase; default 60s. It must hold Lead +
	// 6*Spacing + Burst (seven anomalies).
	Live time.Duration
	// Rate is the simulated traffic rate (sim.Config.Rate: mean calls/s of
	// the agents, before the day/night factor of 0.4–1.6), the same in the
	// history and the live phase so live traffic matches its baseline;
	// default 1.5 (~140k history records for 26h).
	Rate float64
	// SubjectPrefix: records go to <prefix>.<environment>.<agent_id>;
	// default "audit.records".
	SubjectPrefix string
	// Lead is live traffic before the first anomaly; default 10s.
	Lead time.Duration
	// Spacing separates the starts of the anomalies; default 6s.
	Spacing time.Duration
	// Burst is the length of the frequency burst; default 5s.
	Burst time.Duration
	// BurstFactor is the frequency burst's size in multiples of the key's
	// usual calls per 5-minute window in the last hour of history (at
	// least 200 calls); default 50.
	BurstFactor float64
	// FlushEvery is how many messages go out between flushes (a round trip
	// to the server, the publisher's backpressure); default 1000.
	FlushEvery int
	// JetStream publishes with JetStream acknowledgements (at most
	// FlushEvery in flight) instead of core NATS: slower, but a record is
	// stored once it is acknowledged. Needs a stream over the subjects.
	JetStream bool
	// Now is the wall clock; default time.Now.
	Now func() time.Time
	// Topology is the simulated deployment; nil means sim.DefaultTopology().
	// It must contain the agents and tools of the injected anomalies.
	Topology *sim.Topology
}

func (c PublishConfig) withDefaults() (PublishConfig, error) {
	if c.History <= 0 {
		c.History = 26 * time.Hour
	}
	if c.Live <= 0 {
		c.Live = time.Minute
	}
	if c.Rate <= 0 {
		c.Rate = 1.5
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "audit.records"
	}
	if c.Lead <= 0 {
		c.Lead = 10 * time.Second
	}
	if c.Spacing <= 0 {
		c.Spacing = 6 * time.Second
	}
	if c.Burst <= 0 {
		c.Burst = 5 * time.Second
	}
	if c.BurstFactor <= 0 {
		c.BurstFactor = 50
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Topology == nil {
		t := sim.DefaultTopology()
		c.Topology = &t
	}
	if need := c.Lead + time.Duration(len(anomalies)-1)*c.Spacing + c.Burst; c.Live < need {
		return c, fmt.Errorf("demo: live phase %s too short for the anomalies (lead + %d×spacing + burst = %s)", c.Live, len(anomalies)-1, need)
	}
	if c.Burst > c.Spacing {
		return c, fmt.Errorf("demo: burst %s longer than the spacing %s", c.Burst, c.Spacing)
	}
	if err := checkTopology(c.Topology); err != nil {
		return c, fmt.Errorf("demo: %w", err)
	}
	return c, nil
}

// checkTopology: t has the agents and tools of every anomaly.
func checkTopology(t *sim.Topology) error {
	for _, a := range anomalies {
		if findAgent(t, a.agent) == nil || findTool(t, a.tool) == nil || (a.lead != "" && findTool(t, a.lead) == nil) {
			return fmt.Errorf("topology lacks agent %q or tool %q of the %s anomaly", a.agent, a.tool, a.pattern)
		}
	}
	return nil
}

// anomaly is one crafted anomaly of the live phase.
type anomaly struct {
	pattern, agent, tool string
	calls                int // 0 for the frequency burst (sized from history)
	modify               func(r *record.Record)
	// lead: the first call is of this tool instead, and its output
	// mentions the destinations the later calls send to (egress).
	lead string
	// tamper alters the record after it was chained (chain_integrity).
	tamper   func(r *record.Record)
	describe func(calls int, span time.Duration) string
}

// anomalies are injected in this order, one per Spacing. Each targets an
// (agent, tool) whose baseline is warm after 24h of history even at a low
// Rate, and each is far past its detector's default threshold:
//   - frequency: ~BurstFactor × the key's usual calls per 5m, within Burst
//     (the spike threshold is 5×, reported as the count crosses it);
//   - input_novelty: a text/sql-injection input (always alerts, critical);
//   - denial_spike: network:connect denied at summarize, a tool never
//     denied anything (first dangerous denied type, critical);
//   - output_size: ~100 MB from a ~1 KB tool (threshold 8 × p99 ≈ 20 KB);
//   - latency: ~30 s at a ~200 ms tool (threshold 8 × p99 ≈ 4 s);
//   - chain_integrity: a record of the chained billing runtime whose
//     output_hash is rewritten after it was chained (altered, critical);
//   - egress: send-email to an address never mailed before (a closed
//     vocabulary of six contacts), read from a vector-search result of the
//     same task: a prompt injection that changes only the recipient.
var anomalies = []anomaly{
	{pattern: detect.PatternFrequency, agent: "support-agent-prod-01", tool: "customer-lookup",
		describe: func(n int, d time.Duration) string {
			return fmt.Sprintf("burst of %d customer-lookup calls in %s (a prompt-injected loop)", n, d)
		}},
	{pattern: detect.PatternInputNovelty, agent: "analytics-agent-prod-01", tool: "db-query", calls: 3,
		modify:   func(r *record.Record) { r.Invocation.InputShape = "text/sql-injection" },
		describe: func(int, time.Duration) string { return "SQL-injection-like text input at db-query" }},
	{pattern: detect.PatternDenialSpike, agent: "support-agent-prod-02", tool: "summarize", calls: 3,
		modify: func(r *record.Record) {
			r.Invocation.Status = record.StatusDenied
			r.Invocation.PermissionsUsed = nil
			r.Invocation.PermissionsDenied = []string{"network:connect"}
			r.Invocation.DurationMS = 4
			r.Invocation.OutputBytes = 0
			r.Invocation.OutputHash = ""
		},
		describe: func(int, time.Duration) string {
			return "summarize denied network:connect (it was never denied anything) in production"
		}},
	{pattern: detect.PatternOutputSize, agent: "support-agent-prod-02", tool: "customer-lookup", calls: 3,
		modify:   func(r *record.Record) { r.Invocation.OutputBytes = 100_000_000 },
		describe: func(int, time.Duration) string { return "customer-lookup (~1 KB outputs) returned ~100 MB" }},
	{pattern: detect.PatternLatency, agent: "billing-agent-prod-01", tool: "customer-lookup", calls: 3,
		modify:   func(r *record.Record) { r.Invocation.DurationMS = 30_000 },
		describe: func(int, time.Duration) string { return "customer-lookup (~200 ms) took ~30 s" }},
	{pattern: detect.PatternChainIntegrity, agent: chainedAgent, tool: "invoice-generator", calls: 1,
		tamper: func(r *record.Record) { r.Invocation.OutputHash = hashOf("forged-invoice", 0, "out") },
		describe: func(int, time.Duration) string {
			return "an invoice-generator record of the billing runtime's hash chain rewritten after it was chained"
		}},
	{pattern: detect.PatternEgress, agent: "support-agent-prod-01", tool: mailTool, calls: 2, lead: "vector-search",
		modify: func(r *record.Record) { r.Invocation.Destinations = hashedDests().attacker },
		describe: func(int, time.Duration) string {
			return "send-email to a never-seen address that a vector-search result of the same task asked for"
		}},
}

// Records produces the record sequence Publish publishes, without NATS and
// without waiting: the history, then the live phase starting at cfg.Now()
// read once the history is done (with a fixed clock, right after it).
// emit gets each record (valid only during the call) and its phase; an
// error from emit stops the generation. It returns the injected anomalies.
func Records(cfg PublishConfig, emit func(r *record.Record, p Phase) error) ([]Injected, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	end := cfg.Now()
	d := newDresser(end.Add(-cfg.History))
	burstBase, err := history(cfg, end, d, func(r *record.Record) error { return emit(r, PhaseHistory) })
	if err != nil {
		return nil, err
	}
	return live(cfg, cfg.Now(), burstBase, d, func(r *record.Record, _ *Injected) error { return emit(r, PhaseLive) })
}

// history emits the normal traffic of [end−History, end) and returns the
// frequency anomaly key's mean calls per 5 minutes over its last hour.
func history(cfg PublishConfig, end time.Time, d *dresser, emit func(r *record.Record) error) (float64, error) {
	end = end.UTC().Truncate(time.Millisecond)
	lastHour := end.Add(-time.Hour)
	freq := anomalies[0]
	n := 0
	err := sim.Generate(sim.Config{
		Seed: cfg.Seed, Start: end.Add(-cfg.History), Duration: cfg.History,
		Topology: cfg.Topology, Rate: cfg.Rate, NoAnomalies: true,
	}, func(r *record.Record, _ sim.Truth) error {
		if !r.Timestamp.Before(lastHour) && r.AgentID == freq.agent && r.Tool.Name == freq.tool {
			n++
		}
		d.dress(r, nil)
		return emit(r)
	})
	if err != nil {
		return 0, fmt.Errorf("generate history: %w", err)
	}
	span := min(cfg.History, time.Hour)
	return float64(n) / (span.Minutes() / 5), nil
}

// live emits the live phase starting at start: normal traffic (an
// independent simulation of the same deployment and rate) merged in
// event-time order with the injected anomalies' records. emit gets the
// anomaly for an anomaly's records, nil for normal ones.
func live(cfg PublishConfig, start time.Time, burstBase float64, d *dresser, emit func(r *record.Record, inj *Injected) error) ([]Injected, error) {
	start = start.UTC().Truncate(time.Millisecond)
	inj := &injector{
		top: cfg.Topology, burst: cfg.Burst, burstCalls: burstCalls(cfg.BurstFactor, burstBase),
		end: start.Add(cfg.Live),
		schedule: func(j int) (time.Time, bool) {
			return start.Add(cfg.Lead + time.Duration(j)*cfg.Spacing), j < len(anomalies)
		},
	}
	err := merge(sim.Config{
		Seed: cfg.Seed + 1, Start: start, Duration: cfg.Live,
		Topology: cfg.Topology, Rate: cfg.Rate, NoAnomalies: true,
	}, inj, d, emit)
	if err != nil {
		return inj.list(), fmt.Errorf("generate live traffic: %w", err)
	}
	return inj.list(), nil
}

func burstCalls(factor, base float64) int { return int(math.Max(200, math.Ceil(factor*base))) }

// merge emits the normal traffic of sc merged in event-time order with the
// anomaly records of inj, each dressed by d.
func merge(sc sim.Config, inj *injector, d *dresser, emitRaw func(r *record.Record, inj *Injected) error) error {
	emit := func(r *record.Record, in *Injected) error {
		d.dress(r, in)
		return emitRaw(r, in)
	}
	err := sim.Generate(sc, func(r *record.Record, _ sim.Truth) error {
		if err := inj.emitBefore(r.Timestamp.Add(time.Nanosecond), emit); err != nil {
			return err
		}
		return emit(r, nil)
	})
	if err != nil {
		return err
	}
	return inj.emitBefore(inj.end, emit)
}

// injector builds the anomaly records on demand, anomaly j (cycling
// through anomalies) at schedule(j), and emits them in timestamp order.
// An anomaly whose records would reach end is not injected.
type injector struct {
	top        *sim.Topology
	burst      time.Duration // span of the frequency burst
	burstCalls int
	end        time.Time
	schedule   func(j int) (time.Time, bool)

	next     int // next anomaly to build
	done     bool
	pending  []injRecord // built, not yet emitted, sorted by timestamp
	injected []*Injected
}

type injRecord struct {
	rec record.Record
	inj *Injected
}

// list returns the anomalies injected so far.
func (in *injector) list() []Injected {
	out := make([]Injected, len(in.injected))
	for i, p := range in.injected {
		out[i] = *p
	}
	return out
}

// emitBefore emits every anomaly record stamped before t.
func (in *injector) emitBefore(t time.Time, emit func(r *record.Record, inj *Injected) error) error {
	for !in.done {
		at, ok := in.schedule(in.next)
		if !ok || !at.Before(t) {
			in.done = !ok
			break
		}
		in.build(in.next, at)
		in.next++
	}
	n := 0
	for n < len(in.pending) && in.pending[n].rec.Timestamp.Before(t) {
		if err := emit(&in.pending[n].rec, in.pending[n].inj); err != nil {
			in.pending = in.pending[n:]
			return err
		}
		n++
	}
	in.pending = append(in.pending[:0], in.pending[n:]...)
	return nil
}

// build adds the records of the j-th anomaly, starting at at.
func (in *injector) build(j int, at time.Time) {
	a := anomalies[j%len(anomalies)]
	calls, span := a.calls, min(time.Second, in.burst)
	if calls == 0 { // the frequency burst
		calls, span = in.burstCalls, in.burst
	}
	if at.Add(span).After(in.end) {
		return
	}
	ag, tl := findAgent(in.top, a.agent), findTool(in.top, a.tool)
	inj := &Injected{Pattern: a.pattern, AgentID: a.agent, Tool: a.tool, Records: calls, Description: a.describe(calls, span)}
	var first, last time.Time
	for k := range calls {
		ts := at.Add(time.Duration(int64(span) * int64(k) / int64(calls))).Truncate(time.Millisecond)
		r := craft(ag, tl, ts, a.pattern, j, k)
		if a.modify != nil {
			a.modify(&r)
		}
		if k == 0 && a.lead != "" {
			// The same task first reads a document naming the
			// destinations the calls then send to.
			lr := craft(ag, findTool(in.top, a.lead), ts, a.pattern, j, k)
			lr.Invocation.OutputDestinations = r.Invocation.Destinations
			r = lr
		}
		in.pending = append(in.pending, injRecord{rec: r, inj: inj})
		if k == 0 {
			first = ts
		}
		last = ts
	}
	inj.Start, inj.End = first, last
	in.injected = append(in.injected, inj)
	slices.SortStableFunc(in.pending, func(x, y injRecord) int { return x.rec.Timestamp.Compare(y.rec.Timestamp) })
}

// craft is a successful call of tool by agent at ts with the tool's usual
// values, one task per anomaly.
func craft(a *sim.Agent, t *sim.Tool, ts time.Time, pattern string, j, k int) record.Record {
	task := "-demo-" + pattern + "-" + strconv.Itoa(j+1)
	shape := ""
	if len(t.Shapes) > 0 {
		shape = t.Shapes[0].Shape
	}
	return record.Record{
		TraceID:      "agent-task-" + ts.Format("2006-01-02") + task,
		SpanID:       "tool-call-" + strconv.Itoa(1000+k),
		ParentSpanID: "reasoning-step-" + strconv.Itoa(1000+k/2),
		Timestamp:    ts,
		AgentID:      a.ID,
		Tool: record.Tool{Name: t.Name, Version: t.Version, Publisher: t.Publisher,
			TrustLevel: t.TrustLevel, VerificationScore: t.VerificationScore},
		Invocation: record.Invocation{
			InputHash:       hashOf(task, k, "in"),
			OutputHash:      hashOf(task, k, "out"),
			DurationMS:      math.Round(t.LatencyMS),
			Status:          record.StatusSuccess,
			PermissionsUsed: t.Permissions,
			OutputBytes:     int64(math.Round(t.OutputBytes)),
			InputBytes:      int64(math.Round(t.InputBytes)),
			InputShape:      shape,
		},
		Context: record.Context{TaskID: a.TaskPrefix + task, UserID: a.UserID,
			DataClassification: t.Classification, Environment: a.Environment},
		DataSubjectsAffected: record.Absent,
	}
}

func hashOf(task string, k int, salt string) string {
	h := sha256.Sum256([]byte(task + "|" + strconv.Itoa(k) + "|" + salt))
	return "sha256:" + hex.EncodeToString(h[:])
}

func findAgent(t *sim.Topology, id string) *sim.Agent {
	for i := range t.Agents {
		if t.Agents[i].ID == id {
			return &t.Agents[i]
		}
	}
	return nil
}

func findTool(t *sim.Topology, name string) *sim.Tool {
	for i := range t.Tools {
		if t.Tools[i].Name == name {
			return &t.Tools[i]
		}
	}
	return nil
}
