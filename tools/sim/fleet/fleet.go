// Package fleet is a second, independent traffic generator for judging the
// detectors on traffic that tools/sim did not shape. It shares no code with
// tools/sim (only the label types sim.Anomaly, sim.Truth and sim.Behaviour,
// so tools/eval scores it) and models the fleet differently:
//
//   - Tenants (three, in UTC+1, UTC−5 and UTC+8) run agent roles; a role
//     is a Markov chain over its tools (session → turn → step → step …),
//     each row ending the turn with some weight.
//   - Sessions arrive per (tenant, role, environment) pool as a Poisson
//     process modulated by the tenant's local hour (human roles: morning
//     and afternoon peaks, a lunch dip, nothing at night; event-driven
//     roles: a round-the-clock floor), weekends at ~20 % and holidays at
//     ~10 %. Human sessions have think times between turns; batch roles
//     run nightly at 02:00 local and on demand, each run as a new job pod.
//   - Agents are autoscaled ephemeral instances ("acme-support-3fa9c1"):
//     a pool keeps as many instances as its current session rate needs,
//     instances live hours and are replaced, so agent ids appear and
//     disappear with the same role.
//   - Durations and sizes are log-normal (σ up to 2) with second modes and
//     Pareto tails (truncated at 64 MiB, see maxOutput); LLM durations grow with the prompt; failures report
//     the caller's round timeout.
//   - Change is normal: deploys that move a tool's latency by ±20–40 % for
//     good, version rollouts over hours, tools introduced mid-run, optional
//     input fields that appear mid-run (a release: each instance picks the
//     new client up at its own time within 2 hours; crm_lookup's adds two
//     fields, history_days sent only with include_history), a dependency outage of 10–25
//     minutes with retry storms, LLM rate-limit bursts, a holiday, a pool
//     paused for days, routine least-privilege denials, misnamed arguments,
//     benign loops until a step limit.
//   - E-mail recipients come from each tenant's Zipf-distributed address
//     book or from senders named in an earlier read_inbox output of the
//     same task (output_destinations), rarely from nowhere; partner hosts
//     for webhooks. Destinations are keyed hashes (shape/dest).
//   - Two tenants' runtimes hash-chain their records (§2.1), one chain per
//     instance.
//
// Inputs are real JSON whose input_shape is computed by package shape, as
// a runtime would. The same seed writes the same records; the normal-only
// twin (NoAnomalies) writes the labeled set's records minus the injected
// ones (chain seqs of the instances that carried an injection differ).
// Behaviours lists the documented normal behaviours for attributing false
// alarms.
package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape/dest"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// DefaultStart is a Monday; the US tenant's Thanksgiving falls on day 3.
var DefaultStart = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// Config configures a run.
type Config struct {
	Seed        uint64
	Start       time.Time     // default DefaultStart
	Duration    time.Duration // default 7 days
	Scale       float64       // session-rate multiplier, default 1 (~350k records a week)
	NoAnomalies bool          // the normal-only twin
	WarmUp      time.Duration // anomaly-free start, default 72h
}

func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if c.Duration <= 0 {
		c.Duration = 7 * 24 * time.Hour
	}
	if c.Scale <= 0 {
		c.Scale = 1
	}
	if c.WarmUp <= 0 {
		c.WarmUp = 72 * time.Hour
	}
	return c
}

// End is the end of cfg's simulated time.
func (c Config) End() time.Time {
	c = c.withDefaults()
	return c.Start.Add(c.Duration)
}

// Summary describes a generated run.
type Summary struct {
	Plan       []sim.Anomaly
	Behaviours []sim.Behaviour
	Records    int
	Normal     int
	Agents     int // distinct agent instance ids
}

// Generate produces cfg's records in event-time order and passes each to
// emit with its label. The record is reused after emit returns.
func Generate(cfg Config, emit func(*record.Record, sim.Truth) error) (Summary, error) {
	cfg = cfg.withDefaults()
	g := newGen(cfg)
	g.world()
	g.traffic()
	if !cfg.NoAnomalies {
		g.inject()
	}
	return g.emit(emit)
}

