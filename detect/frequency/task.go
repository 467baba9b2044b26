package frequency

import (
	"fmt"
	"math"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// taskRing is how many of a key's recent traces it remembers, most
// recently called first: a record whose trace is not among them starts a
// task. Interleaved tasks of one key are told apart up to that many at a
// time, and a task is counted once however long it runs.
const taskRing = 8

// taskState is a key's second series for the sustained-rise test: task
// starts per rate window (see "Tasks" in the package doc), and its calls
// per task (see "Calls per task"). 104 bytes.
type taskState struct {
	ring [taskRing]uint32 // hashes of the key's latest traces (0: none)
	// cnt are the distinct-input calls of each ring trace so far
	// (saturating at cntMax; cntFired once its alarm was raised).
	cnt [taskRing]uint8
	// cm is an EWMA of the calls of the key's completed tasks (a trace
	// leaving the ring) and cpk their peak, decaying per rate window.
	cm, cpk float32
	// n is the task starts of the current rate window.
	n uint32
	// ewT and ewN are EWMAs of task starts and calls per closed window
	// (their ratio rho turns a call expectation into a task one); res and
	// sq EWMAs of (T−e)²−T and e², e the seasonal task expectation of the
	// window's armed call model (the task count's residual dispersion).
	ewT, ewN, res, sq float32
	// sum estimates the task starts of the longest scale's N windows,
	// N times an EWMA of weight 2/(N+1) (the same centre of mass as the
	// N windows' sum), and peak is its decaying maximum, updated as the
	// call scales' peaks: the task series' peak guard of a young key.
	sum, peak float32
	// esum is the same leaky sum of the windows' seasonal task
	// expectations and xpk the decaying maximum of the excess sum − esum
	// over the windows armed from the key's own warm baseline: the peak
	// guard once it has a day of them (see armTask).
	esum, xpk float32
	// kEp is the dispersion an episode is judged with: kTask when it
	// began (windows 0 → 1), so the rise being tested cannot widen the
	// tail it is judged against while it builds up.
	kEp float32
	// The task series' Shiryaev–Roberts statistic (obs counts tasks) and
	// its episode's closed windows.
	riseState
	windows uint16
	// tf is the agent-wide factor of the task models (taskFactor, in
	// 1/riseFOne; 0: 1) and py the task starts of the key's last closed
	// window (saturating): its own share of its agent's task starts.
	// Both sit in the struct's padding.
	tf, py uint16
	// cthr is the calls of one task that raise the calls-per-task alarm
	// in the current window (0: disarmed) and cw the completed tasks seen
	// (saturating): in the padding too.
	cthr, cw uint8
}

// traceHash is a 32-bit hash of a trace id, never 0 (0 marks an empty
// ring slot). Eight bytes a step (trace ids are 16–64 bytes): cheaper
// per record than a byte-wise FNV.
func traceHash(s string) uint32 {
	const m = 0x9E3779B97F4A7C15
	h := uint64(len(s)) * m
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		h = (h ^ v) * m
		h ^= h >> 29
	}
	for ; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * m
	}
	h ^= h >> 32
	if x := uint32(h); x != 0 {
		return x
	}
	return 1
}

// recordTask is the hash of the record's task: its trace, else its
// context.task_id; 0 when it names neither (each such call is a task of
// its own).
func recordTask(r *record.Record) uint32 {
	s := r.TraceID
	if s == "" {
		if s = r.Context.TaskID; s == "" {
			return 0
		}
	}
	return traceHash(s)
}

