// Package eval scores alerts against the labeled anomalies of a simulation
// (tools/sim): per-pattern recall, precision, false alerts per 100,000
// normal records (any severity and warning or above), the worst alert storm
// of one key in a day, and false alerts by the normal behaviour behind them.
// It also writes simulated traffic as JSON lines and parses alert JSON
// lines, for `detector simulate`, `detector eval`, backtests and benchmarks.
//
// The issue-9 gate (TestGateRealistic; tools/eval/runner runs it) scores
// the realistic profile on HeldOutSeeds — derived by rule from HeldOutBase,
// never the TuningSeeds — labeled set and normal-only twin, against
// IssueTargets. TestEndToEnd keeps the original gate on the easy profile.
//
// Matching rules (only alerts with status "firing" count; resolves are not
// alerts):
//
//   - Recall: an anomaly is detected if some firing alert has the anomaly's
//     pattern and tool, the anomaly's agent (when the anomaly names one), and
//     an event_time in [Start, End+grace].
//   - Precision: a firing alert is a true positive if it matches ANY
//     anomaly's agent, tool and [Start, End+grace] window, whatever the
//     pattern: a loop that also trips the latency or input detector on the
//     same key at the same time points at a real incident, so it is not a
//     false alarm. A tool-wide alert (empty agent_id) matches on tool and
//     time alone. Precision = true positives / firing alerts (1 when there
//     are no firing alerts).
//     An anomaly marked Sustained (a shift, drop or rate change) also owns
//     the recovery after it, up to its own duration past End (+grace): a
//     detector that flags the return to normal is reacting to the anomaly.
//   - False alerts per 100k = false positives × 100,000 / normal records,
//     also counted for severity warning or above alone.
//   - Storms: firing alerts per (agent_id, tool) key per UTC day of
//     event_time, all patterns together; MaxKeyDay is the worst key-day.
//     On a normal-only twin (no plan) every firing alert is false, so this
//     is "the most firing alerts any key raised in a day" on normal traffic.
//   - Classes (Attribute): each false alert is put in the first normal
//     behaviour of the simulation (sim.Behaviours) whose key, time window
//     (+grace) and plausible patterns match it, else "other".
package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// Patterns is the order of patterns in the result table: the detector
// registry's.
var Patterns = registry.Default.Patterns()

// PatternResult is the recall of one pattern.
type PatternResult struct {
	Pattern   string
	Anomalies int
	Detected  int
	Recall    float64 // Detected/Anomalies; 1 when there are no anomalies
	// MaxDelay is the longest time from an anomaly's Start to its first
	// matching alert's event_time, over detected anomalies.
	MaxDelay time.Duration
	Missed   []string // ids of undetected anomalies
}

// Result is the score of a set of alerts against a plan.
type Result struct {
	Patterns []PatternResult // in Patterns order, then any other pattern
	// ByKind is the recall per "pattern/kind" (sim.Anomaly.Kind: what
	// was injected, e.g. frequency/drop), sorted; informational.
	ByKind        []PatternResult
	Firing        int // firing alerts
	TruePositive  int
	FalsePositive int
	Precision     float64
	NormalRecords int
	FalsePer100k  float64
	// FalseAlerts are the unmatched firing alerts, sorted by event time.
	FalseAlerts []alert.Alert
	// FalseWarning counts false alerts of severity warning or critical.
	FalseWarning        int
	FalseWarningPer100k float64
	// MaxKeyDay is the most firing alerts one (agent_id, tool) key raised
	// in one UTC day (all patterns); MaxKey names it ("agent/tool day").
	MaxKeyDay int
	MaxKey    string
	// FalseByClass counts false alerts by the normal behaviour they most
	// likely reacted to (filled by Attribute).
	FalseByClass []ClassCount
}

// ClassCount is the false alerts attributed to one class of normal
// behaviour, by pattern.
type ClassCount struct {
	Class     string
	Alerts    int
	Warning   int            // of which warning or above
	ByPattern map[string]int // pattern → alerts
}

// Pattern returns the result of one pattern (zero if absent).
func (r Result) Pattern(p string) PatternResult {
	for _, pr := range r.Patterns {
		if pr.Pattern == p {
			return pr
		}
	}
	return PatternResult{Pattern: p}
}

