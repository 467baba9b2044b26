package sim

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/record"
)

// Classes of normal behaviour (Behaviour.Class): what a false alarm on
// normal traffic was most likely reacting to.
const (
	ClassHeavyTailLatency = "heavy_tail_latency" // σ ≥ 1.2 or Pareto-tailed durations
	ClassHeavyTailSize    = "heavy_tail_size"    // σ ≥ 1.2 or Pareto-tailed outputs
	ClassRoutineDenial    = "routine_denial"     // the same denial every day
	ClassIrregularBatch   = "irregular_batch"    // sync jobs at random hours
	ClassNightlyBatch     = "nightly_batch"      // fixed-time batch
	ClassErrorIncident    = "error_incident"     // fast-failing provider episodes
	ClassRollout          = "rollout"            // a new version spreading
	ClassQuietPeriod      = "quiet_period"       // an agent idle for days, and its return
	ClassJoinLeave        = "join_leave"         // an agent's first hours, or its leaving
	ClassWeekend          = "weekend"            // weekend lull and the Monday return
	ClassStagingDenial    = "staging_denial"     // random sandbox denials
	ClassOpenVocabulary   = "open_vocabulary"    // new input shapes are normal
	ClassTimeout          = "timeout"            // calls reporting the caller's timeout
	ClassTaskBurst        = "task_burst"         // calls clustered in tasks of up to 30
	ClassBenignLoop       = "benign_loop"        // a task looping on one input until its step limit
	ClassWrongArgument    = "wrong_argument"     // a misnamed argument: a new shape that fails
)

// Behaviour is one documented normal behaviour of a realistic simulation:
// which keys it touches (empty AgentID or Tool: any), when (zero End: to the
// end of the run), and which alert patterns it could plausibly trip.
type Behaviour struct {
	Class         string
	AgentID, Tool string
	Start, End    time.Time
	Patterns      []string
	Description   string
}

