// Package sim generates seeded multi-agent audit traffic (docs/design.md §2
// records) with labeled injected anomalies, for backtests, benchmarks, the
// evaluation gate (tools/eval) and the demo. Two profiles:
//
// ProfileRealistic (RealisticTopology, RealisticAnomalies; what `detector
// simulate` writes by default) is a week of fleet traffic built from
// public measurements of real traffic (docs/design.md §11) so that the detectors are judged on traffic that
// does not flatter them: log-normal latencies with σ 1.5–1.7 and a SQL tool
// whose Pareto-tailed mixture puts p99.9 at 10–20× p99 (legitimate 20–50 s
// queries), heavy-tailed output sizes (a file reader with p99 ≈ 500 KB and
// occasional 5 MB files), calls in bursty tasks of 3–30 with retries,
// weekends at ×0.35 and ±15% day-to-day levels, a sync agent at random
// hours a few times a week, a nightly batch plus on-demand runs, routine
// denials every day in production and development, provider error
// incidents, a version rollout spreading across agents, agents idle for
// days, joining and leaving. Every behaviour is seeded and listed by
// Behaviours, so a false alarm can be attributed to the behaviour that
// caused it. Anomalies include the moderate, sustained changes a detector
// tuned on easy traffic misses (a ×8 rate on a 12/h key, a ×20 spike of a
// routine denial, 3× median latency shifts, outputs or latencies collapsing
// toward zero, a tool that stops being called while its agent works) next
// to the egregious ones; they are placed where their label is honest (the
// agent active, away from batch runs, rollouts, incidents and each other).
//
// ProfileEasy (the zero value; DefaultTopology, DefaultAnomalies) is the
// original 72 h scenario: a smooth day/night cycle (rate ×4 from the 02:00
// UTC trough to the 14:00 peak), a nightly batch burst of db-query calls by
// the report agent at 02:00–02:20 every day, slow legitimate drift
// (vector-search latency +30%, file-reader output +40% over the run), a
// version upgrade of http-fetch on day 2 that makes it 1.5× slower for good,
// agents joining on day 2, an open input vocabulary at web-search, ~1%
// errors, rare timeouts, and a staging agent with occasional denials
// (production agents are never denied). The pipeline benchmarks, replay
// tests, the demo and the original end-to-end gate use it.
//
// Anomalies (Plan) are injected only after a warm-up (24 h easy, 48 h
// realistic) as extra records labeled with their anomaly id in Truth, or, for
// shifts and drops, by modifying (and labeling) or withholding the key's
// normal records in the window. Output is a pure function of Config: the
// same seed gives the same records in the same order. Normal traffic, the
// realistic schedule, each anomaly and jitter draw from separate PCG
// streams, so the normal-only twin (NoAnomalies) has exactly the labeled
// set's normal records, in the same order (in the easy profile only
// without Jitter, whose stream it shares with the anomalies).
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// Config configures a simulation. The zero value (with a Seed) is the
// default 72h scenario.
type Config struct {
	Seed uint64
	// Profile picks the scenario: "" or ProfileEasy (the original 72 h
	// run) or ProfileRealistic (a week of REALISM.md traffic). Fields left
	// zero take the profile's defaults.
	Profile  string
	Start    time.Time     // default 2026-03-23T00:00:00Z
	Duration time.Duration // default 72h
	// Topology is the agents and tools; nil means DefaultTopology().
	Topology *Topology
	// Rate is the mean normal calls/s of the agents present from the start
	// (the agents' Rates are scaled to sum to it); default 1.5, which gives
	// ~450k records over 72h. In the realistic profile 0 keeps the
	// topology's own rates (~325k records a week).
	Rate float64
	// Scale multiplies every rate (normal, batch, loops), default 1. Scale
	// 2.2 gives ~1,000,000 normal records over 72h.
	Scale float64
	// Anomalies to inject; nil means DefaultAnomalies().
	Anomalies []AnomalySpec
	// Patterns, if non-empty, keeps only anomalies of these patterns.
	Patterns []string
	// NoAnomalies turns injection off (normal traffic only).
	NoAnomalies bool
	// WarmUp is the anomaly-free start of the run; default 24h.
	WarmUp time.Duration
	// Jitter, if > 0, emits records out of event-time order: each record
	// is delayed by a random amount below Jitter, so a record's timestamp
	// is never more than Jitter older than one emitted before it.
	Jitter time.Duration
}