// Score matches alerts against plan (see the package doc for the rules).
func Score(plan []sim.Anomaly, alerts []alert.Alert, normalRecords int, grace time.Duration) Result {
	var firing []alert.Alert
	for _, a := range alerts {
		if a.Status == alert.StatusFiring {
			firing = append(firing, a)
		}
	}
	res := Result{Firing: len(firing), NormalRecords: normalRecords}

	byPattern := map[string]*PatternResult{}
	order := slices.Clone(Patterns)
	for _, an := range plan {
		if !slices.Contains(order, an.Pattern) {
			order = append(order, an.Pattern)
		}
	}
	for _, p := range order {
		byPattern[p] = &PatternResult{Pattern: p}
	}
	byKind := map[string]*PatternResult{}
	for _, an := range plan {
		pr := byPattern[an.Pattern]
		pr.Anomalies++
		var dr *PatternResult
		if an.Kind != "" {
			k := an.Pattern + "/" + an.Kind
			if dr = byKind[k]; dr == nil {
				dr = &PatternResult{Pattern: k}
				byKind[k] = dr
			}
			dr.Anomalies++
		}
		first, found := time.Time{}, false
		for _, a := range firing {
			if a.Pattern == an.Pattern && keyMatch(an, a, grace) && (!found || a.EventTime.Before(first)) {
				first, found = a.EventTime, true
			}
		}
		if !found {
			pr.Missed = append(pr.Missed, an.ID)
			if dr != nil {
				dr.Missed = append(dr.Missed, an.ID)
			}
			continue
		}
		pr.Detected++
		d := first.Sub(an.Start)
		pr.MaxDelay = max(pr.MaxDelay, d)
		if dr != nil {
			dr.Detected++
			dr.MaxDelay = max(dr.MaxDelay, d)
		}
	}
	for _, dr := range byKind {
		dr.Recall = float64(dr.Detected) / float64(dr.Anomalies)
		res.ByKind = append(res.ByKind, *dr)
	}
	slices.SortFunc(res.ByKind, func(x, y PatternResult) int { return strings.Compare(x.Pattern, y.Pattern) })
	for _, p := range order {
		pr := byPattern[p]
		pr.Recall = 1
		if pr.Anomalies > 0 {
			pr.Recall = float64(pr.Detected) / float64(pr.Anomalies)
		}
		res.Patterns = append(res.Patterns, *pr)
	}

	for _, a := range firing {
		if slices.ContainsFunc(plan, func(an sim.Anomaly) bool {
			if a.AgentID == "" {
				an.AgentID = ""
			}
			if an.Sustained {
				an.End = an.End.Add(an.End.Sub(an.Start))
			}
			return keyMatch(an, a, grace)
		}) {
			res.TruePositive++
		} else {
			res.FalseAlerts = append(res.FalseAlerts, a)
			if warningOrAbove(a.Severity) {
				res.FalseWarning++
			}
		}
	}
	res.MaxKeyDay, res.MaxKey = maxKeyDay(firing)
	res.FalsePositive = len(res.FalseAlerts)
	slices.SortStableFunc(res.FalseAlerts, func(x, y alert.Alert) int { return x.EventTime.Compare(y.EventTime) })
	res.Precision = 1
	if res.Firing > 0 {
		res.Precision = float64(res.TruePositive) / float64(res.Firing)
	}
	res.per100k()
	return res
}

func (r *Result) per100k() {
	r.FalsePer100k, r.FalseWarningPer100k = 0, 0
	if r.NormalRecords > 0 {
		r.FalsePer100k = float64(r.FalsePositive) * 1e5 / float64(r.NormalRecords)
		r.FalseWarningPer100k = float64(r.FalseWarning) * 1e5 / float64(r.NormalRecords)
	}
}

func warningOrAbove(sev string) bool {
	return sev == alert.SeverityWarning || sev == alert.SeverityCritical
}