const (
	stSuccess uint8 = iota
	stError
	stTimeout
	stDenied
)

var statusName = [...]string{record.StatusSuccess, record.StatusError, record.StatusTimeout, record.StatusDenied}

// call is one generated tool call, compact until it is emitted.
type call struct {
	at       int64 // unix nanoseconds
	dur      float64
	out      int64
	seed     uint64 // input contents
	inst     int32
	session  int32
	contact  int32 // e-mail recipient or partner host; -1 none
	mentions [3]int32
	tool     int16
	step     int16
	turn     int16
	anomaly  int16 // index in plan, -1 normal
	denied   int16 // index in g.perms, -1 none
	version  int16 // index in g.versions
	nMent    uint8
	status   uint8
	input    uint8 // inputNormal, inputWrong, inputSQLi, inputBinary
	alter    bool
}

const (
	inputNormal uint8 = iota
	inputWrong
	inputSQLi
	inputBinary
)

type toolInst struct {
	spec    *toolSpec
	name    string
	tenant  int
	version int16
	changes []change
}

// change is a deploy (ramp 0) or a rollout (ramp > 0) of a new version
// whose latency is factor × the previous.
type change struct {
	at, ramp time.Duration // from the start
	factor   float64
	version  int16
}

type pool struct {
	tenant  int
	role    *role
	env     string
	share   float64
	factor  float64 // per-seed volume of this pool
	live    []int32 // instance indices
	paused  [2]time.Duration
	userIDs []string
}

type instance struct {
	id         string
	pool       int32
	born, dies int64
	calls      int
}

type session struct {
	user string
	inst int32
}

type outage struct {
	tool       int
	start, end int64
}

type gen struct {
	cfg        Config
	r          *rand.Rand // world and normal traffic
	start, end int64
	tenants    []tenant
	roles      map[string]role
	specs      []toolSpec
	tools      []toolInst
	toolIdx    map[string]int // "<tenant>/<tool>" → tools
	pools      []pool
	insts      []instance
	sessions   []session
	calls      []call
	versions   []string
	perms      []string
	outages    []outage
	limits     []outage // llm_complete rate-limit bursts
	plan       []sim.Anomaly
	behaviours []sim.Behaviour
	newSender  int32 // next never-seen inbox sender (per run; contacts ≥ bookSize)
	hasher     *dest.Hasher
}

const bookSize = 400

// volume calibrates the role peaks so that Scale 1 is ~350k records a week.
const volume = 1.7

func newGen(cfg Config) *gen {
	h, err := dest.NewHasher([]byte("fleet-simulation-destination-key"))
	if err != nil {
		panic(err) // a constant key of the right length
	}
	return &gen{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 0xF1EE7)),
		start: cfg.Start.UnixNano(), end: cfg.Start.Add(cfg.Duration).UnixNano(),
		tenants: tenants(), roles: roles(), specs: catalogue(), toolIdx: map[string]int{},
		newSender: bookSize, hasher: h}
}

func (g *gen) intern(list *[]string, s string) int16 {
	if i := slices.Index(*list, s); i >= 0 {
		return int16(i)
	}
	*list = append(*list, s)
	return int16(len(*list) - 1)
}

func (g *gen) frac(at int64) float64 { return float64(at-g.start) / float64(g.end-g.start) }

func (g *gen) tool(ten int, name string) int {
	key := g.tenants[ten].name + "/" + name
	if shared(name) {
		key = name
	}
	if i, ok := g.toolIdx[key]; ok {
		return i
	}
	for si := range g.specs {
		if g.specs[si].name == name {
			s := &g.specs[si]
			g.tools = append(g.tools, toolInst{spec: s, name: toolName(g.tenants[ten].name, name), tenant: ten,
				version: g.intern(&g.versions, s.version)})
			g.toolIdx[key] = len(g.tools) - 1
			return len(g.tools) - 1
		}
	}
	panic("fleet: unknown tool " + name)
}