// DefaultStart is the default start of the simulated time.
var DefaultStart = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

// Truth labels an emitted record: AnomalyID is the injected anomaly it
// belongs to, "" for normal traffic.
type Truth struct {
	AnomalyID string
}

func (c Config) withDefaults() Config {
	if c.Profile == ProfileRealistic {
		return c.realisticDefaults()
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if c.Duration <= 0 {
		c.Duration = 72 * time.Hour
	}
	if c.Topology == nil {
		t := DefaultTopology()
		c.Topology = &t
	}
	if c.Rate <= 0 {
		c.Rate = 1.5
	}
	if c.Scale <= 0 {
		c.Scale = 1
	}
	if c.Anomalies == nil {
		c.Anomalies = DefaultAnomalies()
	}
	if c.WarmUp <= 0 {
		c.WarmUp = 24 * time.Hour
	}
	return c
}

func (c Config) wants(pattern string) bool {
	return len(c.Patterns) == 0 || slices.Contains(c.Patterns, pattern)
}

func (c Config) index() (agents, tools map[string]int) {
	agents = make(map[string]int, len(c.Topology.Agents))
	tools = make(map[string]int, len(c.Topology.Tools))
	for i, a := range c.Topology.Agents {
		agents[a.ID] = i
	}
	for i, t := range c.Topology.Tools {
		tools[t.Name] = i
	}
	return agents, tools
}

// slice is the generation step: every stream's Poisson count is drawn per
// slice, then the slice's events are sorted by time.
const slice = 10 * time.Second

// stream is one (agent, tool) source of normal calls.
type stream struct {
	agent, tool int
	rate        float64 // mean calls/s before the diurnal factor
}

type agentState struct {
	task      int
	callsLeft int
	span      int
	traceID   string
	taskID    string
}

type event struct {
	at   time.Time // emission key: ts + jitter delay
	seq  uint64
	rec  record.Record
	anom string
}

type gen struct {
	cfg      Config
	top      *Topology
	streams  []stream
	batches  []stream // agent's batch tool at Batch.Rate
	plan     []planned
	normal   *rand.Rand
	anomRng  []*rand.Rand
	jitter   *rand.Rand
	agents   []agentState
	anomTask []agentState
	seq      uint64
	pending  []event
	denied   map[string][]string

	// realistic profile
	sched     *schedule
	k         float64 // agent rate factor
	calls     callHeap
	callSeq   uint64
	useTool   [][]int // per agent: tool index of each Use
	toolIdx   map[string]int
	taskN     []int
	runTask   map[[2]int64]*task
	mods      []int // plan indexes of shift and drop anomalies
	anomTasks []*task
	episodes  *[]Behaviour // if set, collects benign loops and misnamed arguments
}

// Generate produces the records of cfg in emission order (event-time order,
// up to cfg.Jitter) and calls emit for each with its label. The record is
// only valid during the call (copy it with Clone to keep it). An error from
// emit stops the generation and is returned.
func Generate(cfg Config, emit func(r *record.Record, truth Truth) error) error {
	cfg = cfg.withDefaults()
	g, err := newGen(cfg)
	if err != nil {
		return err
	}
	return g.run(emit)
}

func (g *gen) run(emit func(r *record.Record, truth Truth) error) error {
	cfg := g.cfg
	end := cfg.Start.Add(cfg.Duration)
	for t := cfg.Start; t.Before(end); t = t.Add(slice) {
		next := t.Add(slice)
		if next.After(end) {
			next = end
		}
		if g.sched != nil {
			g.realSlice(t, next)
			g.realAnomalySlice(t, next)
		} else {
			g.normalSlice(t, next)
			g.anomalySlice(t, next)
		}
		slices.SortFunc(g.pending, func(a, b event) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			if a.seq < b.seq {
				return -1
			}
			return 1
		})
		// Events of later slices are stamped >= next, so everything that
		// arrives before next is final.
		n := 0
		for n < len(g.pending) && (g.pending[n].at.Before(next) || !next.Before(end)) {
			if err := emit(&g.pending[n].rec, Truth{AnomalyID: g.pending[n].anom}); err != nil {
				return err
			}
			n++
		}
		g.pending = append(g.pending[:0], g.pending[n:]...)
	}
	for i := range g.pending { // arrivals past the end
		if err := emit(&g.pending[i].rec, Truth{AnomalyID: g.pending[i].anom}); err != nil {
			return err
		}
	}
	return nil
}