// maxKeyDay finds the (agent, tool, UTC day) with the most firing alerts;
// ties go to the first in (agent, tool, day) order.
func maxKeyDay(firing []alert.Alert) (int, string) {
	type kd struct {
		agent, tool string
		day         time.Time
	}
	n := map[kd]int{}
	for _, a := range firing {
		n[kd{a.AgentID, a.Tool, a.EventTime.UTC().Truncate(24 * time.Hour)}]++
	}
	best, key := 0, ""
	keys := make([]kd, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y kd) int {
		return strings.Compare(x.agent+"\x00"+x.tool+"\x00"+x.day.Format(time.DateOnly), y.agent+"\x00"+y.tool+"\x00"+y.day.Format(time.DateOnly))
	})
	for _, k := range keys {
		if n[k] > best {
			best, key = n[k], k.agent+"/"+k.tool+" "+k.day.Format(time.DateOnly)
		}
	}
	return best, key
}

// Attribute fills FalseByClass: each false alert goes to the first
// behaviour (in the given order) whose agent and tool match (empty matches
// any), whose [Start, End+grace] holds its event time (zero End: open) and
// whose Patterns include its pattern; unmatched ones go to "other".
// Classes appear in order of first use, "other" last.
func (r *Result) Attribute(bs []sim.Behaviour, grace time.Duration) {
	idx := map[string]int{}
	r.FalseByClass = nil
	for _, a := range r.FalseAlerts {
		class := "other"
		for _, b := range bs {
			if (b.AgentID == "" || b.AgentID == a.AgentID) && (b.Tool == "" || b.Tool == a.Tool) &&
				(b.Start.IsZero() || !a.EventTime.Before(b.Start)) &&
				(b.End.IsZero() || !a.EventTime.After(b.End.Add(grace))) &&
				slices.Contains(b.Patterns, a.Pattern) {
				class = b.Class
				break
			}
		}
		i, ok := idx[class]
		if !ok {
			i = len(r.FalseByClass)
			idx[class] = i
			r.FalseByClass = append(r.FalseByClass, ClassCount{Class: class, ByPattern: map[string]int{}})
		}
		c := &r.FalseByClass[i]
		c.Alerts++
		c.ByPattern[a.Pattern]++
		if warningOrAbove(a.Severity) {
			c.Warning++
		}
	}
	if i, ok := idx["other"]; ok && i != len(r.FalseByClass)-1 {
		o := r.FalseByClass[i]
		r.FalseByClass = append(append(r.FalseByClass[:i:i], r.FalseByClass[i+1:]...), o)
	}
}

// Merge adds the counts of several results (e.g. one per seed) into one:
// recall, precision and rates are recomputed from the sums; MaxDelay and
// MaxKeyDay are the maxima; FalseAlerts and classes are concatenated/summed.
func Merge(rs ...Result) Result {
	var out Result
	byPattern := map[string]int{}
	byKind := map[string]int{}
	classIdx := map[string]int{}
	for _, r := range rs {
		out.Patterns = mergePatterns(out.Patterns, byPattern, r.Patterns)
		out.ByKind = mergePatterns(out.ByKind, byKind, r.ByKind)
		out.Firing += r.Firing
		out.TruePositive += r.TruePositive
		out.FalsePositive += r.FalsePositive
		out.FalseWarning += r.FalseWarning
		out.NormalRecords += r.NormalRecords
		out.FalseAlerts = append(out.FalseAlerts, r.FalseAlerts...)
		if r.MaxKeyDay > out.MaxKeyDay {
			out.MaxKeyDay, out.MaxKey = r.MaxKeyDay, r.MaxKey
		}
		for _, c := range r.FalseByClass {
			i, ok := classIdx[c.Class]
			if !ok {
				i = len(out.FalseByClass)
				classIdx[c.Class] = i
				out.FalseByClass = append(out.FalseByClass, ClassCount{Class: c.Class, ByPattern: map[string]int{}})
			}
			o := &out.FalseByClass[i]
			o.Alerts += c.Alerts
			o.Warning += c.Warning
			for p, n := range c.ByPattern {
				o.ByPattern[p] += n
			}
		}
	}
	for _, ps := range [][]PatternResult{out.Patterns, out.ByKind} {
		for i := range ps {
			p := &ps[i]
			p.Recall = 1
			if p.Anomalies > 0 {
				p.Recall = float64(p.Detected) / float64(p.Anomalies)
			}
		}
	}
	slices.SortFunc(out.ByKind, func(x, y PatternResult) int { return strings.Compare(x.Pattern, y.Pattern) })
	out.Precision = 1
	if out.Firing > 0 {
		out.Precision = float64(out.TruePositive) / float64(out.Firing)
	}
	out.per100k()
	return out
}

