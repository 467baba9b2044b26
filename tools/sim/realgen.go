package sim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// call is a scheduled normal call of the realistic profile: tasks plan
// their calls ahead, and a call becomes a record when its slice comes.
type call struct {
	at    time.Time
	seq   uint64
	agent int
	tool  int
	task  *task
	input uint64
	shape string
	inFix bool // input/shape fixed (always, except for anomaly records)
	retry bool
	wrong bool // a wrong argument name: fails validation, then retried
}

type task struct {
	traceID, taskID string
	span            int
}

type callHeap []call

func (h callHeap) Len() int { return len(h) }
func (h callHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h callHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *callHeap) Push(x any)   { *h = append(*h, x.(call)) }
func (h *callHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// realRate is agent ai's mean call rate at t (calls/s): its Rate scaled by
// the day/night cycle, the weekend factor and the day's level; 0 when the
// agent is not active.
func (g *gen) realRate(ai int, t time.Time) float64 {
	a := &g.top.Agents[ai]
	if !g.sched.active(a, ai, t) {
		return 0
	}
	r := a.Rate * g.k * g.sched.level(ai, t)
	if a.Diurnal {
		r *= diurnal(t)
	}
	if a.Weekly {
		r *= weekly(t)
	}
	return r
}

// keyRate is the mean rate of agent ai's calls to tool ti at t.
func (g *gen) keyRate(ai, ti int, t time.Time) float64 {
	a := &g.top.Agents[ai]
	var sum, w float64
	for _, u := range a.Tools {
		sum += u.Weight
		if u.Tool == g.top.Tools[ti].Name {
			w += u.Weight
		}
	}
	if sum == 0 {
		return 0
	}
	return g.realRate(ai, t) * w / sum
}

func (g *gen) tasksOf(a *Agent) *Tasks {
	if a.Tasks != nil {
		return a.Tasks
	}
	return &defaultTasks
}

var defaultTasks = Tasks{Min: 3, Max: 30, ThinkMean: 8 * time.Second, Sticky: 0.5, Retry: 0.03, Loop: 0.003, WrongArg: 0.002}

func (g *gen) pickTool(r *rand.Rand, ai int) int {
	a := &g.top.Agents[ai]
	var sum float64
	for _, u := range a.Tools {
		sum += u.Weight
	}
	x := r.Float64() * sum
	for i, u := range a.Tools {
		if x -= u.Weight; x < 0 {
			return g.useTool[ai][i]
		}
	}
	return g.useTool[ai][len(a.Tools)-1]
}

func (g *gen) realSlice(from, to time.Time) {
	r := g.normal
	dt := to.Sub(from).Seconds()
	for ai := range g.top.Agents {
		a := &g.top.Agents[ai]
		if a.Rate > 0 && len(a.Tools) > 0 {
			tk := g.tasksOf(a)
			if n := poisson(r, g.realRate(ai, from)*dt/tk.meanCalls()); n > 0 {
				for ; n > 0; n-- {
					g.startTask(ai, randTime(r, from, to))
				}
			}
		}
		if b := a.Batch; b != nil {
			day := from.Truncate(24 * time.Hour)
			bs := day.Add(time.Duration(b.Hour)*time.Hour + time.Duration(b.Minute)*time.Minute)
			g.runCalls(ai, b.Tool, b.Rate, b.Queries, window{bs, bs.Add(b.Length)}, from, to, day.Unix())
		}
		if sy := a.Sync; sy != nil {
			for i, w := range g.sched.runs[ai] {
				g.runCalls(ai, sy.Tool, sy.Rate, sy.Queries, w, from, to, int64(i))
			}
		}
	}
	for len(g.calls) > 0 && g.calls[0].at.Before(to) {
		c := heap.Pop(&g.calls).(call)
		g.emitCall(&c)
	}
}

// runCalls emits the calls of a batch run w that fall in [from, to).
func (g *gen) runCalls(ai int, tool string, rate float64, queries int, w window, from, to time.Time, run int64) {
	lo, hi := maxTime(from, w.from), minTime(to, w.to)
	if !lo.Before(hi) {
		return
	}
	r := g.normal
	ti := g.toolIdx[tool]
	key := [2]int64{int64(ai), run}
	tk := g.runTask[key]
	if tk == nil {
		a := &g.top.Agents[ai]
		tk = &task{taskID: a.TaskPrefix + "-" + strconv.FormatInt(w.from.Unix()%1000000, 10),
			traceID: "agent-task-" + w.from.Format("2006-01-02") + "-" + strconv.FormatUint(r.Uint64()>>40, 16)}
		g.runTask[key] = tk
	}
	for n := poisson(r, rate*g.cfg.Scale*hi.Sub(lo).Seconds()); n > 0; n-- {
		q := 0
		if queries > 0 {
			q = r.IntN(queries)
		}
		c := call{at: randTime(r, lo, hi), agent: ai, tool: ti, task: tk, inFix: true,
			input: uint64(ti)<<40 | 1<<39 | uint64(q), shape: g.top.Tools[ti].Shapes[0].Shape}
		g.emitCall(&c)
	}
}

// startTask plans one task of agent ai starting at ts: its calls, think
// times, tool stickiness and retries.
func (g *gen) startTask(ai int, ts time.Time) {
	r := g.normal
	a := &g.top.Agents[ai]
	tk := g.tasksOf(a)
	size := tk.Min
	if tk.Max > tk.Min {
		size = int(float64(tk.Min) * math.Pow(float64(tk.Max+1)/float64(tk.Min), r.Float64()))
	}
	g.taskN[ai]++
	t := &task{taskID: a.TaskPrefix + "-" + strconv.Itoa(10000+g.taskN[ai]),
		traceID: "agent-task-" + ts.Format("2006-01-02") + "-" + strconv.FormatUint(r.Uint64()>>40, 16)}
	at := ts
	ti := g.pickTool(r, ai)
	if r.Float64() < tk.Loop {
		// looping until the step limit: one call, same input, many times
		c := call{agent: ai, tool: ti, task: t, input: r.Uint64(), shape: pickShape(r, &g.top.Tools[ti]), inFix: true}
		for n := 15 + r.IntN(11); n > 0; n-- {
			at = at.Add(time.Second + time.Duration(r.ExpFloat64()*float64(3*time.Second))).Truncate(time.Millisecond)
			c.at = at
			g.push(c)
		}
		g.episode(ClassBenignLoop, ai, ti, ts, at, PatternFrequency, "loops on one input until its step limit")
		return
	}
	for i := 0; i < size; i++ {
		if i > 0 {
			at = at.Add(time.Duration(r.ExpFloat64() * float64(tk.ThinkMean))).Truncate(time.Millisecond)
			if r.Float64() >= tk.Sticky {
				ti = g.pickTool(r, ai)
			}
		}
		c := call{at: at, agent: ai, tool: ti, task: t, input: r.Uint64(), shape: pickShape(r, &g.top.Tools[ti]), inFix: true}
		if r.Float64() < tk.WrongArg && strings.HasPrefix(c.shape, "json{") {
			w := c
			w.shape, w.wrong = misname(c.shape), true
			g.push(w)
			g.episode(ClassWrongArgument, ai, ti, at, at, PatternInputNovelty, "misnames an argument: "+w.shape)
			at = at.Add(time.Second + time.Duration(r.Int64N(int64(2*time.Second)))).Truncate(time.Millisecond)
			c.at = at
		}
		g.push(c)
		if r.Float64() < tk.Retry {
			for n := 1 + r.IntN(3); n > 0; n-- {
				at = at.Add(time.Second + time.Duration(r.Int64N(int64(4*time.Second)))).Truncate(time.Millisecond)
				c.at, c.retry = at, true
				g.push(c)
			}
		}
	}
}

// misname renames the first argument of a JSON shape the way agents get
// argument names wrong (customer_id → customerId, query → query_text).
func misname(shape string) string {
	keys := strings.Split(strings.TrimSuffix(strings.TrimPrefix(shape, "json{"), "}"), ",")
	name, kind, _ := strings.Cut(keys[0], ":")
	if strings.Contains(name, "_") {
		parts := strings.Split(name, "_")
		for i := 1; i < len(parts); i++ {
			if parts[i] != "" {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
		}
		name = strings.Join(parts, "")
	} else {
		name += "_text"
	}
	keys[0] = name + ":" + kind
	slices.Sort(keys)
	return "json{" + strings.Join(keys, ",") + "}"
}

// episode records a benign episode drawn during generation (Behaviours);
// it may explain alerts on its key up to 10 minutes after it ends.
func (g *gen) episode(class string, ai, ti int, from, to time.Time, pattern, what string) {
	if g.episodes == nil {
		return
	}
	*g.episodes = append(*g.episodes, Behaviour{Class: class, AgentID: g.top.Agents[ai].ID, Tool: g.top.Tools[ti].Name,
		Start: from, End: to.Add(10 * time.Minute), Patterns: []string{pattern}, Description: g.top.Agents[ai].ID + " " + what})
}

func (g *gen) push(c call) {
	g.callSeq++
	c.seq = g.callSeq
	heap.Push(&g.calls, c)
}

// emitCall turns a due call into a record (normal RNG), applies the
// sustained anomalies active on its key, and queues it.
func (g *gen) emitCall(c *call) {
	if !c.at.Before(g.cfg.Start.Add(g.cfg.Duration)) {
		return
	}
	rec := g.realRecord(g.normal, c.at, c.agent, c.tool, c.task, c.input, c.shape, c.inFix)
	if c.wrong { // rejected by the tool's argument validation
		rec.Invocation.Status = record.StatusError
		rec.Invocation.PermissionsDenied = nil
		rec.Invocation.PermissionsUsed = g.top.Tools[c.tool].Permissions
		rec.Invocation.DurationMS = math.Max(1, math.Round(rec.Invocation.DurationMS*0.05))
		rec.Invocation.OutputBytes = 90 + int64(len(c.shape))
	}
	delay := g.delay(g.jitter) // drawn even for a dropped call, so the twin's jitter matches
	label := ""
	for i := range g.mods {
		p := &g.plan[g.mods[i]]
		if p.agent != c.agent || p.tool != c.tool || c.at.Before(p.Start) || !c.at.Before(p.End) {
			continue
		}
		switch p.spec.Kind {
		case KindDrop:
			return // the tool is not called; the agent keeps working
		case KindLatencyShift:
			rec.Invocation.DurationMS = math.Max(1, math.Round(rec.Invocation.DurationMS*p.spec.Value))
		case KindOutputShift:
			if rec.Invocation.OutputBytes > 0 {
				rec.Invocation.OutputBytes = int64(math.Round(float64(rec.Invocation.OutputBytes) * p.spec.Value))
			}
		}
		label = p.ID
	}
	g.addAt(c.at.Add(delay), label, rec)
}

// delay draws an out-of-order delivery delay below Config.Jitter.
func (g *gen) delay(r *rand.Rand) time.Duration {
	if g.cfg.Jitter <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(g.cfg.Jitter)))
}