func newGen(cfg Config) (*gen, error) {
	if cfg.Profile == ProfileRealistic {
		return newRealGen(cfg)
	}
	top := cfg.Topology
	_, tools := cfg.index()
	g := &gen{cfg: cfg, top: top, denied: map[string][]string{}}
	var nominal float64
	for _, a := range top.Agents {
		if a.Joins == 0 {
			nominal += a.Rate
		}
	}
	if nominal <= 0 {
		return nil, fmt.Errorf("simulate: no agent with a positive rate from the start")
	}
	k := cfg.Rate / nominal * cfg.Scale
	for ai, a := range top.Agents {
		var sumW float64
		for _, u := range a.Tools {
			sumW += u.Weight
		}
		for _, u := range a.Tools {
			ti, ok := tools[u.Tool]
			if !ok {
				return nil, fmt.Errorf("simulate: agent %s uses unknown tool %q", a.ID, u.Tool)
			}
			g.streams = append(g.streams, stream{agent: ai, tool: ti, rate: a.Rate * u.Weight / sumW * k})
		}
		if a.Batch != nil {
			ti, ok := tools[a.Batch.Tool]
			if !ok {
				return nil, fmt.Errorf("simulate: batch of agent %s uses unknown tool %q", a.ID, a.Batch.Tool)
			}
			g.batches = append(g.batches, stream{agent: ai, tool: ti, rate: a.Batch.Rate * cfg.Scale})
		}
	}
	g.plan = plan(cfg)
	g.normal = rand.New(rand.NewPCG(cfg.Seed, 1))
	g.jitter = rand.New(rand.NewPCG(cfg.Seed, 2))
	for i := range g.plan {
		g.anomRng = append(g.anomRng, rand.New(rand.NewPCG(cfg.Seed, 100+uint64(i))))
	}
	g.agents = make([]agentState, len(top.Agents))
	g.anomTask = make([]agentState, len(g.plan))
	return g, nil
}

// diurnal is the smooth day/night factor: mean 1, peak 1.6 at 14:00 UTC,
// trough 0.4 at 02:00 UTC (a ×4 swing).
func diurnal(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return 1 + 0.6*math.Cos(2*math.Pi*(h-14)/24)
}

func (g *gen) normalSlice(from, to time.Time) {
	dt := to.Sub(from).Seconds()
	off := from.Sub(g.cfg.Start)
	d := diurnal(from)
	for _, s := range g.streams {
		a := &g.top.Agents[s.agent]
		if off < a.Joins {
			continue
		}
		lam := s.rate * dt
		if a.Diurnal {
			lam *= d
		}
		for n := poisson(g.normal, lam); n > 0; n-- {
			ts := randTime(g.normal, from, to)
			g.add(ts, "", g.normalRecord(ts, s.agent, s.tool, -1))
		}
	}
	for _, s := range g.batches {
		b := g.top.Agents[s.agent].Batch
		day := from.Truncate(24 * time.Hour)
		bs := day.Add(time.Duration(b.Hour)*time.Hour + time.Duration(b.Minute)*time.Minute)
		if from.Before(bs) || !from.Before(bs.Add(b.Length)) {
			continue
		}
		for n := poisson(g.normal, s.rate*dt); n > 0; n-- {
			ts := randTime(g.normal, from, to)
			q := 0
			if b.Queries > 0 {
				q = g.normal.IntN(b.Queries)
			}
			g.add(ts, "", g.normalRecord(ts, s.agent, s.tool, q))
		}
	}
}

func (g *gen) add(ts time.Time, anom string, rec record.Record) {
	at := ts
	if g.cfg.Jitter > 0 {
		at = ts.Add(time.Duration(g.jitter.Int64N(int64(g.cfg.Jitter))))
	}
	g.seq++
	g.pending = append(g.pending, event{at: at, seq: g.seq, rec: rec, anom: anom})
}