// world draws the pools, the per-seed volumes and the timeline of normal
// change (deploys, rollouts, outages, a paused pool).
func (g *gen) world() {
	d := g.cfg.Duration
	for ti, t := range g.tenants {
		tf := 0.7 + 0.6*g.r.Float64()
		for _, rn := range t.roles {
			ro := g.roles[rn]
			for _, rt := range ro.tools {
				g.tool(ti, rt)
			}
			for _, e := range t.envs {
				if ro.driver == "batch" && e.env != "production" {
					continue
				}
				p := pool{tenant: ti, role: &ro, env: e.env, share: e.share, factor: tf * (0.7 + 0.6*g.r.Float64())}
				for u := 0; u < max(1, int(float64(ro.users)*e.share+0.5)); u++ {
					p.userIDs = append(p.userIDs, fmt.Sprintf("%s-user-%03d", t.name, g.r.IntN(1000)))
				}
				g.pools = append(g.pools, p)
			}
		}
	}
	// A pool paused for days (a team offsite, a disabled job) that returns.
	pi := g.r.IntN(len(g.pools))
	from := time.Duration((0.2 + 0.2*g.r.Float64()) * float64(d))
	to := from + time.Duration((1.5+g.r.Float64())*24*float64(time.Hour))
	g.pools[pi].paused = [2]time.Duration{from, to}
	quiet := g.cfg.Start.Add(from)
	quietEnd := g.cfg.Start.Add(to + 6*time.Hour)
	quietDesc := fmt.Sprintf("pool %s/%s/%s paused", g.tenants[g.pools[pi].tenant].name, g.pools[pi].role.name, g.pools[pi].env)

	// Deploys: latency ×0.6–0.8 or ×1.2–1.4 from one instant on.
	order := g.r.Perm(len(g.tools))
	for k, ti := range order[:min(6, len(order))] {
		t := &g.tools[ti]
		at := time.Duration((0.12 + 0.8*g.r.Float64()) * float64(d))
		f := 1.2 + 0.2*g.r.Float64()
		if g.r.IntN(2) == 0 {
			f = 0.6 + 0.2*g.r.Float64()
		}
		var ramp time.Duration
		kind := "deploy"
		if k >= 4 { // the last two are gradual rollouts
			ramp = time.Duration((2 + 4*g.r.Float64()) * float64(time.Hour))
			kind = "rollout"
		}
		v := g.intern(&g.versions, fmt.Sprintf("%s-r%d", g.versions[t.version], k+1))
		t.changes = append(t.changes, change{at: at, ramp: ramp, factor: f, version: v})
		g.behave(kind, t.name, at, at+ramp+24*time.Hour, pDist, "latency ×%.2f, version %s", f, g.versions[v])
	}
	// Dependency outages with retry storms: 10 minutes, one of 25.
	cands := []string{"llm_complete", "web_search", "web_fetch", "sql_query", "crm_lookup", "kb_search"}
	for k := 0; k < 3; k++ {
		name := cands[g.r.IntN(len(cands))]
		ten := g.r.IntN(len(g.tenants))
		if !slices.Contains(g.tenantTools(ten), name) {
			k--
			continue
		}
		ti := g.tool(ten, name)
		at := time.Duration((0.1 + 0.85*g.r.Float64()) * float64(d))
		length := 10 * time.Minute
		if k == 0 {
			length = 25 * time.Minute
		}
		g.outages = append(g.outages, outage{tool: ti, start: g.start + int64(at), end: g.start + int64(at+length)})
		g.behave("outage", g.tools[ti].name, at, at+length+time.Hour, pAll, "dependency outage %v: errors and timeouts, retry storm", length)
	}
	// LLM provider rate-limit bursts: ~3 a day, 1–4 minutes.
	llm := g.toolIdx["llm_complete"]
	for at := time.Duration(0); at < d; {
		at += time.Duration(g.r.ExpFloat64() * 8 * float64(time.Hour))
		l := time.Duration((1 + 3*g.r.Float64()) * float64(time.Minute))
		g.limits = append(g.limits, outage{tool: llm, start: g.start + int64(at), end: g.start + int64(at+l)})
	}
	for _, t := range g.tools {
		if t.spec.introduced > 0 {
			at := time.Duration(t.spec.introduced * float64(d))
			g.behave("new_tool", t.name, at, at+48*time.Hour, pAll, "tool introduced mid-run")
		}
		for _, f := range t.spec.args {
			if f.from > 0 {
				at := time.Duration(f.from * float64(d))
				g.behave("new_optional_field", t.name, at, at+48*time.Hour, []string{"input_novelty"}, "optional field %q appears", f.name)
			}
		}
	}
	// Standing properties, after the windows: attribution takes the first
	// match.
	g.behave("llm_rate_limit", "llm_complete", 0, 0, []string{"frequency", "latency", "output_size"}, "provider 429 bursts and retries")
	for _, t := range g.tools {
		switch {
		case t.spec.dest == "email":
			g.behave("reply_to_new_sender", t.name, 0, 0, []string{"egress"}, "replies to first-time senders named by read_inbox; rare recipients typed by users")
		case t.spec.lat.sigma >= 1.2 || t.spec.lat.pSlow > 0 || t.spec.size.sigma >= 1.2 || t.spec.size.pTail > 0 || t.spec.size.pSlow > 0:
			g.behave("heavy_tail", t.name, 0, 0, pDist, "σ ≥ 1.2, second modes or Pareto tails")
		}
	}
	g.behave("staging_or_routine_denial", "", 0, 0, []string{"denial_spike"}, "least-privilege probing, sandbox grants missing, denied calls retried")
	g.behave("quiet_period", "", quiet.Sub(g.cfg.Start), quietEnd.Sub(g.cfg.Start), []string{"frequency"}, "%s", quietDesc)
	g.behave("holiday", "", 72*time.Hour, 5*24*time.Hour, []string{"frequency"}, "globex holiday")
	g.behave("autoscaled_instance", "", 0, 0, []string{"frequency"}, "ephemeral agent instances judged on their tool's per-agent baseline")
}