// addAt queues rec for emission at the given arrival time.
func (g *gen) addAt(at time.Time, anom string, rec record.Record) {
	g.seq++
	g.pending = append(g.pending, event{at: at, seq: g.seq, rec: rec, anom: anom})
}

// realRecord draws one call of agent ai to tool ti at ts from r.
func (g *gen) realRecord(r *rand.Rand, ts time.Time, ai, ti int, tk *task, input uint64, shape string, fixed bool) record.Record {
	a := &g.top.Agents[ai]
	t := &g.top.Tools[ti]
	tk.span++
	if !fixed {
		shape = pickShape(r, t)
		input = r.Uint64()
	}
	version, latF, outF := t.Version, 1.0, 1.0
	if ro := t.Rollout; ro != nil && !ts.Before(g.sched.switchAt(ro, ai, ti)) {
		version, latF, outF = ro.Version, ro.LatencyFactor, ro.OutputFactor
	}
	inSigma := t.InputSigma
	if inSigma == 0 {
		inSigma = 0.5
	}
	in := t.InputBytes * math.Exp(inSigma*r.NormFloat64())
	lat := t.Latency.draw(r) * latF
	if t.InputScaling > 0 && t.InputBytes > 0 {
		lat *= math.Pow(in/t.InputBytes, t.InputScaling)
	}
	out := t.Output.draw(r) * outF
	u, u2 := r.Float64(), r.Float64()
	rec := record.Record{
		TraceID:      tk.traceID,
		SpanID:       "tool-call-" + pad3(tk.span),
		ParentSpanID: "reasoning-step-" + pad3((tk.span+1)/2),
		Timestamp:    ts,
		AgentID:      a.ID,
		Tool: record.Tool{Name: t.Name, Version: version, Publisher: t.Publisher,
			TrustLevel: t.TrustLevel, VerificationScore: t.VerificationScore},
		Invocation: record.Invocation{
			InputHash:       hashOf(input, 0),
			OutputHash:      hashOf(r.Uint64(), 1),
			DurationMS:      math.Max(1, math.Round(lat)),
			Status:          record.StatusSuccess,
			PermissionsUsed: t.Permissions,
			OutputBytes:     int64(math.Round(out)),
			InputBytes:      int64(math.Round(in)),
			InputShape:      shape,
		},
		Context: record.Context{TaskID: tk.taskID, UserID: a.UserID,
			DataClassification: t.Classification, Environment: a.Environment},
		DataSubjectsAffected: record.Absent,
	}
	inv := &rec.Invocation
	routine := ""
	var routineP float64
	for _, rd := range a.Routine {
		if rd.Tool == t.Name {
			routine, routineP = rd.Permission, rd.Prob
		}
	}
	switch {
	case u < routineP:
		g.deny(&rec, routine)
	case u < routineP+a.DenialRate && len(a.DenyPerms) > 0:
		g.deny(&rec, a.DenyPerms[int(u2*float64(len(a.DenyPerms)))])
	case t.Incidents != nil && u2 < t.Incidents.ErrorProb && inAny(g.sched.incidents[ti], ts):
		inv.Status = record.StatusError // rate-limited: fails fast with a short body
		inv.DurationMS = 20 + math.Round(60*u)
		inv.OutputBytes = 60 + int64(140*u)
	case u < routineP+a.DenialRate+t.ErrorRate:
		inv.Status = record.StatusError
		inv.DurationMS = math.Max(1, math.Round(inv.DurationMS*0.3))
		inv.OutputBytes = 80 + int64(120*u2)
	case t.TimeoutMS > 0 && inv.DurationMS >= t.TimeoutMS:
		inv.Status = record.StatusTimeout
		inv.DurationMS = t.TimeoutMS
		inv.OutputBytes = 0
	}
	return rec
}

