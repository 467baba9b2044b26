package egresssim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/egress"
)

// Result is the task-level outcome of a run.
type Result struct {
	Clean, CleanAlerted       int
	Attacked, AttackedAlerted int
	// ByKind counts tasks and alerted tasks per task kind.
	ByKind map[string][2]int
	// Accepted and Rejected count the operator's triage decisions.
	Accepted, Rejected int
}

// Recall is the share of attacked tasks alerted.
func (r Result) Recall() float64 { return frac(r.AttackedAlerted, r.Attacked) }

// FalseTaskRate is the share of clean tasks alerted.
func (r Result) FalseTaskRate() float64 { return frac(r.CleanAlerted, r.Clean) }

func frac(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "attacked tasks alerted %d/%d (%.1f%%), clean tasks alerted %d/%d (%.2f%%), triage accepted %d rejected %d",
		r.AttackedAlerted, r.Attacked, 100*r.Recall(), r.CleanAlerted, r.Clean, 100*r.FalseTaskRate(), r.Accepted, r.Rejected)
	kinds := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := r.ByKind[k]
		fmt.Fprintf(&b, "\n  %-34s %5d tasks %4d alerted (%.1f%%)", k, c[0], c[1], 100*frac(c[1], c[0]))
	}
	return b.String()
}

// Evaluate streams run through a detector with cfg, ticking every minute
// of event time, with an operator who triages the pending list every
// triageEvery (rejecting the attackers' destinations, accepting the rest;
// never when triageEvery <= 0).
// Tasks starting before countFrom (the warm-up) are not counted.
func Evaluate(run *Run, cfg egress.Config, triageEvery time.Duration, countFrom time.Time) Result {
	d := egress.New(detect.NewParams(cfg), baseline.Config{MaxKeys: 10000, IdleTTL: 30 * 24 * time.Hour})
	alerted := map[string]bool{}
	var fs []detect.Finding
	var res Result
	var nextTick, nextTriage time.Time
	for _, r := range run.Records {
		if nextTick.IsZero() {
			nextTick, nextTriage = r.Timestamp.Add(time.Minute), r.Timestamp.Add(triageEvery)
		}
		for !r.Timestamp.Before(nextTick) {
			d.Tick(nextTick, nil)
			nextTick = nextTick.Add(time.Minute)
		}
		if triageEvery > 0 && !r.Timestamp.Before(nextTriage) {
			for _, e := range d.Triage() {
				if e.Status != egress.StatusPending {
					continue
				}
				if run.Attackers[e.Destination] {
					if d.Reject(e.Tool, e.Destination) == nil {
						res.Rejected++
					}
				} else if d.Accept(e.Tool, e.Destination) == nil {
					res.Accepted++
				}
			}
			nextTriage = r.Timestamp.Add(triageEvery)
		}
		fs = d.Observe(r, fs[:0])
		if len(fs) > 0 {
			alerted[r.Context.TaskID] = true
		}
	}
	res.ByKind = map[string][2]int{}
	for _, t := range run.Tasks {
		if t.Start.Before(countFrom) {
			continue
		}
		a := alerted[t.ID]
		c := res.ByKind[t.Kind]
		c[0]++
		if a {
			c[1]++
		}
		res.ByKind[t.Kind] = c
		switch {
		case t.Attacked:
			res.Attacked++
			if a {
				res.AttackedAlerted++
			}
		default:
			res.Clean++
			if a {
				res.CleanAlerted++
			}
		}
	}
	return res
}