// normalRecord draws one call of agent ai to tool ti at ts from the normal
// stream. query >= 0 picks a fixed batch input.
func (g *gen) normalRecord(ts time.Time, ai, ti, query int) record.Record {
	r := g.normal
	a := &g.top.Agents[ai]
	t := &g.top.Tools[ti]
	st := &g.agents[ai]
	if st.callsLeft <= 0 {
		g.newTask(r, st, a, ts)
	}
	st.callsLeft--
	rec := g.baseRecord(r, ts, a, t, st)
	if query >= 0 {
		rec.Invocation.InputHash = hashOf(uint64(ti)<<40|1<<39|uint64(query), 0)
		rec.Invocation.InputShape = t.Shapes[0].Shape
	}
	u := r.Float64()
	switch {
	case u < a.DenialRate && len(a.DenyPerms) > 0:
		g.deny(&rec, a.DenyPerms[r.IntN(len(a.DenyPerms))])
	case u < a.DenialRate+t.ErrorRate:
		rec.Invocation.Status = record.StatusError
		rec.Invocation.DurationMS = math.Max(1, math.Round(rec.Invocation.DurationMS*0.3))
		rec.Invocation.OutputBytes = 80 + r.Int64N(120)
	case u < a.DenialRate+t.ErrorRate+t.TimeoutRate:
		rec.Invocation.Status = record.StatusTimeout
		rec.Invocation.DurationMS = t.TimeoutMS
		rec.Invocation.OutputBytes = 0
	}
	return rec
}

func (g *gen) deny(rec *record.Record, perm string) {
	d, ok := g.denied[perm]
	if !ok {
		d = []string{perm}
		g.denied[perm] = d
	}
	rec.Invocation.Status = record.StatusDenied
	rec.Invocation.PermissionsUsed = nil
	rec.Invocation.PermissionsDenied = d
	rec.Invocation.DurationMS = float64(2 + len(perm)%7)
	rec.Invocation.OutputBytes = 0
	rec.Invocation.OutputHash = ""
}

func (g *gen) newTask(r *rand.Rand, st *agentState, a *Agent, ts time.Time) {
	st.task++
	st.span = 0
	st.callsLeft = 1 + int(r.ExpFloat64()*5)
	st.taskID = a.TaskPrefix + "-" + strconv.Itoa(10000+st.task)
	st.traceID = "agent-task-" + ts.Format("2006-01-02") + "-" + strconv.FormatUint(r.Uint64()>>40, 16)
}

// baseRecord is a successful call with the tool's current distributions.
func (g *gen) baseRecord(r *rand.Rand, ts time.Time, a *Agent, t *Tool, st *agentState) record.Record {
	st.span++
	frac := ts.Sub(g.cfg.Start).Hours() / g.cfg.Duration.Hours()
	version := t.Version
	lat := t.LatencyMS * (1 + t.LatencyDrift*frac)
	if t.Upgrade != nil && ts.Sub(g.cfg.Start) >= t.Upgrade.At {
		version = t.Upgrade.Version
		lat *= t.Upgrade.LatencyFactor
	}
	lat = math.Max(1, math.Round(lat*math.Exp(t.LatencySigma*r.NormFloat64())))
	out := int64(math.Round(t.OutputBytes * (1 + t.OutputDrift*frac) * math.Exp(t.OutputSigma*r.NormFloat64())))
	in := int64(math.Round(t.InputBytes * math.Exp(0.5*r.NormFloat64())))
	return record.Record{
		TraceID:      st.traceID,
		SpanID:       "tool-call-" + pad3(st.span),
		ParentSpanID: "reasoning-step-" + pad3((st.span+1)/2),
		Timestamp:    ts,
		AgentID:      a.ID,
		Tool: record.Tool{Name: t.Name, Version: version, Publisher: t.Publisher,
			TrustLevel: t.TrustLevel, VerificationScore: t.VerificationScore},
		Invocation: record.Invocation{
			InputHash:       hashOf(r.Uint64(), 0),
			OutputHash:      hashOf(r.Uint64(), 1),
			DurationMS:      lat,
			Status:          record.StatusSuccess,
			PermissionsUsed: t.Permissions,
			OutputBytes:     out,
			InputBytes:      in,
			InputShape:      pickShape(r, t),
		},
		Context: record.Context{TaskID: st.taskID, UserID: a.UserID,
			DataClassification: t.Classification, Environment: a.Environment},
		DataSubjectsAffected: record.Absent,
	}
}