var (
	pAll  = []string{"frequency", "input_novelty", "denial_spike", "output_size", "latency", "egress", "chain_integrity"}
	pDist = []string{"latency", "output_size"}
)

func (g *gen) tenantTools(ten int) []string {
	var out []string
	for _, rn := range g.tenants[ten].roles {
		out = append(out, g.roles[rn].tools...)
	}
	return out
}

// behave documents a normal behaviour of the run (zero from and to: the
// whole run) for attributing false alarms; tool "" is any tool.
func (g *gen) behave(class, tool string, from, to time.Duration, patterns []string, format string, args ...any) {
	b := sim.Behaviour{Class: class, Tool: tool, Start: g.cfg.Start.Add(from), Patterns: patterns,
		Description: fmt.Sprintf(format, args...)}
	if to > 0 {
		b.End = g.cfg.Start.Add(to)
	}
	if from == 0 && to == 0 {
		b.Start = time.Time{}
	}
	g.behaviours = append(g.behaviours, b)
}

// rate is a pool's sessions per hour at at.
func (g *gen) rate(p *pool, at int64) float64 {
	off := time.Duration(at - g.start)
	if p.paused[1] > 0 && off >= p.paused[0] && off < p.paused[1] {
		return 0
	}
	ten := &g.tenants[p.tenant]
	local := time.Unix(0, at).UTC().Add(time.Duration(ten.utcOff) * time.Hour)
	day := int(time.Duration(at-g.start) / (24 * time.Hour))
	f := volume * p.role.peak * p.share * p.factor * g.cfg.Scale
	switch p.role.driver {
	case "human":
		f *= diurnal[local.Hour()]
		if wd := local.Weekday(); wd == time.Saturday || wd == time.Sunday {
			f *= 0.2
		}
		if slices.Contains(ten.holiday, day) {
			f *= 0.1
		}
		// On-call engineers work during outages.
		if p.role.name == "sre" {
			for _, o := range g.outages {
				if at >= o.start && at < o.end+int64(30*time.Minute) {
					f = math.Max(f, 6*p.share*g.cfg.Scale)
				}
			}
		}
	case "event":
		f *= inbound[local.Hour()]
		if wd := local.Weekday(); wd == time.Saturday || wd == time.Sunday {
			f *= 0.35
		}
	}
	return f
}

