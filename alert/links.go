package alert

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Links out of an alert: alerts.trace_url, a template of the operator's
// trace store (Jaeger, Tempo, Langfuse ...), and alerts.runbook_urls, one
// URL per pattern. The Manager expands them into Alert.TraceURL and
// Alert.RunbookURL on every emission, so the log, NATS, webhook and replay
// bodies, Alertmanager's trace_url/runbook_url annotations and the status
// page all carry the same links.
//
// A template's placeholders are {trace_id}, {span_id}, {task_id},
// {agent_id}, {tool} and {pattern}. Values are percent-encoded except
// RFC 3986 unreserved characters, so a value is one opaque component
// wherever the placeholder stands (path, query or fragment). A link whose
// template uses a placeholder the alert has no value for (a window's final
// count carries no trace id) is left out rather than sent broken.

// Placeholders lists the template placeholders, in documentation order.
var Placeholders = []string{"trace_id", "span_id", "task_id", "agent_id", "tool", "pattern"}

// RunbookURLs is the `alerts.runbook_urls` section: a runbook link
// template per pattern name (templates like trace_url; "" or absent means
// none). The config loader lists every registered pattern in the defaults
// and rejects a key that names no detector.
type RunbookURLs map[string]string

// urlTemplate is a parsed link template: lits[i] precedes the value of
// vars[i]; the last literal ends it.
type urlTemplate struct {
	lits []string
	vars []int // index into Placeholders
}

var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

// parseTemplate parses and checks s: every {name} must be a known
// placeholder, and the URL with sample values must be an absolute http(s)
// URL without credentials. "" parses to nil (no link).
func parseTemplate(s string) (*urlTemplate, error) {
	if s == "" {
		return nil, nil
	}
	t := &urlTemplate{}
	prev := 0
	// The scheme and host are fixed: a value only ever fills a path, query
	// or fragment component, so it cannot redirect the link.
	authEnd, first := len(s), -1
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.IndexAny(s[i+3:], "/?#"); j >= 0 {
			authEnd = i + 3 + j
		}
	}
	for _, m := range placeholderRE.FindAllStringIndex(s, -1) {
		name := s[m[0]+1 : m[1]-1]
		i := slices.Index(Placeholders, name)
		if i < 0 {
			return nil, fmt.Errorf("unknown placeholder {%s} (known: {%s})", name, strings.Join(Placeholders, "}, {"))
		}
		if m[0] < authEnd && first < 0 {
			first = len(t.vars)
		}
		t.lits = append(t.lits, s[prev:m[0]])
		t.vars = append(t.vars, i)
		prev = m[1]
	}
	t.lits = append(t.lits, s[prev:])
	sample := t.expand([]string{"t", "s", "k", "a", "x", "p"})
	u, err := url.Parse(sample)
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must be an http or https URL, e.g. \"https://tempo.example/explore?traceId={trace_id}\"")
	case u.Host == "":
		return nil, fmt.Errorf("must name a host")
	case u.User != nil:
		return nil, fmt.Errorf("must not hold credentials (links are sent to every receiver)")
	case first >= 0:
		return nil, fmt.Errorf("placeholder {%s} in the scheme or host; use placeholders in the path, query or fragment only", Placeholders[t.vars[first]])
	}
	return t, nil
}

// expand substitutes vals (indexed like Placeholders); "" when a used
// placeholder has no value.
func (t *urlTemplate) expand(vals []string) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	for i, v := range t.vars {
		if vals[v] == "" {
			return ""
		}
		b.WriteString(t.lits[i])
		escape(&b, vals[v])
	}
	b.WriteString(t.lits[len(t.lits)-1])
	return b.String()
}

// escape writes v percent-encoded except the RFC 3986 unreserved
// characters, valid and opaque in any URL component.
func escape(b *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// links holds the parsed templates of a Config.
type links struct {
	trace   *urlTemplate
	runbook map[string]*urlTemplate // by pattern
}

// newLinks parses the templates of c; Validate has checked them, so a bad
// one (never expected) yields no link.
func newLinks(c *Config) links {
	l := links{}
	l.trace, _ = parseTemplate(c.TraceURL)
	for p, u := range c.RunbookURLs {
		if t, _ := parseTemplate(u); t != nil {
			if l.runbook == nil {
				l.runbook = map[string]*urlTemplate{}
			}
			l.runbook[p] = t
		}
	}
	return l
}

// set fills a's TraceURL and RunbookURL. Once per emission, not per record.
func (l *links) set(a *Alert) {
	if l.trace == nil && l.runbook == nil {
		a.TraceURL, a.RunbookURL = "", ""
		return
	}
	vals := []string{a.TraceID, a.SpanID, a.TaskID, a.AgentID, a.Tool, a.Pattern}
	a.TraceURL = l.trace.expand(vals)
	a.RunbookURL = l.runbook[a.Pattern].expand(vals)
}

// validateLinks adds the template errors of c to es.
func (c *Config) validateLinks(add func(path, msg string)) {
	if _, err := parseTemplate(c.TraceURL); err != nil {
		add("trace_url", err.Error())
	}
	for _, p := range slices.Sorted(maps.Keys(c.RunbookURLs)) {
		if _, err := parseTemplate(c.RunbookURLs[p]); err != nil {
			add("runbook_urls."+p, err.Error())
		}
	}
}
