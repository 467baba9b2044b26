package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

func (c Config) realisticDefaults() Config {
	if c.Start.IsZero() {
		c.Start = DefaultStart // a Monday: the week ends with a weekend
	}
	c.Start = c.Start.UTC()
	if c.Duration <= 0 {
		c.Duration = 7 * 24 * time.Hour
	}
	if c.Topology == nil {
		t := RealisticTopology()
		c.Topology = &t
	}
	if c.Scale <= 0 {
		c.Scale = 1
	}
	if c.Anomalies == nil {
		c.Anomalies = RealisticAnomalies()
	}
	if c.WarmUp <= 0 {
		c.WarmUp = 48 * time.Hour
	}
	return c
}

func newRealGen(cfg Config) (*gen, error) {
	top := cfg.Topology
	_, tools := cfg.index()
	g := &gen{cfg: cfg, top: top, denied: map[string][]string{}, toolIdx: tools,
		runTask: map[[2]int64]*task{}, k: cfg.Scale}
	if cfg.Rate > 0 { // scale the agents present from the start to Rate
		var nominal float64
		for _, a := range top.Agents {
			if a.Joins == 0 {
				nominal += a.Rate
			}
		}
		if nominal <= 0 {
			return nil, fmt.Errorf("simulate: no agent with a positive rate from the start")
		}
		g.k = cfg.Rate / nominal * cfg.Scale
	}
	g.useTool = make([][]int, len(top.Agents))
	for ai, a := range top.Agents {
		for _, u := range a.Tools {
			ti, ok := tools[u.Tool]
			if !ok {
				return nil, fmt.Errorf("simulate: agent %s uses unknown tool %q", a.ID, u.Tool)
			}
			g.useTool[ai] = append(g.useTool[ai], ti)
		}
		for _, name := range []string{batchTool(a.Batch), syncTool(a.Sync)} {
			if _, ok := tools[name]; name != "" && !ok {
				return nil, fmt.Errorf("simulate: batch of agent %s uses unknown tool %q", a.ID, name)
			}
		}
		if a.Rate > 0 && len(a.Tools) > 0 {
			if tk := g.tasksOf(&a); tk.Min < 1 || tk.Max < tk.Min {
				return nil, fmt.Errorf("simulate: agent %s: tasks of %d–%d calls", a.ID, tk.Min, tk.Max)
			}
		}
	}
	for _, t := range top.Tools {
		if t.Latency == nil || t.Output == nil {
			return nil, fmt.Errorf("simulate: tool %s has no latency/output distribution (realistic profile)", t.Name)
		}
	}
	g.sched = newSchedule(cfg)
	g.plan = plan(cfg)
	g.normal = rand.New(rand.NewPCG(cfg.Seed, 1))
	g.jitter = rand.New(rand.NewPCG(cfg.Seed, 2))
	for i := range g.plan {
		g.anomRng = append(g.anomRng, rand.New(rand.NewPCG(cfg.Seed, 100+uint64(i))))
		switch g.plan[i].spec.Kind {
		case KindDrop, KindLatencyShift, KindOutputShift:
			g.mods = append(g.mods, i)
		}
	}
	g.taskN = make([]int, len(top.Agents))
	g.anomTasks = make([]*task, len(g.plan))
	return g, nil
}

func batchTool(b *Batch) string {
	if b == nil {
		return ""
	}
	return b.Tool
}

func syncTool(s *Sync) string {
	if s == nil {
		return ""
	}
	return s.Tool
}