// traffic generates the normal calls minute by minute.
func (g *gen) traffic() {
	step := int64(time.Minute)
	for pi := range g.pools {
		p := &g.pools[pi]
		if p.role.driver == "batch" {
			g.batches(pi)
			continue
		}
		for at := g.start; at < g.end; at += step {
			lam := g.rate(p, at) / 60
			for n := poisson(g.r, lam); n > 0; n-- {
				t0 := at + g.r.Int64N(step)
				g.session(pi, t0, lam*60)
			}
		}
	}
}

func poisson(r *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, int(lam+math.Sqrt(lam)*r.NormFloat64()+0.5))
	}
	l, k, p := math.Exp(-lam), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// instance picks a live instance of the pool for a session at at, scaling
// the pool to its current session rate and retiring expired instances.
func (g *gen) instance(pi int, at int64, perHour float64) int32 {
	p := &g.pools[pi]
	live := p.live[:0]
	for _, i := range p.live {
		if g.insts[i].dies > at {
			live = append(live, i)
		}
	}
	p.live = live
	want := max(1, int(math.Ceil(perHour/p.role.perInst)))
	for len(p.live) < want {
		p.live = append(p.live, g.spawn(pi, at))
	}
	if len(p.live) > want+1 { // scale down: the oldest drains
		g.insts[p.live[0]].dies = at
		p.live = p.live[1:]
	}
	return p.live[g.r.IntN(len(p.live))]
}

func (g *gen) spawn(pi int, at int64) int32 {
	p := &g.pools[pi]
	life := time.Duration(6 * math.Exp(0.8*g.r.NormFloat64()) * float64(time.Hour))
	id := fmt.Sprintf("%s-%s-%s", g.tenants[p.tenant].name, p.role.name, hexID(g.r, 6))
	if p.env != "production" {
		id = fmt.Sprintf("%s-%s-%s-%s", g.tenants[p.tenant].name, p.role.name, p.env[:3], hexID(g.r, 6))
	}
	g.insts = append(g.insts, instance{id: id, pool: int32(pi), born: at, dies: at + int64(life)})
	return int32(len(g.insts) - 1)
}

func (g *gen) batches(pi int) {
	p := &g.pools[pi]
	ten := &g.tenants[p.tenant]
	day := int64(24 * time.Hour)
	for d := g.start; d < g.end; d += day {
		// 02:00 local, a few minutes late, and on-demand runs at any hour.
		runs := []int64{d + int64(2*time.Hour) - int64(time.Duration(ten.utcOff)*time.Hour) + g.r.Int64N(int64(5*time.Minute))}
		for n := poisson(g.r, 0.35*g.cfg.Scale); n > 0; n-- {
			runs = append(runs, d+g.r.Int64N(day))
		}
		for _, at := range runs {
			if at < g.start || at >= g.end || g.rate(p, at) == 0 {
				continue
			}
			inst := g.spawn(pi, at) // each run is a new job pod
			g.insts[inst].dies = at + int64(12*time.Hour)
			g.sessions = append(g.sessions, session{user: "scheduler", inst: inst})
			g.run(pi, int32(len(g.sessions)-1), at, 1, int(p.role.turns*(0.5+g.r.Float64())))
		}
	}
}

func (g *gen) session(pi int, at int64, perHour float64) {
	p := &g.pools[pi]
	inst := g.instance(pi, at, perHour)
	user := "mail-webhook"
	if p.role.driver == "human" {
		user = p.userIDs[g.r.IntN(len(p.userIDs))]
	}
	g.sessions = append(g.sessions, session{user: user, inst: inst})
	turns := 1
	if p.role.driver == "human" {
		turns = 1 + int(g.r.ExpFloat64()*(p.role.turns-1))
	}
	g.run(pi, int32(len(g.sessions)-1), at, turns, 8)
}

