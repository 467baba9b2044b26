package alert

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// Keys the Manager adds to an alert's details. A detector's own value under
// these keys is replaced.
const (
	DetailRepeats  = "repeats"   // occurrences folded since the previous emission
	DetailMaxScore = "max_score" // highest score among them and this occurrence
)

// Manager runs the alert lifecycle described in the package doc. It is not
// safe for concurrent use: one goroutine (the pipeline's) calls every method.
type Manager struct {
	cfg     Config
	links   links // parsed link templates of cfg
	firing  map[fpKey]*entry
	counts  map[countKey]*Counter
	scratch []byte   // fingerprint input, reused
	due     []*entry // Tick's resolve list, reused
}

// entry is the state of one firing fingerprint.
type entry struct {
	key      fpKey
	fp       string
	last     Alert     // last emitted firing alert: the evidence a resolve carries
	rank     uint8     // severity rank of last
	seq      uint32    // emissions in this episode, for unique ids
	startsAt time.Time // event time of the episode's first finding
	lastEmit time.Time // latest event time at which the fingerprint was emitted
	lastSeen time.Time // latest event time of any occurrence
	repeats  int       // occurrences folded since the last emission
	maxScore float64   // highest score among them
}

type countKey struct {
	pattern string
	rank    uint8
}

// Counter counts the Manager's decisions for one (pattern, severity), for
// metrics. Severity is SeverityNone for findings below the info band.
type Counter struct {
	Pattern   string
	Severity  string
	Emitted   uint64 // firing alerts sent: first, re-emitted after cooldown, escalated
	Folded    uint64 // occurrences folded into a firing alert inside its cooldown
	Resolved  uint64 // resolved alerts sent, under the last emitted severity
	BelowBand uint64 // findings scored under bands.info, dropped
	Rejected  uint64 // findings dropped: non-finite score, or max_firing reached
}

// NewManager returns a Manager with no firing alerts.
func NewManager(cfg Config) *Manager {
	return &Manager{
		cfg:     cfg,
		links:   newLinks(&cfg),
		firing:  make(map[fpKey]*entry),
		counts:  make(map[countKey]*Counter),
		scratch: make([]byte, 0, 256),
	}
}

// SetConfig swaps the configuration (hot reload). Firing alerts, their fold
// counts and the counters are kept; the new bands, cooldown and resolve
// interval apply from the next Add or Tick. An alert already emitted keeps
// the severity it was emitted with until it is re-emitted.
// Links follow the new templates from the next emission (a resolve too).
func (m *Manager) SetConfig(cfg Config) { m.cfg, m.links = cfg, newLinks(&cfg) }

// Config returns the configuration in use.
func (m *Manager) Config() Config { return m.cfg }

// Firing returns the number of firing fingerprints.
func (m *Manager) Firing() int { return len(m.firing) }

// Add applies one finding and appends what it emits to out: usually zero or
// one firing alert. If the finding's fingerprint has been silent for
// resolve_after but no Tick has resolved it yet, Add first appends that
// alert's resolve and then the new firing alert, so the result never
// depends on how often Tick is called.
//
// The fold path (a repeat inside the cooldown) does not allocate.
func (m *Manager) Add(f detect.Finding, out []Alert) []Alert {
	r := m.cfg.Bands.rank(f.Score)
	if math.IsNaN(f.Score) || math.IsInf(f.Score, 0) {
		m.counter(f.Pattern, rankNone).Rejected++
		return out
	}
	c := m.counter(f.Pattern, r)
	if r == rankNone {
		c.BelowBand++
		return out
	}
	var k fpKey
	k, m.scratch = fingerprintKey(m.scratch, f.Pattern, f.AgentID, f.Tool, f.Detail)
	t := f.EventTime
	e := m.firing[k]
	if e != nil && !t.Before(e.lastSeen.Add(m.cfg.ResolveAfter)) {
		out = m.resolve(e, out)
		delete(m.firing, k)
		e = nil
	}
	if e == nil {
		if m.cfg.MaxFiring > 0 && len(m.firing) >= m.cfg.MaxFiring {
			c.Rejected++
			return out
		}
		e = &entry{key: k, fp: k.String(), startsAt: t.UTC(), lastEmit: t, lastSeen: t}
		m.firing[k] = e
		return m.emit(e, &f, r, c, out)
	}
	if t.After(e.lastSeen) {
		e.lastSeen = t
	}
	if r <= e.rank && m.cfg.Cooldown > 0 && t.Sub(e.lastEmit) < m.cfg.Cooldown {
		e.repeats++
		e.maxScore = max(e.maxScore, f.Score)
		c.Folded++
		return out
	}
	return m.emit(e, &f, r, c, out)
}