// RealisticAnomalies are the anomalies of the realistic profile: the
// moderate, sustained changes of issue 9 (a ×8 rate on a 12/h key for 25
// minutes, a ×20 spike of a routine development denial, 3× median latency
// shifts for an hour, outputs and latencies collapsing toward zero, tools
// that stop being called while their agent works) next to the egregious
// ones (loops, 100 MB outputs, 30 s calls, injection shapes, new denied
// permission types).
func RealisticAnomalies() []AnomalySpec {
	const m = time.Minute
	return []AnomalySpec{
		{Pattern: PatternFrequency, Kind: KindRate, AgentID: "ops-agent-prod-01", Tool: "ticket-search", Duration: 25 * m, Multiplier: 8, Detail: "spike",
			Description: "ticket-search called ×8 its ~12/h baseline for 25 minutes"},
		{Pattern: PatternFrequency, Kind: KindRate, AgentID: "support-agent-prod-02", Tool: "calendar", Duration: 40 * m, Multiplier: 6, Detail: "spike", Daytime: true,
			Description: "calendar called ×6 its usual rate for 40 minutes"},
		// A busier, task-clustered key than calendar (~50–90/h by day,
		// clusters of several calls): its rise comes as extra tasks that
		// each call it ~4 times.
		{Pattern: PatternFrequency, Kind: KindTaskRate, AgentID: "analytics-agent-prod-01", Tool: "file-read", Duration: 30 * m, Multiplier: 4, Count: 4, Detail: "sustained_rise", Daytime: true,
			Description: "file-read called ×4 its usual rate for 30 minutes by extra tasks of ~4 calls each"},
		{Pattern: PatternFrequency, Kind: KindDrop, AgentID: "support-agent-prod-01", Tool: "crm-lookup", Duration: 120 * m, Detail: "drop", Daytime: true,
			Description: "crm-lookup stops being called for 2 h while the agent keeps working"},
		{Pattern: PatternFrequency, Kind: KindDrop, AgentID: "ops-agent-prod-01", Tool: "status-check", Duration: 90 * m, Detail: "drop",
			Description: "status-check (~90/h) stops being called for 90 minutes"},
		{Pattern: PatternFrequency, Kind: KindAgentLoop, AgentID: "coding-agent-prod-01", Tool: "web-search", Duration: 12 * m, Multiplier: 60, Detail: "spike", Daytime: true,
			Description: "agent loop: web-search called ×60 its usual rate"},
		{Pattern: PatternFrequency, Kind: KindSameInput, AgentID: "analytics-agent-prod-01", Tool: "sql-query", Duration: 10 * m, PerMinute: 60, Detail: "loop", Daytime: true,
			Description: "same-input loop: one sql-query input repeated 60 times a minute"},

		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "analytics-agent-prod-01", Tool: "sql-query", Duration: 5 * m, Count: 8, Shape: "text/sql-injection", Daytime: true,
			Description: "SQL-injection-like text input at sql-query"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "billing-agent-prod-01", Tool: "sql-query", Duration: 5 * m, Count: 6, Shape: "json{limit:num,query:str/sql-injection}", Daytime: true,
			Description: "SQL-injection-like query field at sql-query"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "support-agent-prod-01", Tool: "llm-summarize", Duration: 3 * m, Count: 5, Shape: "binary", Daytime: true,
			Description: "binary input at a text tool"},
		{Pattern: PatternInputNovelty, Kind: KindShape, AgentID: "billing-agent-prod-01", Tool: "crm-lookup", Duration: 5 * m, Count: 6, Shape: "json{customer_id:str,export_all:bool,fields:str}", Daytime: true,
			Description: "brand-new JSON shape at a closed-vocabulary tool"},

		{Pattern: PatternDenialSpike, Kind: KindDenialSpike, AgentID: "dev-agent-01", Tool: "code-exec", Duration: 30 * m, Multiplier: 20, Permission: "filesystem:write", Detail: "spike", Daytime: true,
			Description: "routine filesystem:write denials at code-exec ×20 in development"},
		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "support-agent-prod-02", Tool: "llm-summarize", Duration: 5 * m, Count: 20, Permission: "network:connect", Detail: "new_permission", Daytime: true,
			Description: "llm-summarize suddenly attempting network connections (never before), production"},
		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "coding-agent-prod-01", Tool: "file-read", Duration: 8 * m, Count: 30, Permission: "filesystem:write", Detail: "new_permission", Daytime: true,
			Description: "file-read suddenly attempting filesystem writes, production"},
		{Pattern: PatternDenialSpike, Kind: KindDenial, AgentID: "billing-agent-prod-01", Tool: "crm-lookup", Duration: 5 * m, Count: 40, Permission: "data_access:write", Detail: "new_permission", Daytime: true,
			Description: "burst of data_access:write denials at crm-lookup"},

		{Pattern: PatternOutputSize, Kind: KindOutputSize, AgentID: "support-agent-prod-01", Tool: "crm-lookup", Duration: 2 * m, Count: 3, Value: 100e6, Detail: "large", Daytime: true,
			Description: "~1 KB tool returning ~100 MB"},
		{Pattern: PatternOutputSize, Kind: KindOutputSize, AgentID: "support-agent-prod-02", Tool: "calendar", Duration: 3 * m, Count: 4, Value: 5e6, Detail: "large", Daytime: true,
			Description: "calendar returning ~5 MB instead of ~1 KB"},
		{Pattern: PatternOutputSize, Kind: KindOutputShift, AgentID: "ops-agent-prod-01", Tool: "metrics-query", Duration: 45 * m, Value: 0.002, Detail: "level_shift",
			Description: "metrics-query outputs collapse toward zero (~4 bytes) for 45 minutes"},
		{Pattern: PatternOutputSize, Kind: KindOutputShift, AgentID: "support-agent-prod-02", Tool: "vector-search", Duration: 45 * m, Value: 0.002, Detail: "level_shift", Daytime: true,
			Description: "vector-search outputs collapse toward zero (~12 bytes) for 45 minutes"},

		{Pattern: PatternLatency, Kind: KindLatency, AgentID: "billing-agent-prod-01", Tool: "crm-lookup", Duration: 4 * m, Count: 6, Value: 30000, Detail: "slow", Daytime: true,
			Description: "~120 ms tool taking ~30 s"},
		{Pattern: PatternLatency, Kind: KindLatency, AgentID: "support-agent-prod-02", Tool: "send-email", Duration: 5 * m, Count: 8, Value: 30000, Detail: "slow", Daytime: true,
			Description: "~350 ms tool taking ~30 s"},
		{Pattern: PatternLatency, Kind: KindLatencyShift, AgentID: "ops-agent-prod-01", Tool: "metrics-query", Duration: 60 * m, Value: 3, Detail: "level_shift",
			Description: "metrics-query (1 call/min) median latency ×3 for an hour"},
		{Pattern: PatternLatency, Kind: KindLatencyShift, AgentID: "support-agent-prod-01", Tool: "vector-search", Duration: 60 * m, Value: 3, Detail: "level_shift", Daytime: true,
			Description: "vector-search median latency ×3 for an hour"},
		{Pattern: PatternLatency, Kind: KindLatencyShift, AgentID: "ops-agent-prod-01", Tool: "status-check", Duration: 45 * m, Value: 0.025, Detail: "level_shift",
			Description: "status-check answers in ~1 ms instead of ~40 ms for 45 minutes"},
	}
}