// observe counts a call of the task with hash h (0: unknown; rep: its
// input repeats one of the key's current loop window, a retry or a loop,
// not more work) and reports whether it started a task. The ring is kept
// in recency order (a hit moves to the front), so the traces dropped are
// the longest idle; a dropped trace is a completed task whose calls the
// key learns (learnCalls). The current trace's calls are cnt[0].
func (ts *taskState) observe(h uint32, rep bool) bool {
	if h == 0 {
		ts.n++
		return true
	}
	i := 0
	for i < taskRing-1 && ts.ring[i] != h {
		i++
	}
	hit := ts.ring[i] == h
	c := ts.cnt[i]
	if !hit {
		if ts.ring[i] != 0 {
			ts.learnCalls(c)
		}
		c, rep = 0, false
	}
	copy(ts.ring[1:i+1], ts.ring[:i])
	for j := i; j > 0; j-- { // i is small on a hit: cheaper than a memmove call
		ts.cnt[j] = ts.cnt[j-1]
	}
	ts.ring[0] = h
	if !rep && c < cntMax {
		c++
	}
	ts.cnt[0] = c
	if hit {
		return false
	}
	ts.n++
	return true
}

// cntMax is the largest count of a trace's calls; cntFired marks a trace
// whose calls raised the alarm (it is not reported again).
const (
	cntMax   = math.MaxUint8 - 1
	cntFired = math.MaxUint8
)

// Calls per task: the mean's EWMA weight (at least; 1/n over the first
// tasks) and the completed tasks a key needs before it is judged. The
// peak decays per rate window at peak_half_life (taskLearn), not per task:
// a key whose hundreds of short tasks a day would wear a per-task decay
// down remembers the long task it runs once a day.
const (
	callsAlpha = 1.0 / 64
	callsWarm  = 16
)

// learnCalls learns one completed task of c distinct-input calls
// (cntFired: its alarm was raised), winsorised at the current alarm count
// so that one runaway task does not become the key's normal at once.
func (ts *taskState) learnCalls(c uint8) {
	x := float64(c)
	if ts.cthr != 0 {
		x = min(x, float64(ts.cthr))
	} else if c == cntFired {
		x = cntMax
	}
	if ts.cw < math.MaxUint8 {
		ts.cw++
	}
	a := max(callsAlpha, 1/float64(ts.cw))
	ts.cm += float32(a * (x - float64(ts.cm)))
	ts.cpk = float32(max(float64(ts.cpk), x))
}

// callsQ is the ratio of the geometric tail the key's extra calls in one
// task are judged by: X − 1 ~ Geometric(mean m), m the mean calls per
// completed task (at least 1: a prior of one extra call, so a key whose
// tasks call it once is not certain never to be called twice).
func (ts *taskState) callsQ() float64 {
	m := max(float64(ts.cm), 1)
	return m / (m + 1)
}

// armCalls sets the calls of one task at which the current window raises
// the calls-per-task alarm: the smallest c with riseTests·q^(c−1) ≤
// false_alarm_rate and c > peak_ratio × the key's recent largest task, or
// 0 (disarmed) for a key not yet judged or whose count would not fit.
func (ks *keyState) armCalls() {
	ts, r := &ks.task, &ks.rate
	ts.cthr = 0
	if ts.cw < callsWarm || !riseArmed(r) || !r.Warm(&ks.t.rule) {
		return
	}
	c := 1 + math.Ceil(ks.t.riseLogA/-math.Log(ts.callsQ()))
	c = max(c, math.Floor(ks.t.rule.PeakRatio*float64(ts.cpk))+1)
	if c <= cntMax {
		ts.cthr = uint8(c)
	}
}

// callsHit reports whether the current trace's call just raised the
// calls-per-task alarm, its calls and their decades (−log10 p, Bonferroni
// over the rise tests); the trace is marked so it is not reported again.
// The alarm count is armed per window, but the mean it rests on learns
// from tasks completing within the window: the count is re-judged at the
// current mean, and a task not yet improbable at false_alarm_rate waits
// for its next call. A task whose calls are mostly in the current window
// (the key's count n at least half of them) is a burst, the spike test's
// to judge at its scales: it is not reported while that holds (an agent
// loop raises one alert, the spike's), and is if the task goes on into a
// later window.
func (ks *keyState) callsHit() (uint8, float64, bool) {
	ts := &ks.task
	c := ts.cnt[0]
	if ts.cthr == 0 || c < ts.cthr || c == cntFired || 2*ks.rate.N >= uint32(c) {
		return 0, 0, false
	}
	decades := float64(c-1)*-math.Log10(ts.callsQ()) - math.Log10(riseTests)
	if decades < ks.t.minL {
		return 0, 0, false
	}
	ts.cnt[0] = cntFired
	return c, decades, true
}