// Behaviours lists the normal behaviours of cfg's realistic simulation,
// most specific first (episodes drawn during generation — benign loops,
// misnamed arguments — then scheduled windows, then standing properties),
// for attributing false alarms (tools/eval). It runs the normal-only
// generation once to find the episodes. The easy profile has none.
func Behaviours(cfg Config) ([]Behaviour, error) {
	cfg = cfg.withDefaults()
	if cfg.Profile != ProfileRealistic {
		return nil, nil
	}
	twin := cfg
	twin.NoAnomalies = true
	g, err := newGen(twin)
	if err != nil {
		return nil, err
	}
	var out []Behaviour
	g.episodes = &out
	if err := g.run(func(*record.Record, Truth) error { return nil }); err != nil {
		return nil, err
	}
	s := newSchedule(cfg)
	top := cfg.Topology
	end := cfg.Start.Add(cfg.Duration)
	all := registry.Default.Patterns()
	rateish := []string{PatternFrequency, PatternDenialSpike}
	for ai, a := range top.Agents {
		for _, w := range s.runs[ai] {
			out = append(out, Behaviour{Class: ClassIrregularBatch, AgentID: a.ID, Start: w.from, End: w.to.Add(time.Hour),
				Patterns: all, Description: a.ID + " runs " + a.Sync.Tool + " at a random hour"})
		}
		if b := a.Batch; b != nil {
			for d := cfg.Start.Truncate(24 * time.Hour); d.Before(end); d = d.AddDate(0, 0, 1) {
				bs := d.Add(time.Duration(b.Hour)*time.Hour + time.Duration(b.Minute)*time.Minute)
				out = append(out, Behaviour{Class: ClassNightlyBatch, AgentID: a.ID, Start: bs, End: bs.Add(b.Length + time.Hour),
					Patterns: all, Description: a.ID + " nightly batch"})
			}
		}
		for _, w := range s.quiet[ai] {
			out = append(out, Behaviour{Class: ClassQuietPeriod, AgentID: a.ID, Start: w.from, End: w.to.Add(6 * time.Hour),
				Patterns: all, Description: a.ID + " idle, then back"})
		}
		if a.Joins > 0 {
			j := cfg.Start.Add(a.Joins)
			out = append(out, Behaviour{Class: ClassJoinLeave, AgentID: a.ID, Start: j, End: j.Add(12 * time.Hour),
				Patterns: all, Description: a.ID + " joins with no history"})
		}
		if a.Leaves > 0 {
			l := cfg.Start.Add(a.Leaves)
			out = append(out, Behaviour{Class: ClassJoinLeave, AgentID: a.ID, Start: l, End: l.Add(6 * time.Hour),
				Patterns: all, Description: a.ID + " stops calling"})
		}
	}
	for ti, t := range top.Tools {
		for _, w := range s.incidents[ti] {
			out = append(out, Behaviour{Class: ClassErrorIncident, Tool: t.Name, Start: w.from, End: w.to.Add(30 * time.Minute),
				Patterns: all, Description: t.Name + " provider incident (fast errors)"})
		}
		if ro := t.Rollout; ro != nil {
			rs := cfg.Start.Add(ro.At)
			out = append(out, Behaviour{Class: ClassRollout, Tool: t.Name, Start: rs, End: rs.Add(ro.Spread + 12*time.Hour),
				Patterns: []string{PatternLatency, PatternOutputSize, PatternInputNovelty}, Description: t.Name + " " + ro.Version + " rolling out"})
		}
	}
	for _, a := range top.Agents {
		for _, rd := range a.Routine {
			out = append(out, Behaviour{Class: ClassRoutineDenial, AgentID: a.ID, Tool: rd.Tool,
				Patterns: []string{PatternDenialSpike}, Description: a.ID + " routinely denied " + rd.Permission + " at " + rd.Tool})
		}
		if a.DenialRate > 0 {
			out = append(out, Behaviour{Class: ClassStagingDenial, AgentID: a.ID,
				Patterns: []string{PatternDenialSpike}, Description: a.ID + " denied now and then"})
		}
	}
	for _, t := range top.Tools {
		if heavy(t.Latency) {
			out = append(out, Behaviour{Class: ClassHeavyTailLatency, Tool: t.Name,
				Patterns: []string{PatternLatency}, Description: t.Name + " heavy-tailed latency"})
		}
		if heavy(t.Output) {
			out = append(out, Behaviour{Class: ClassHeavyTailSize, Tool: t.Name,
				Patterns: []string{PatternOutputSize}, Description: t.Name + " heavy-tailed output size"})
		}
		if t.TimeoutMS > 0 {
			out = append(out, Behaviour{Class: ClassTimeout, Tool: t.Name,
				Patterns: []string{PatternLatency, PatternOutputSize}, Description: t.Name + " times out at " + time.Duration(t.TimeoutMS*float64(time.Millisecond)).String()})
		}
		if t.NovelRate > 0 {
			out = append(out, Behaviour{Class: ClassOpenVocabulary, Tool: t.Name,
				Patterns: []string{PatternInputNovelty}, Description: t.Name + " open input vocabulary"})
		}
	}
	for _, a := range top.Agents {
		if a.Rate > 0 && len(a.Tools) > 0 {
			tk := a.Tasks
			if tk == nil {
				tk = &defaultTasks
			}
			if tk.Max >= 10 {
				out = append(out, Behaviour{Class: ClassTaskBurst, AgentID: a.ID,
					Patterns: []string{PatternFrequency}, Description: a.ID + " works in bursty tasks"})
			}
		}
	}
	for d := cfg.Start.Truncate(24 * time.Hour); d.Before(end); d = d.AddDate(0, 0, 1) {
		if d.Weekday() == time.Saturday {
			out = append(out, Behaviour{Class: ClassWeekend, Start: d, End: d.Add(2*24*time.Hour + 12*time.Hour),
				Patterns: rateish, Description: "weekend lull and Monday return"})
		}
	}
	return out, nil
}

func heavy(d *Dist) bool {
	if d == nil {
		return false
	}
	s := d.Sigma
	for _, m := range d.Modes {
		if m.Alpha > 0 {
			return true
		}
		s = math.Max(s, m.Sigma)
	}
	return s >= 1.2
}