// run walks the role's Markov chain for turns turns of at most maxSteps.
func (g *gen) run(pi int, sess int32, at int64, turns, maxSteps int) {
	p := &g.pools[pi]
	ro := p.role
	var mentioned []int32
	step := 0
	for turn := 0; turn < turns && step < 60+maxSteps; turn++ {
		s := g.pick(p, at, ro.start)
		for k := 0; s >= 0 && k < maxSteps; k++ {
			// The agent's own reasoning before each call.
			think := 1.2
			if ro.driver == "batch" {
				think = 0.6
			}
			at += int64(think * math.Exp(0.6*g.r.NormFloat64()) * float64(time.Second))
			ti := g.tool(p.tenant, ro.tools[s])
			c := g.normalCall(pi, sess, ti, at, &mentioned)
			c.step, c.turn = int16(step), int16(turn)
			at = g.add(c, true)
			step++
			if g.r.Float64() < 0.003 { // benign loop: the same call until the step limit
				for n := 3 + g.r.IntN(20); n > 0; n-- {
					at += int64((0.5 + g.r.Float64()) * float64(time.Second))
					c.at = at
					c.step = int16(step)
					step++
					at = g.add(c, false)
				}
			}
			s = g.pick(p, at, ro.next[s])
		}
		if ro.driver == "human" { // the human reads and types
			at += int64(25 * math.Exp(1.0*g.r.NormFloat64()) * float64(time.Second))
		}
	}
}

// pick draws the next state from weights (the last one is the end of the
// turn for transition rows), skipping tools not introduced yet; -1 ends.
func (g *gen) pick(p *pool, at int64, w []float64) int {
	ro := p.role
	f := g.frac(at)
	total := 0.0
	for i, x := range w {
		if i < len(ro.tools) && g.tools[g.tool(p.tenant, ro.tools[i])].spec.introduced > f {
			continue
		}
		total += x
	}
	u := g.r.Float64() * total
	for i, x := range w {
		if i < len(ro.tools) && g.tools[g.tool(p.tenant, ro.tools[i])].spec.introduced > f {
			continue
		}
		if u -= x; u < 0 {
			if i >= len(ro.tools) {
				return -1
			}
			return i
		}
	}
	return -1
}

func (g *gen) active(list []outage, ti int, at int64) bool {
	for _, o := range list {
		if o.tool == ti && at >= o.start && at < o.end {
			return true
		}
	}
	return false
}

// normalCall draws one call of tool ti at at: status, duration, size,
// input, destinations.
func (g *gen) normalCall(pi int, sess int32, ti int, at int64, mentioned *[]int32) call {
	p := &g.pools[pi]
	t := &g.tools[ti]
	s := t.spec
	c := call{at: at, inst: g.sessions[sess].inst, session: sess, tool: int16(ti), anomaly: -1, denied: -1, contact: -1, seed: g.r.Uint64()}
	c.version, c.dur = g.versionAt(t, at)
	c.dur *= s.lat.draw(g.r)
	if s.inScale {
		c.dur *= math.Pow(float64(promptLen(c.seed))/600, 0.6)
	}
	c.out = int64(math.Max(0, s.size.draw(g.r)))
	switch {
	case g.active(g.outages, ti, at) && g.r.Float64() < 0.85:
		if g.r.Float64() < 0.55 {
			c.status, c.dur, c.out = stError, 80*math.Exp(0.5*g.r.NormFloat64()), 120
		} else {
			c.status, c.dur, c.out = stTimeout, s.timeoutMS+g.r.Float64()*40, 0
		}
	case g.active(g.limits, ti, at) && g.r.Float64() < 0.35:
		c.status, c.dur, c.out = stError, 40*math.Exp(0.4*g.r.NormFloat64()), 95
	case g.routineDenial(p, s.name) != "":
		c.status, c.dur, c.out = stDenied, 4+8*g.r.Float64(), 0
		c.denied = g.intern(&g.perms, g.routineDenial(p, s.name))
	case g.r.Float64() < 0.006:
		c.status, c.input, c.dur, c.out = stError, inputWrong, 5+20*g.r.Float64(), 110
	case g.r.Float64() < s.errRate:
		c.status, c.out = stError, 150
		c.dur *= 0.5
	case c.dur > s.timeoutMS:
		c.status, c.dur, c.out = stTimeout, s.timeoutMS+g.r.Float64()*40, 0
	}
	if p.env == "staging" && c.status == stSuccess && g.r.Float64() < 0.004 { // sandbox permissions drift
		c.status, c.dur, c.out = stDenied, 5, 0
		c.denied = g.intern(&g.perms, s.perms[0])
	}
	switch {
	case s.dest == "email":
		switch u := g.r.Float64(); {
		case len(*mentioned) > 0 && u < 0.6:
			c.contact = (*mentioned)[g.r.IntN(len(*mentioned))]
		case u < 0.9985:
			c.contact = zipf(g.r, bookSize)
		default: // a recipient the user typed: new, no provenance
			c.contact = g.newSender
			g.newSender++
		}
	case s.dest == "host":
		c.contact = int32(g.r.IntN(6))
	case s.mentions && c.status == stSuccess:
		c.nMent = uint8(1 + g.r.IntN(3))
		for i := range int(c.nMent) {
			m := zipf(g.r, bookSize)
			if g.r.Float64() < 0.08 { // a first-time sender
				m = g.newSender
				g.newSender++
			}
			c.mentions[i] = m
			*mentioned = append(*mentioned, m)
		}
	}
	return c
}

