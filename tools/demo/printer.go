package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/detect/registry"
)

// ANSI escapes used when color is on.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[1;33m"
	ansiBlue   = "\x1b[1;34m"
	ansiGreen  = "\x1b[1;32m"
)

// patternOrder is the order of the summary table: the detector
// registry's (docs/design.md §5).
var patternOrder = registry.Default.Patterns()

// Printer prints alerts as they arrive, two lines each, and a closing
// summary. Safe for concurrent use.
type Printer struct {
	mu       sync.Mutex
	w        io.Writer
	color    bool
	counts   map[string]*[3]int // pattern → firing emissions by severity
	resolved int
	seen     []alert.Alert // firing alerts, evidence trimmed, for the summary
}

// NewPrinter prints to w; color adds ANSI colors (pass true only when w
// is a terminal).
func NewPrinter(w io.Writer, color bool) *Printer {
	return &Printer{w: w, color: color, counts: map[string]*[3]int{}}
}

// Print writes one alert:
//
//	14:30:42  CRITICAL  latency        billing-agent-prod-01 → customer-lookup  score 85.2
//	          customer-lookup took 30s for billing-agent-prod-01; p99 baseline is 468ms  trace agent-task-…
//
// The time is the alert's event time in UTC. Resolved alerts carry the
// badge RESOLVED and are dimmed.
func (p *Printer) Print(a alert.Alert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.Status == alert.StatusResolved {
		p.resolved++
	} else {
		c := p.counts[a.Pattern]
		if c == nil {
			c = new([3]int)
			p.counts[a.Pattern] = c
		}
		if i := sevIndex(a.Severity); i >= 0 {
			c[i]++
		}
		p.seen = append(p.seen, alert.Alert{Status: a.Status, Pattern: a.Pattern, AgentID: a.AgentID, Tool: a.Tool, EventTime: a.EventTime})
	}
	io.WriteString(p.w, p.format(&a))
}

func (p *Printer) format(a *alert.Alert) string {
	var b strings.Builder
	ts := "--:--:--"
	if !a.EventTime.IsZero() {
		ts = a.EventTime.UTC().Format(time.TimeOnly)
	}
	resolved := a.Status == alert.StatusResolved
	badge := strings.ToUpper(a.Severity)
	if resolved {
		badge = "RESOLVED"
	}
	if len(badge) < 8 {
		badge += strings.Repeat(" ", 8-len(badge))
	}
	score := strconv.FormatFloat(a.Score, 'f', 1, 64)
	if p.color && !resolved {
		badge = sevColor(a.Severity) + badge + ansiReset
	}
	fmt.Fprintf(&b, "%s  %s  %-15s %s → %s  score %s\n", ts, badge, a.Pattern, a.AgentID, a.Tool, score)
	fmt.Fprintf(&b, "%10s%s", "", a.Summary)
	if a.TraceID != "" {
		fmt.Fprintf(&b, "  trace %s", a.TraceID)
	}
	b.WriteByte('\n')
	if p.color && resolved {
		lines := strings.SplitAfter(b.String(), "\n")
		var d strings.Builder
		for _, l := range lines {
			if l == "" {
				continue
			}
			d.WriteString(ansiDim + strings.TrimSuffix(l, "\n") + ansiReset + "\n")
		}
		return d.String()
	}
	return b.String()
}

func sevIndex(sev string) int {
	switch sev {
	case alert.SeverityInfo:
		return 0
	case alert.SeverityWarning:
		return 1
	case alert.SeverityCritical:
		return 2
	}
	return -1
}

func sevColor(sev string) string {
	switch sev {
	case alert.SeverityCritical:
		return ansiRed
	case alert.SeverityWarning:
		return ansiYellow
	}
	return ansiBlue
}

// Summary writes the counts of the printed alerts by pattern and
// severity, then for each injected anomaly whether a firing alert of its
// pattern for its tool arrived within 10 minutes (event time) of it (✓/✗).
func (p *Printer) Summary(w io.Writer, injected []Injected) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	firing := 0
	for _, c := range p.counts {
		firing += c[0] + c[1] + c[2]
	}
	fmt.Fprintf(&b, "%s\n", p.paint(ansiBold, fmt.Sprintf("Alerts: %d firing, %d resolved", firing, p.resolved)))
	fmt.Fprintf(&b, "  %-15s %6s %8s %9s\n", "pattern", "info", "warning", "critical")
	patterns := slices.Clone(patternOrder)
	var extra []string
	for pat := range p.counts {
		if !slices.Contains(patterns, pat) {
			extra = append(extra, pat)
		}
	}
	slices.Sort(extra)
	for _, pat := range append(patterns, extra...) {
		var c [3]int
		if pc := p.counts[pat]; pc != nil {
			c = *pc
		}
		fmt.Fprintf(&b, "  %-15s %6d %8d %9d\n", pat, c[0], c[1], c[2])
	}
	if len(injected) > 0 {
		fmt.Fprintf(&b, "%s\n", p.paint(ansiBold, "Injected anomalies:"))
		found := 0
		for i := range injected {
			inj := &injected[i]
			mark := p.paint(ansiRed, "✗")
			if p.detected(inj) {
				mark = p.paint(ansiGreen, "✓")
				found++
			}
			fmt.Fprintf(&b, "  %s %-15s %s → %s at %s: %s\n", mark, inj.Pattern, inj.AgentID, inj.Tool,
				inj.Start.UTC().Format(time.TimeOnly), inj.Description)
		}
		fmt.Fprintf(&b, "%d of %d injected anomalies detected\n", found, len(injected))
	}
	io.WriteString(w, b.String())
}

func (p *Printer) detected(inj *Injected) bool {
	for i := range p.seen {
		if detects(&p.seen[i], inj) {
			return true
		}
	}
	return false
}

func (p *Printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

// Subscribe calls fn with each alert published on subject (e.g.
// "audit.alerts.>"), decoded from its JSON. Messages that are not an
// alert are skipped. fn runs on the subscription's goroutine, one alert at
// a time. Unsubscribe (or drain the connection) to stop.
func Subscribe(nc *nats.Conn, subject string, fn func(alert.Alert)) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil || a.Pattern == "" || a.Status == "" {
			return
		}
		fn(a)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return sub, nil
}