// callsFinding is the "task_calls" finding of the record whose task just
// reached the alarm count c, or ok false when a spike of the episode or
// the hold swallows it (the key's hold is shared with spikes and rises).
func (d *Detector) callsFinding(r *record.Record, ks *keyState, c uint8, decades float64) (detect.Finding, bool) {
	t, rt, ts := ks.t, &ks.rate, &ks.task
	if rt.LastFire != 0 && rt.LastFire >= rt.Start-t.rp.Size {
		return detect.Finding{}, false
	}
	if !rt.Fire(decades, t.rp.Size, &t.rule) {
		return detect.Finding{}, false
	}
	m := max(float64(ts.cm), 1)
	f := detect.Finding{
		Pattern:  detect.PatternFrequency,
		Detail:   "task_calls",
		Score:    score.FromDecades(decades + prior(r)),
		Observed: float64(c),
		Expected: round3(m),
		Unit:     "calls/task",
		Summary: fmt.Sprintf("%s called %d times in one task by %s; its tasks usually call it %.3g times, at most %.3g lately: a rise within a task",
			r.Tool.Name, c, r.AgentID, m, ts.cpk),
		Details: map[string]any{
			"observed":     int64(c),
			"expected":     round3(m),
			"largest":      round3(float64(ts.cpk)),
			"threshold":    ts.cthr,
			"log10_p":      round3(-decades),
			"tasks_seen":   ts.cw,
			"window_start": time.Unix(rt.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(r)
	return f, true
}

// rho is the key's task starts per call (1 before any closed window with
// calls: each call its own task, the call series' own model).
func (ts *taskState) rho() float64 {
	if !(ts.ewN > 0) {
		return 1
	}
	return min(float64(ts.ewT)/float64(ts.ewN), 1)
}

// kTask is the task count's dispersion against its seasonal expectation.
func (ts *taskState) kTask() float64 {
	if !(ts.sq > 0) {
		return 0
	}
	return min(1000, max(0, float64(ts.res)/float64(ts.sq)))
}

// kJudge is the dispersion the current window is judged with: the
// episode's (kEp) during its first n windows (the longest scale's), else
// the learned one (a longer episode is judged as the key is now).
func (ts *taskState) kJudge(n int) float64 {
	if ts.windows > 0 && int(ts.windows) <= n {
		return float64(ts.kEp)
	}
	return ts.kTask()
}

// taskModels are the task series' models for the key's current window:
// its call models' expectations (idle deficit included) scaled by the
// agent-wide task factor instead of the call one, times rho, with the
// learned task dispersion.
func (ks *keyState) taskModels() riseModels {
	f := float32(1)
	if ks.task.tf > riseFOne {
		f = float32(ks.task.tf) / riseFOne
	}
	st := ks.rate.Sc[0]
	st.Mu *= f
	st.M *= f
	// The key's call models' expectations (ratioModels' mu) without their
	// lnΓ, and one lnΓ pair for the two task models (one k).
	mu, m := ratioMus(&st, ks.idle.def*f)
	rho, g := ks.task.rho(), newRiseGamma(ks.task.kJudge(ks.t.rp.N[max(ks.t.rp.Scales-1, 0)]))
	return riseModels{riseModelOf(rho*riseMu(mu), g), riseModelOf(rho*riseMu(m), g)}
}

// taskExpected is the key's expected task starts of its armed window
// without the idle deficit or the agent-wide factor: its share of its
// agent's expected task starts.
func (ks *keyState) taskExpected() float64 { return ks.task.rho() * ks.rawExpected() }

// taskFactor is agentFactor for the task series: the factor by which the
// key's other tools started more tasks than expected in the agent's
// previous window, (tasks + 10) / (expected + 10) less the key's own
// share, clamped to 1..riseFMax, in 1/riseFOne (0 for 1). Task starts, not
// calls: one long task of another tool is many calls but one task, and
// must not discount this key's rise in tasks. The own share's expectation
// is taken at the key's current rho (it learned one window since it was
// added), so it is approximate; the count is exact.
func (ks *keyState) taskFactor(as *agentState) uint16 {
	obs, exp := float64(as.ptobs), float64(as.ptexp)
	if obs == 0 && exp == 0 {
		return 0
	}
	r := &ks.rate
	if x := r.Ring[(int(r.Pos)+baseline.RingLen-1)%baseline.RingLen]; x > 0 && riseArmed(r) && r.ArmedAt == r.Start-ks.t.rp.Size {
		obs -= float64(ks.task.py)
		exp -= ks.taskExpected()
	}
	f := (max(obs, 0) + agentPrior) / (max(exp, 0) + agentPrior)
	if !(f > 1) {
		return 0
	}
	return uint16(math.Round(min(f, riseFMax) * riseFOne))
}

// taskLearn closes one window of x calls and y task starts for the task
// series, at EWMA weight a, against the last armed call expectations
// (seasonal mu, overall m: a gap's empty windows are judged against them
// too): the rate (rho), the dispersion, the long-scale sum and its peak.
// The count is learned as it is (a batch agent's runs teach their
// dispersion at once); an episode being tested is judged with the
// dispersion it began with (kJudge), so its own windows cannot widen the
// tail they are judged against.
func (ks *keyState) taskLearn(x, y, a, mu, m float64, own bool) {
	ts, rp := &ks.task, &ks.t.rp
	n, keep, gain := taskSumStep(rp)
	e := ts.rho() * max(mu, 0)
	s := float64(ts.sum)*keep + gain*y
	es := float64(ts.esum)*keep + gain*e
	ts.sum, ts.esum = float32(s), float32(es)
	ts.cpk = float32(float64(ts.cpk) * rp.WinPeakDecay)
	ts.peak = peakLearn(ts.peak, s, n, rp.WinPeakDecay)
	if own {
		ts.xpk = peakLearn(ts.xpk, s-es, n, rp.WinPeakDecay)
	}
	if mu > 0 {
		d := y - e
		ts.res += float32(a * (d*d - y - float64(ts.res)))
		ts.sq += float32(a * (e*e - float64(ts.sq)))
	}
	ts.ewT += float32(a * (y - float64(ts.ewT)))
	ts.ewN += float32(a * (x - float64(ts.ewN)))
}

// peakLearn is a decaying peak pk after a window whose sum is x: decayed
// by decay, it rises 1/(n+1) of the way to a larger x (n the longest
// scale's windows), as the call scales' peaks.
func peakLearn(pk float32, x, n, decay float64) float32 {
	p := float64(pk) * decay
	if x > p {
		p += (x - p) / (n + 1)
	}
	return float32(p)
}

// taskLearnGap closes the empty windows from..gap−1 of a gap for the task
// series (w0: the rate's window count at the gap's first window − 1).
func (ks *keyState) taskLearnGap(from, gap, w0 int64, mu, m float64, own bool) {
	for g := from; g < gap; g++ {
		ks.taskLearn(0, 0, taskWeight(w0+1+g, &ks.t.rp), mu, m, own)
	}
}

// add closes one window of y task starts: R ← (1+R)·exp(llr), as riseAdd.
// An episode's first window fixes the dispersion it is judged with.
func (ts *taskState) add(y, llr, e, logA float64) {
	if ts.step(&ts.windows, y, llr, e, logA) {
		ts.kEp = float32(ts.kTask())
	}
}

// end resets the task series' statistic.
func (ts *taskState) end() { ts.l, ts.obs, ts.exp, ts.windows = 0, 0, 0, 0 }

// armTask sets the task count of the current window at which the task
// series' R reaches the alarm level (0: disarmed), under the same
// conditions as armRise.
func (ks *keyState) armTask() {
	ks.armCalls()
	ts := &ks.task
	if ts.thr == riseFired && ks.rate.ArmedAt == ks.rate.Start {
		return
	}
	ts.thr = 0
	r := &ks.rate
	if r.ArmedAt != r.Start || !riseArmed(r) || !r.Warm(&ks.t.rule) || !(ts.ewN > 0) || ts.rho() > taskRhoMax {
		return
	}
	tm := ks.taskModels()
	thr := alarmCount(&tm, ks.t.riseLogA-float64(ts.l))
	if thr == 0 {
		return
	}
	ts.thr = uint32(max(float64(thr), min(ks.taskGuard(), 1<<30)))
}

// taskGuard is the task count of the current window below which the
// task series' peak guard holds its alarm. A return to as large an excess
// of tasks over their seasonal expectation (the leaky long-scale sums) as
// the key ran lately is not a rise: a batch agent's run at a random hour
// is such an excess and is learned, while a busy hour of a daily pattern
// is none, so a rise in a quiet hour is judged against that hour's
// expectation, not against the tasks of the busiest hour. The excess peak
// learns only from windows armed from the key's own warm baseline (before
// that the seasonal expectation is not the key's); for its first day of
// them the guard is on the sum and its peak instead.
func (ks *keyState) taskGuard() float64 {
	ts, r := &ks.task, &ks.rate
	_, keep, gain := taskSumStep(&ks.t.rp)
	pr := ks.t.rule.PeakRatio
	if r.First == 0 || r.Start-r.First < ks.t.rule.Warmup+excessDay {
		return math.Floor((pr*float64(ts.peak)-float64(ts.sum)*keep)/gain) + 1
	}
	e := ts.rho() * float64(r.Sc[0].Mu)
	return math.Floor((pr*float64(ts.xpk)-float64(ts.sum-ts.esum)*keep)/gain+e) + 1
}

// excessDay is how long (seconds) a key's excess peak learns before it
// guards: a day of its daily pattern.
const excessDay = 86400

// taskRhoMax is the largest share of task starts per call at which the
// task series is judged: beyond it calls hardly cluster into tasks (or
// carry no trace), the task series is the call series, and the call
// series' own test judges it.
const taskRhoMax = 0.75

// taskHit reports whether the task start just counted raised the task
// series' alarm.
func (ks *keyState) taskHit() bool {
	thr := ks.task.thr
	return thr != 0 && thr != riseFired && ks.task.n >= thr
}

// taskFinding is the "sustained_rise" finding (series "tasks") of the
// record that raised the task series' alarm, or ok false when a spike of
// the episode or the hold swallows it. The statistic restarts either way.
func (d *Detector) taskFinding(r *record.Record, ks *keyState) (detect.Finding, bool) {
	t, ts := ks.t, &ks.task
	tm := ks.taskModels()
	ep := ts.episode(ts.windows, &tm, float64(ts.n), ts.kJudge(t.rp.N[max(t.rp.Scales-1, 0)]))
	ts.end()
	ts.thr = riseFired
	f, ok := ks.riseAlarm(r, &ep, "tasks", "%s called by %d tasks in %s of %s; expected about %.3g: a sustained rise")
	if ok {
		f.Details["series"] = "tasks"
		f.Details["calls"] = ks.rate.N
		f.Details["tasks_per_call"] = round3(ts.rho())
	}
	return f, ok
}

// taskWeight is the EWMA weight of the task series' rate and dispersion
// for a key that has closed w windows: a running mean at first, then the
// overall level's weight.
func taskWeight(w int64, rp *baseline.RateParams) float64 {
	return max(rp.OverallAlpha, 1/float64(max(w, 1)))
}

// taskSumStep is the longest scale's windows N and how a window updates
// taskState.sum: sum·keep + gain·count (an EWMA of weight 2/(N+1), times N).
func taskSumStep(rp *baseline.RateParams) (n, keep, gain float64) {
	n = float64(max(rp.N[max(rp.Scales-1, 0)], 1))
	return n, 1 - 2/(n+1), 2 * n / (n + 1)
}