// planRealistic places each spec (in a seed-shuffled order) at a seeded
// random start in [start+WarmUp, end-Duration) that keeps the labels
// honest: the agent is active for the whole window (not idle, joined, not
// left), Daytime specs fall on a weekday 08:00–18:00 UTC, the window is at
// least an hour away from the agent's batch runs and from the tool's
// rollout and incidents, at least 3 h away from another anomaly on the
// same key and 30 min from one on the same agent or tool. A spec that finds
// no such start in 500 tries is left out.
func planRealistic(cfg Config, s *schedule) []planned {
	agents, tools := cfg.index()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xA11A))
	from := cfg.Start.Add(cfg.WarmUp)
	end := cfg.Start.Add(cfg.Duration)
	var specs []AnomalySpec
	for _, sp := range cfg.Anomalies {
		_, okA := agents[sp.AgentID]
		_, okT := tools[sp.Tool]
		if okA && okT && cfg.wants(sp.Pattern) && sp.Duration > 0 {
			specs = append(specs, sp)
		}
	}
	var out []planned
	counts := map[string]int{}
	for _, i := range rng.Perm(len(specs)) {
		sp := specs[i]
		ai, ti := agents[sp.AgentID], tools[sp.Tool]
		room := end.Sub(from) - sp.Duration
		if room <= 0 {
			continue
		}
		for try := 0; try < 500; try++ {
			st := from.Add(time.Duration(rng.Float64() * float64(room))).Truncate(time.Second)
			en := st.Add(sp.Duration)
			if !placeOK(cfg, s, out, sp, ai, ti, st, en) {
				continue
			}
			counts[sp.Pattern]++
			out = append(out, planned{
				Anomaly: Anomaly{
					ID:      fmt.Sprintf("%s-%d", sp.Pattern, counts[sp.Pattern]),
					Pattern: sp.Pattern, AgentID: sp.AgentID, Tool: sp.Tool,
					Start: st, End: en, Description: sp.Description, Detail: sp.Detail, Kind: sp.Kind,
					Sustained: sp.Kind == KindRate || sp.Kind == KindTaskRate || sp.Kind == KindDrop || sp.Kind == KindLatencyShift ||
						sp.Kind == KindOutputShift || sp.Kind == KindDenialSpike,
				},
				spec: sp, agent: ai, tool: ti,
			})
			break
		}
	}
	sortPlanned(out)
	// ids in time order per pattern, independent of the placement order
	counts = map[string]int{}
	for i := range out {
		counts[out[i].Pattern]++
		out[i].ID = fmt.Sprintf("%s-%d", out[i].Pattern, counts[out[i].Pattern])
	}
	return out
}