func pickShape(r *rand.Rand, t *Tool) string {
	if len(t.OptionalKeys) > 0 && r.Float64() < t.NovelRate {
		keys := append([]string(nil), t.BaseKeys...)
		for _, k := range t.OptionalKeys {
			if r.IntN(3) == 0 {
				keys = append(keys, k)
			}
		}
		if len(keys) == len(t.BaseKeys) {
			keys = append(keys, t.OptionalKeys[r.IntN(len(t.OptionalKeys))])
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		s := "json{"
		for i, k := range keys {
			if i > 0 {
				s += ","
			}
			s += k
		}
		return s + "}"
	}
	if len(t.Shapes) == 0 {
		return ""
	}
	var sum float64
	for _, s := range t.Shapes {
		sum += s.Weight
	}
	u := r.Float64() * sum
	for _, s := range t.Shapes {
		if u -= s.Weight; u < 0 {
			return s.Shape
		}
	}
	return t.Shapes[len(t.Shapes)-1].Shape
}

func (g *gen) anomalySlice(from, to time.Time) {
	for i := range g.plan {
		p := &g.plan[i]
		lo, hi := maxTime(from, p.Start), minTime(to, p.End)
		if !lo.Before(hi) {
			continue
		}
		r := g.anomRng[i]
		s := p.spec
		var rate float64 // calls/s
		switch s.Kind {
		case KindAgentLoop:
			rate = s.Multiplier * g.meanRate(p.agent, p.tool)
		case KindSameInput:
			rate = s.PerMinute / 60
		default:
			rate = float64(s.Count) / s.Duration.Seconds()
		}
		for n := poisson(r, rate*hi.Sub(lo).Seconds()); n > 0; n-- {
			ts := randTime(r, lo, hi)
			g.add(ts, p.ID, g.anomalyRecord(i, ts))
		}
	}
}

// meanRate is the mean normal rate of (agent, tool), at least 0.05/s so a
// loop on a rarely used pair is still a loop.
func (g *gen) meanRate(ai, ti int) float64 {
	var sum float64
	for _, s := range g.streams {
		if s.agent == ai && s.tool == ti {
			sum += s.rate
		}
	}
	return math.Max(sum, 0.05*g.cfg.Scale)
}

func (g *gen) anomalyRecord(i int, ts time.Time) record.Record {
	p := &g.plan[i]
	r := g.anomRng[i]
	a := &g.top.Agents[p.agent]
	t := &g.top.Tools[p.tool]
	st := &g.anomTask[i]
	if st.traceID == "" { // one task for the whole incident
		g.newTask(r, st, a, ts)
		st.taskID = a.TaskPrefix + "-" + strconv.Itoa(90000+i)
	}
	rec := g.baseRecord(r, ts, a, t, st)
	switch p.spec.Kind {
	case KindSameInput:
		rec.Invocation.InputHash = hashOf(uint64(i), 7)
		rec.Invocation.InputShape = t.Shapes[0].Shape
	case KindShape:
		rec.Invocation.InputShape = p.spec.Shape
	case KindDenial:
		g.deny(&rec, p.spec.Permission)
	case KindOutputSize:
		rec.Invocation.OutputBytes = int64(math.Round(p.spec.Value * math.Exp(0.1*r.NormFloat64())))
	case KindLatency:
		rec.Invocation.DurationMS = math.Round(p.spec.Value * math.Exp(0.1*r.NormFloat64()))
	}
	return rec
}

// poisson draws a Poisson(lam) count (Knuth below 30, normal above).
func poisson(r *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, int(math.Round(lam+math.Sqrt(lam)*r.NormFloat64())))
	}
	l := math.Exp(-lam)
	k, p := 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

// randTime is uniform in [from, to), truncated to the millisecond.
func randTime(r *rand.Rand, from, to time.Time) time.Time {
	d := to.Sub(from)
	t := from.Add(time.Duration(r.Int64N(int64(d))))
	return t.Truncate(time.Millisecond)
}

// hashOf renders a deterministic "sha256:<64 hex>" from (x, salt).
func hashOf(x, salt uint64) string {
	var b [7 + 64]byte
	copy(b[:], "sha256:")
	s := x*0x9E3779B97F4A7C15 ^ salt
	for i := 0; i < 4; i++ {
		s = splitmix(s)
		const hex = "0123456789abcdef"
		for j := 0; j < 16; j++ {
			b[7+i*16+j] = hex[(s>>(4*j))&0xF]
		}
	}
	return string(b[:])
}

func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func pad3(n int) string {
	if n < 10 {
		return "00" + strconv.Itoa(n)
	}
	if n < 100 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