// emit appends a firing alert for e built from f and resets e's fold count.
func (m *Manager) emit(e *entry, f *detect.Finding, r uint8, c *Counter, out []Alert) []Alert {
	t := f.EventTime.UTC()
	a := Alert{
		ID:          alertID(e.key, StatusFiring, e.startsAt, t, e.seq),
		Fingerprint: e.fp,
		Status:      StatusFiring,
		Pattern:     f.Pattern,
		Severity:    severityNames[r],
		Score:       f.Score,
		AgentID:     f.AgentID,
		Tool:        f.Tool,
		ToolVersion: f.ToolVersion,
		Environment: f.Environment,
		Observed:    f.Observed,
		Expected:    f.Expected,
		Unit:        f.Unit,
		Summary:     f.Summary,
		Details:     withRepeats(f.Details, e.repeats, max(e.maxScore, f.Score)),
		EventTime:   t,
		StartsAt:    e.startsAt,
		TraceID:     f.TraceID,
		SpanID:      f.SpanID,
		TaskID:      f.TaskID,
	}
	m.links.set(&a)
	e.seq++
	e.last = a
	e.rank = r
	if t.After(e.lastEmit) {
		e.lastEmit = t
	}
	e.repeats, e.maxScore = 0, 0
	c.Emitted++
	return append(out, a)
}

// withRepeats copies details (so the detector's map is never written) and
// sets the repeat keys when anything was folded; without repeats it drops
// them, so a resolve does not carry a stale count.
func withRepeats(details map[string]any, repeats int, maxScore float64) map[string]any {
	n := len(details)
	if repeats > 0 {
		n += 2
	}
	if n == 0 {
		return nil
	}
	d := make(map[string]any, n)
	for k, v := range details {
		d[k] = v
	}
	delete(d, DetailRepeats)
	delete(d, DetailMaxScore)
	if repeats > 0 {
		d[DetailRepeats] = repeats
		d[DetailMaxScore] = maxScore
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// resolve appends the resolved alert of e. Its time is the moment the
// condition is declared clear: last occurrence + resolve_after. That is
// event time and independent of when Tick ran, so replay and live agree.
func (m *Manager) resolve(e *entry, out []Alert) []Alert {
	end := e.lastSeen.Add(m.cfg.ResolveAfter).UTC()
	a := e.last
	a.ID = alertID(e.key, StatusResolved, e.startsAt, end, e.seq)
	a.Status = StatusResolved
	a.EventTime = end
	a.EndsAt = &end
	a.Details = withRepeats(e.last.Details, e.repeats, e.maxScore)
	m.links.set(&a)
	m.counter(a.Pattern, e.rank).Resolved++
	return append(out, a)
}

// Tick resolves every firing alert whose last occurrence is at least
// resolve_after before watermark, appending the resolved alerts to out in
// fingerprint order, and forgets them.
func (m *Manager) Tick(watermark time.Time, out []Alert) []Alert {
	due := m.due[:0]
	for _, e := range m.firing {
		if !watermark.Before(e.lastSeen.Add(m.cfg.ResolveAfter)) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *entry) int { return bytes.Compare(a.key[:], b.key[:]) })
	for i, e := range due {
		out = m.resolve(e, out)
		delete(m.firing, e.key)
		due[i] = nil
	}
	m.due = due[:0]
	return out
}

// FiringAlerts appends the last emitted alert of every firing fingerprint
// to out, sorted by fingerprint: for a status page, and for sinks that
// re-send firing alerts. The alerts share Details maps with the emitted
// ones; treat them as read-only.
func (m *Manager) FiringAlerts(out []Alert) []Alert {
	start := len(out)
	for _, e := range m.firing {
		out = append(out, e.last)
	}
	slices.SortFunc(out[start:], func(a, b Alert) int { return cmp.Compare(a.Fingerprint, b.Fingerprint) })
	return out
}

// Counters appends a snapshot of the counters to out, sorted by pattern and
// then severity (none, info, warning, critical). Call it from the Manager's
// goroutine.
func (m *Manager) Counters(out []Counter) []Counter {
	start := len(out)
	for _, c := range m.counts {
		out = append(out, *c)
	}
	slices.SortFunc(out[start:], func(a, b Counter) int {
		if c := cmp.Compare(a.Pattern, b.Pattern); c != 0 {
			return c
		}
		return cmp.Compare(rankOf(a.Severity), rankOf(b.Severity))
	})
	return out
}

func rankOf(sev string) uint8 {
	for i, s := range severityNames {
		if s == sev {
			return uint8(i)
		}
	}
	return rankNone
}

func (m *Manager) counter(pattern string, r uint8) *Counter {
	k := countKey{pattern, r}
	if c := m.counts[k]; c != nil {
		return c
	}
	c := &Counter{Pattern: pattern, Severity: severityNames[r]}
	m.counts[k] = c
	return c
}
