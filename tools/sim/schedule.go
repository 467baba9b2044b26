package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// window is a half-open event-time interval [from, to).
type window struct{ from, to time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

func (w window) overlaps(from, to time.Time) bool { return w.from.Before(to) && from.Before(w.to) }

// schedule is the seeded calendar of the realistic profile: when agents are
// idle, when irregular jobs run, when tools have incidents and how busy
// each agent is each day. It draws from its own PCG stream (seed, 3), so it
// is the same for the labeled set and its normal-only twin.
type schedule struct {
	start, end time.Time
	quiet      [][]window  // per agent
	runs       [][]window  // per agent: Sync runs
	incidents  [][]window  // per tool
	dayLevel   [][]float64 // per agent, per day of the run
	seed       uint64
}

func newSchedule(cfg Config) *schedule {
	top := cfg.Topology
	r := rand.New(rand.NewPCG(cfg.Seed, 3))
	s := &schedule{start: cfg.Start, end: cfg.Start.Add(cfg.Duration), seed: cfg.Seed,
		quiet: make([][]window, len(top.Agents)), runs: make([][]window, len(top.Agents)),
		incidents: make([][]window, len(top.Tools)), dayLevel: make([][]float64, len(top.Agents))}
	days := int(math.Ceil(cfg.Duration.Hours()/24)) + 1
	uniform := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(r.Float64()*float64(hi-lo))
	}
	for ai, a := range top.Agents {
		lv := make([]float64, days)
		for d := range lv {
			lv[d] = math.Exp(0.15 * r.NormFloat64())
		}
		s.dayLevel[ai] = lv
		if q := a.Quiet; q != nil {
			for range q.Count {
				n := uniform(q.MinLen, q.MaxLen)
				room := cfg.Duration - 24*time.Hour - n
				if room <= 0 {
					continue
				}
				from := cfg.Start.Add(24*time.Hour + time.Duration(r.Float64()*float64(room))).Truncate(time.Minute)
				s.quiet[ai] = append(s.quiet[ai], window{from, from.Add(n)})
			}
		}
		if sy := a.Sync; sy != nil {
			perSec := sy.PerWeek / (7 * 24 * 3600)
			for t := cfg.Start; ; {
				t = t.Add(time.Duration(r.ExpFloat64() / perSec * float64(time.Second))).Truncate(time.Second)
				if !t.Before(s.end) {
					break
				}
				s.runs[ai] = append(s.runs[ai], window{t, t.Add(uniform(sy.MinLen, sy.MaxLen))})
			}
		}
	}
	for ti, t := range top.Tools {
		in := t.Incidents
		if in == nil {
			continue
		}
		perSec := in.PerDay / (24 * 3600)
		for at := cfg.Start; ; {
			at = at.Add(time.Duration(r.ExpFloat64() / perSec * float64(time.Second))).Truncate(time.Second)
			if !at.Before(s.end) {
				break
			}
			s.incidents[ti] = append(s.incidents[ti], window{at, at.Add(uniform(in.MinLen, in.MaxLen))})
		}
	}
	return s
}

func inAny(ws []window, t time.Time) bool {
	for _, w := range ws {
		if w.contains(t) {
			return true
		}
	}
	return false
}

// active reports whether agent ai works at t: joined, not left, not idle.
func (s *schedule) active(a *Agent, ai int, t time.Time) bool {
	off := t.Sub(s.start)
	return off >= a.Joins && (a.Leaves <= 0 || off < a.Leaves) && !inAny(s.quiet[ai], t)
}

// level is the agent's day-to-day activity factor (log-normal, σ 0.15).
func (s *schedule) level(ai int, t time.Time) float64 {
	d := int(t.Sub(s.start) / (24 * time.Hour))
	lv := s.dayLevel[ai]
	if d < 0 || d >= len(lv) {
		return 1
	}
	return lv[d]
}

// switchAt is when agent ai starts calling the rolled-out version of tool
// ti: At plus a seeded fraction of Spread, different per agent.
func (s *schedule) switchAt(ro *Rollout, ai, ti int) time.Time {
	f := float64(splitmix(s.seed^uint64(ai)<<32^uint64(ti)<<16^0x5eed)>>11) / (1 << 53)
	return s.start.Add(ro.At + time.Duration(f*float64(ro.Spread)))
}

// weekly is the weekend factor of enterprise agents.
func weekly(t time.Time) float64 {
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return 0.35
	}
	return 1
}
