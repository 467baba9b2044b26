package fleet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/tools/sim"
)

// attacker offsets the contact numbers of addresses no tenant ever used.
const attacker = 1 << 30

// spec is one labeled anomaly: what to inject, where, for how long.
type spec struct {
	pattern, kind       string
	tenant, role, tool  string
	dur                 time.Duration
	count               int // calls; 0: paced by the kind
	description, detail string
}

// anomalies are the injected incidents, in the shapes of CONTEXT.md's five
// patterns plus egress and a tampered chain.
func anomalies() []spec {
	return []spec{
		{pattern: sim.PatternFrequency, kind: sim.KindAgentLoop, tenant: "initech", role: "analyst", tool: "sql_query", dur: 15 * time.Minute,
			description: "prompt-injected loop: sql_query about once a second for 15 minutes", detail: "spike"},
		{pattern: sim.PatternFrequency, kind: sim.KindSameInput, tenant: "acme", role: "mailbot", tool: "status_update", dur: 10 * time.Minute,
			description: "the same status_update input 60 times a minute", detail: "loop"},
		{pattern: sim.PatternInputNovelty, kind: sim.KindShape, tenant: "acme", role: "analyst", tool: "sql_query", dur: 5 * time.Minute, count: 6,
			description: "SQL-injection-like query at sql_query"},
		{pattern: sim.PatternInputNovelty, kind: sim.KindShape, tenant: "globex", role: "researcher", tool: "llm_complete", dur: 3 * time.Minute, count: 5,
			description: "binary input at a text tool"},
		{pattern: sim.PatternDenialSpike, kind: sim.KindDenial, tenant: "globex", role: "support", tool: "crm_lookup", dur: 5 * time.Minute, count: 12,
			description: "crm_lookup denied code_execution:exec 12 times: a type it never attempted"},
		{pattern: sim.PatternOutputSize, kind: sim.KindOutputSize, tenant: "acme", role: "support", tool: "crm_lookup", dur: 10 * time.Minute, count: 4,
			description: "crm_lookup (~1.2 KB) returns ~100 MB"},
		{pattern: sim.PatternLatency, kind: sim.KindLatency, tenant: "acme", role: "analyst", tool: "metrics_query", dur: 10 * time.Minute, count: 5,
			description: "metrics_query (~200 ms) takes ~28 s"},
		{pattern: "egress", kind: "new_destination", tenant: "acme", role: "mailbot", tool: "send_email", dur: 5 * time.Minute, count: 2,
			description: "send_email to an address no task ever saw"},
		{pattern: "chain_integrity", kind: "altered", tenant: "initech", role: "coder", tool: "file_read", dur: time.Minute, count: 1,
			description: "a chained record altered after hashing"},
	}
}

// inject adds the labeled anomalies with their own random stream, so the
// normal records are the twin's.
func (g *gen) inject() {
	g.r = rand.New(rand.NewPCG(g.cfg.Seed, 0xA40))
	for k, s := range anomalies() {
		ten := slices.IndexFunc(g.tenants, func(t tenant) bool { return t.name == s.tenant })
		ti := g.tool(ten, s.tool)
		at := g.anomalyStart(ten)
		inst, ok := g.victim(ten, s.role, ti, at, at+int64(s.dur))
		if !ok {
			continue
		}
		pi := int(g.insts[inst].pool)
		g.sessions = append(g.sessions, session{user: g.pools[pi].userIDs[0], inst: inst})
		sess := int32(len(g.sessions) - 1)
		a := sim.Anomaly{ID: fmt.Sprintf("%s-%d", s.kind, k), Pattern: s.pattern, AgentID: g.insts[inst].id,
			Tool: g.tools[ti].name, Start: time.Unix(0, at).UTC(), Kind: s.kind, Detail: s.detail, Description: s.description}
		idx := int16(len(g.plan))
		var times []int64
		switch {
		case s.count > 0:
			for i := 0; i < s.count; i++ {
				times = append(times, at+int64(s.dur)*int64(i)/int64(s.count)+g.r.Int64N(int64(s.dur)/int64(s.count)/2+1))
			}
		case s.kind == sim.KindSameInput:
			for t := at; t < at+int64(s.dur); t += int64(time.Second) {
				times = append(times, t+g.r.Int64N(int64(200*time.Millisecond)))
			}
		default: // a loop: about one call a second
			for t := at; t < at+int64(s.dur); t += int64((0.5 + g.r.Float64()) * float64(time.Second)) {
				times = append(times, t)
			}
		}
		seed := g.r.Uint64()
		for i, t := range times {
			var none []int32
			c := g.normalCall(pi, sess, ti, t, &none)
			c.anomaly, c.step = idx, int16(i)
			c.status, c.denied, c.input = stSuccess, -1, inputNormal
			switch s.kind {
			case sim.KindSameInput:
				c.seed = seed
				c.dur = 120
			case sim.KindShape:
				c.input = inputSQLi
				if s.tool == "llm_complete" {
					c.input = inputBinary
				}
			case sim.KindDenial:
				c.status, c.dur, c.out = stDenied, 6, 0
				c.denied = g.intern(&g.perms, "code_execution:exec")
			case sim.KindOutputSize:
				c.out = int64(1e8 * math.Exp(0.2*g.r.NormFloat64()))
			case sim.KindLatency:
				c.dur = 28000 + 1500*g.r.Float64()
			case "new_destination":
				c.contact = attacker + int32(k)
			case "altered":
				c.alter = true
			}
			g.calls = append(g.calls, c)
			a.End = time.Unix(0, t).UTC()
		}
		g.plan = append(g.plan, a)
	}
}

// anomalyStart is a working hour (10:00–16:00 local) of a working day
// after the warm-up, for tenant ten.
func (g *gen) anomalyStart(ten int) int64 {
	t := &g.tenants[ten]
	first := int(g.cfg.WarmUp / (24 * time.Hour))
	days := int(g.cfg.Duration / (24 * time.Hour))
	for tries := 0; ; tries++ {
		d := first + g.r.IntN(max(1, days-first))
		day := g.cfg.Start.Add(time.Duration(d) * 24 * time.Hour)
		wd := day.Weekday()
		if tries < 50 && (wd == time.Saturday || wd == time.Sunday || slices.Contains(t.holiday, d)) {
			continue
		}
		local := 10*time.Hour + time.Duration(g.r.Int64N(int64(6*time.Hour)))
		return day.Add(local - time.Duration(t.utcOff)*time.Hour).UnixNano()
	}
}

// victim is the production instance of (tenant, role) that called tool ti
// most in the day before at and is still alive at at; ok false if none.
func (g *gen) victim(ten int, role string, ti int, at, end int64) (int32, bool) {
	count := map[int32]int{}
	for i := range g.calls {
		c := &g.calls[i]
		if int(c.tool) == ti && c.at < at && c.at > at-int64(24*time.Hour) && c.anomaly < 0 {
			count[c.inst]++
		}
	}
	best, bestN := int32(-1), -1
	for i := range g.insts {
		in := &g.insts[i]
		p := &g.pools[in.pool]
		if p.tenant != ten || p.role.name != role || p.env != "production" || in.born > at || in.dies < at {
			continue
		}
		if n := count[int32(i)]; n > bestN {
			best, bestN = int32(i), n
		}
	}
	return best, best >= 0
}