func (g *gen) routineDenial(p *pool, tool string) string {
	for _, d := range p.role.denials {
		if d.tool == tool && (d.env == "" || d.env == p.env) {
			if g.r.Float64() < d.p {
				return d.perm
			}
		}
	}
	return ""
}

// versionAt is the tool version serving a call at at and its latency
// factor (rollouts serve a growing share of calls).
func (g *gen) versionAt(t *toolInst, at int64) (int16, float64) {
	v, f := t.version, 1.0
	off := time.Duration(at - g.start)
	for _, c := range t.changes {
		if off < c.at {
			continue
		}
		if c.ramp > 0 && off < c.at+c.ramp && g.r.Float64() > float64(off-c.at)/float64(c.ramp) {
			continue
		}
		v, f = c.version, f*c.factor
	}
	return v, f
}

// add appends c and, for failures, the agent's retries of the same input
// with exponential backoff; it returns the time the last attempt ended.
func (g *gen) add(c call, retry bool) int64 {
	g.calls = append(g.calls, c)
	end := c.at + int64(c.dur*float64(time.Millisecond))
	if !retry || (c.status != stError && c.status != stTimeout) || c.input != inputNormal {
		return end
	}
	tries := 1
	if g.active(g.outages, int(c.tool), c.at) {
		tries = 4
	}
	back := time.Second
	for k := 0; k < tries && g.r.Float64() < 0.8; k++ {
		at := end + int64(float64(back)*(0.5+g.r.Float64()))
		back *= 2
		pi := int(g.insts[c.inst].pool)
		var none []int32
		r := g.normalCall(pi, c.session, int(c.tool), at, &none)
		r.seed, r.step, r.turn, r.contact = c.seed, c.step, c.turn, c.contact
		if r.input == inputWrong {
			r.status, r.input, r.out = stSuccess, inputNormal, c.out
		}
		g.calls = append(g.calls, r)
		end = at + int64(r.dur*float64(time.Millisecond))
		if r.status != stError && r.status != stTimeout {
			break
		}
	}
	return end
}

// zipf draws a contact of an address book of n, rank-weighted ~1/(k+1).
func zipf(r *rand.Rand, n int) int32 {
	// Inverse CDF of the continuous 1/x law on [1, n+1].
	return int32(math.Min(float64(n-1), math.Exp(r.Float64()*math.Log(float64(n+1)))-1))
}

func promptLen(seed uint64) int {
	r := rand.New(rand.NewPCG(seed, 7))
	return max(20, int(600*math.Exp(1.2*r.NormFloat64())))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