// realAnomalySlice injects the extra records of the realistic profile's
// anomalies (sustained shifts and drops act in emitCall instead).
func (g *gen) realAnomalySlice(from, to time.Time) {
	for i := range g.plan {
		p := &g.plan[i]
		lo, hi := maxTime(from, p.Start), minTime(to, p.End)
		if !lo.Before(hi) {
			continue
		}
		r := g.anomRng[i]
		s := p.spec
		var rate float64
		switch s.Kind {
		case KindDrop, KindLatencyShift, KindOutputShift:
			continue
		case KindAgentLoop:
			rate = s.Multiplier * math.Max(g.keyRate(p.agent, p.tool, lo), 0.05*g.cfg.Scale)
		case KindRate:
			rate = (s.Multiplier - 1) * g.keyRate(p.agent, p.tool, lo)
		case KindTaskRate:
			g.taskRateSlice(i, lo, hi)
			continue
		case KindDenialSpike:
			rate = (s.Multiplier - 1) * g.keyRate(p.agent, p.tool, lo) * g.routineProb(p.agent, p.tool, s.Permission)
		case KindSameInput:
			rate = s.PerMinute / 60
		default:
			rate = float64(s.Count) / s.Duration.Seconds()
		}
		for n := poisson(r, rate*hi.Sub(lo).Seconds()); n > 0; n-- {
			ts := randTime(r, lo, hi)
			// the anomaly's own stream draws its delay, so the normal
			// records keep the twin's jitter
			g.addAt(ts.Add(g.delay(r)), p.ID, g.realAnomalyRecord(i, ts))
		}
	}
}