func placeOK(cfg Config, s *schedule, placed []planned, sp AnomalySpec, ai, ti int, st, en time.Time) bool {
	a := &cfg.Topology.Agents[ai]
	t := &cfg.Topology.Tools[ti]
	if sp.Daytime {
		if weekly(st) < 1 || weekly(en) < 1 || st.Hour() < 8 || en.Sub(st.Truncate(24*time.Hour)) > 18*time.Hour {
			return false
		}
	}
	for x := st; x.Before(en); x = x.Add(5 * time.Minute) {
		if !s.active(a, ai, x) {
			return false
		}
	}
	if !s.active(a, ai, en.Add(-time.Second)) {
		return false
	}
	lo, hi := st.Add(-time.Hour), en.Add(time.Hour)
	for _, w := range s.runs[ai] {
		if w.overlaps(lo, hi) {
			return false
		}
	}
	if b := a.Batch; b != nil {
		for d := st.Truncate(24*time.Hour).AddDate(0, 0, -1); d.Before(hi); d = d.AddDate(0, 0, 1) {
			bs := d.Add(time.Duration(b.Hour)*time.Hour + time.Duration(b.Minute)*time.Minute)
			if (window{bs, bs.Add(b.Length)}).overlaps(lo, hi) {
				return false
			}
		}
	}
	for _, w := range s.incidents[ti] {
		if w.overlaps(lo, hi) {
			return false
		}
	}
	if ro := t.Rollout; ro != nil {
		rw := window{s.start.Add(ro.At), s.start.Add(ro.At + ro.Spread)}
		if rw.overlaps(lo, hi) {
			return false
		}
	}
	for _, p := range placed {
		gap := 30 * time.Minute
		switch {
		case p.agent == ai && p.tool == ti:
			gap = 3 * time.Hour
		case p.agent != ai && p.tool != ti:
			continue
		}
		if p.Start.Before(en.Add(gap)) && st.Before(p.End.Add(gap)) {
			return false
		}
	}
	return true
}