// keyMatch: same tool, same agent when the anomaly names one, event time
// in [Start, End+grace].
func keyMatch(an sim.Anomaly, a alert.Alert, grace time.Duration) bool {
	return a.Tool == an.Tool && (an.AgentID == "" || a.AgentID == an.AgentID) &&
		!a.EventTime.Before(an.Start) && !a.EventTime.After(an.End.Add(grace))
}

// String renders the result as a table.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %9s %8s %7s %10s  %s\n", "pattern", "anomalies", "detected", "recall", "max delay", "missed")
	for _, p := range r.Patterns {
		row := fmt.Sprintf("%-16s %9d %8d %7.3f %10s  %s", p.Pattern, p.Anomalies, p.Detected, p.Recall,
			p.MaxDelay.Round(time.Second), strings.Join(p.Missed, ","))
		b.WriteString(strings.TrimRight(row, " "))
		b.WriteByte('\n')
	}
	for _, p := range r.ByKind {
		fmt.Fprintf(&b, "  %-26s %d/%d detected, max delay %s\n", p.Pattern, p.Detected, p.Anomalies, p.MaxDelay.Round(time.Second))
	}
	fmt.Fprintf(&b, "firing alerts %d: true %d, false %d, precision %.3f; normal records %d, false alerts per 100k %.2f\n",
		r.Firing, r.TruePositive, r.FalsePositive, r.Precision, r.NormalRecords, r.FalsePer100k)
	fmt.Fprintf(&b, "false alerts warning or above %d (%.2f per 100k); most firing alerts of one key in a day %d (%s)\n",
		r.FalseWarning, r.FalseWarningPer100k, r.MaxKeyDay, r.MaxKey)
	for _, c := range r.FalseByClass {
		ps := make([]string, 0, len(c.ByPattern))
		for p, n := range c.ByPattern {
			ps = append(ps, fmt.Sprintf("%s %d", p, n))
		}
		slices.Sort(ps)
		fmt.Fprintf(&b, "  false by class: %-18s %4d (warning+ %d): %s\n", c.Class, c.Alerts, c.Warning, strings.Join(ps, ", "))
	}
	for i, a := range r.FalseAlerts {
		if i == 10 {
			fmt.Fprintf(&b, "  ... %d more false alerts\n", len(r.FalseAlerts)-i)
			break
		}
		fmt.Fprintf(&b, "  false: %s %s %s/%s score %.1f: %s\n", a.EventTime.Format(time.RFC3339),
			a.Pattern, a.AgentID, a.Tool, a.Score, a.Summary)
	}
	return b.String()
}

// ParseAlerts reads alert JSON lines (blank lines are skipped).
func ParseAlerts(r io.Reader) ([]alert.Alert, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []alert.Alert
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var a alert.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("parse alert line %d: %w", line, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

// WriteJSONL writes the simulation of cfg to w as JSON lines (canonical v1
// records) and returns the plan, the number of normal records and the total.
func WriteJSONL(cfg sim.Config, w io.Writer) (plan []sim.Anomaly, normal, total int, err error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	buf := make([]byte, 0, 1024)
	err = sim.Generate(cfg, func(r *record.Record, t sim.Truth) error {
		buf = append(r.AppendJSON(buf[:0]), '\n')
		total++
		if t.AnomalyID == "" {
			normal++
		}
		_, err := bw.Write(buf)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("write simulated records: %w", err)
	}
	return sim.Plan(cfg), normal, total, nil
}

// mergePatterns adds the counts of src into dst (indexed by pattern name in
// idx), appending patterns dst does not have yet.
func mergePatterns(dst []PatternResult, idx map[string]int, src []PatternResult) []PatternResult {
	for _, p := range src {
		i, ok := idx[p.Pattern]
		if !ok {
			i = len(dst)
			idx[p.Pattern] = i
			dst = append(dst, PatternResult{Pattern: p.Pattern})
		}
		q := &dst[i]
		q.Anomalies += p.Anomalies
		q.Detected += p.Detected
		q.MaxDelay = max(q.MaxDelay, p.MaxDelay)
		q.Missed = append(q.Missed, p.Missed...)
	}
	return dst
}