// taskRateSlice starts the extra tasks of task-rate anomaly i that begin
// in [lo, hi): (Multiplier−1) × the key's rate in calls, as tasks of a
// geometric number of calls (mean Count) 1–20 s apart, each its own task.
func (g *gen) taskRateSlice(i int, lo, hi time.Time) {
	p := &g.plan[i]
	r := g.anomRng[i]
	per := math.Max(float64(p.spec.Count), 1)
	rate := (p.spec.Multiplier - 1) * g.keyRate(p.agent, p.tool, lo) / per
	a := &g.top.Agents[p.agent]
	for n := poisson(r, rate*hi.Sub(lo).Seconds()); n > 0; n-- {
		ts := randTime(r, lo, hi)
		// ids apart from the agent's own (whose numbering the twin shares)
		g.anomTasks[i] = &task{taskID: a.TaskPrefix + "-" + strconv.Itoa(900000+i*10000) + "-" + strconv.FormatUint(r.Uint64()>>48, 16),
			traceID: "agent-task-" + ts.Format("2006-01-02") + "-" + strconv.FormatUint(r.Uint64()>>40, 16)}
		for {
			g.addAt(ts.Add(g.delay(r)), p.ID, g.realAnomalyRecord(i, ts))
			if r.Float64() < 1/per {
				break
			}
			ts = ts.Add(time.Second + time.Duration(r.Float64()*float64(19*time.Second))).Truncate(time.Millisecond)
			if !ts.Before(p.End) {
				break // the incident ends with its window
			}
		}
	}
}

func (g *gen) routineProb(ai, ti int, perm string) float64 {
	for _, rd := range g.top.Agents[ai].Routine {
		if rd.Tool == g.top.Tools[ti].Name && rd.Permission == perm {
			return rd.Prob
		}
	}
	return 0
}

func (g *gen) realAnomalyRecord(i int, ts time.Time) record.Record {
	p := &g.plan[i]
	r := g.anomRng[i]
	a := &g.top.Agents[p.agent]
	t := &g.top.Tools[p.tool]
	tk := g.anomTasks[i]
	if tk == nil { // one task for the whole incident
		tk = &task{taskID: a.TaskPrefix + "-" + strconv.Itoa(90000+i),
			traceID: "agent-task-" + ts.Format("2006-01-02") + "-" + strconv.FormatUint(r.Uint64()>>40, 16)}
		g.anomTasks[i] = tk
	}
	rec := g.realRecord(r, ts, p.agent, p.tool, tk, 0, "", false)
	inv := &rec.Invocation
	switch p.spec.Kind {
	case KindDenial, KindDenialSpike:
	case KindRate, KindTaskRate:
		// ordinary calls, just too many: keep errors and timeouts, but not
		// denials (those belong to the denial pattern).
		if inv.Status == record.StatusDenied {
			succeed(&rec, t)
		}
	default:
		succeed(&rec, t)
	}
	switch p.spec.Kind {
	case KindSameInput:
		inv.InputHash = hashOf(uint64(i), 7)
		inv.InputShape = t.Shapes[0].Shape
	case KindShape:
		inv.InputShape = p.spec.Shape
	case KindDenial, KindDenialSpike:
		g.deny(&rec, p.spec.Permission)
	case KindOutputSize:
		inv.OutputBytes = int64(math.Round(p.spec.Value * math.Exp(0.1*r.NormFloat64())))
	case KindLatency:
		inv.DurationMS = math.Round(p.spec.Value * math.Exp(0.1*r.NormFloat64()))
	}
	return rec
}

// succeed turns a denied, failed or timed-out draw into a successful call.
func succeed(rec *record.Record, t *Tool) {
	inv := &rec.Invocation
	if inv.Status == record.StatusSuccess {
		return
	}
	inv.Status = record.StatusSuccess
	inv.PermissionsDenied = nil
	inv.PermissionsUsed = t.Permissions
	if inv.OutputBytes <= 0 {
		inv.OutputBytes = int64(t.Output.Median)
	}
	if inv.OutputHash == "" {
		inv.OutputHash = hashOf(uint64(inv.OutputBytes), 3)
	}
}
