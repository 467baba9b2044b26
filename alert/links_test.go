package alert

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

func TestLinkTemplates(t *testing.T) {
	a := Alert{Pattern: detect.PatternLatency, TraceID: "abc 123/x?y&z=1", SpanID: "s-1", TaskID: "",
		AgentID: "agent~01", Tool: "db.query"}
	tests := []struct {
		tmpl, want, err string
	}{
		{"", "", ""},
		{"https://tempo.example/explore?traceId={trace_id}", "https://tempo.example/explore?traceId=abc%20123%2Fx%3Fy%26z%3D1", ""},
		{"http://jaeger:16686/trace/{trace_id}?uiFind={span_id}", "http://jaeger:16686/trace/abc%20123%2Fx%3Fy%26z%3D1?uiFind=s-1", ""},
		{"https://lf.example/project/p/traces?agent={agent_id}&tool={tool}#{pattern}", "https://lf.example/project/p/traces?agent=agent~01&tool=db.query#latency", ""},
		// A value the alert lacks: no link rather than a broken one.
		{"https://lf.example/sessions/{task_id}", "", ""},
		// Braces that are not a placeholder stay literal (Grafana explore JSON).
		{`https://grafana.example/explore?left={"q":"{trace_id}"}`, `https://grafana.example/explore?left={"q":"abc%20123%2Fx%3Fy%26z%3D1"}`, ""},
		{"https://tempo.example/{traceid}", "", "unknown placeholder {traceid}"},
		{"javascript:alert(1)//{trace_id}", "", "must be an http or https URL"},
		{"/relative/{trace_id}", "", "must be an http or https URL"},
		{"https:///{trace_id}", "", "must name a host"},
		{"https://user:pw@tempo.example/{trace_id}", "", "must not hold credentials"},
		{"https://tempo.example/%zz", "", "not a URL"},
		{"https://{tool}.example/x", "", "in the scheme or host"},
		{"{pattern}://tempo.example/x", "", "must be an http or https URL"},
		{"https://tempo-{span_id}.example/x", "", "in the scheme or host"},
		{"https://runbooks.example/toolwatch", "https://runbooks.example/toolwatch", ""}, // a constant link
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			tp, err := parseTemplate(tt.tmpl)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := links{trace: tp}
			b := a
			l.set(&b)
			if b.TraceURL != tt.want {
				t.Errorf("got %q, want %q", b.TraceURL, tt.want)
			}
		})
	}
}

func TestLinkConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.TraceURL = "ftp://x/{trace_id}"
	c.RunbookURLs = RunbookURLs{"latency": "https://rb.example/{nope}"}
	es := c.Validate()
	if len(es) != 2 || es[0].Path != "trace_url" || es[1].Path != "runbook_urls.latency" {
		t.Errorf("errors %v, want trace_url and runbook_urls.latency", es)
	}
}

func linkConfig() Config {
	c := DefaultConfig()
	c.TraceURL = "https://tempo.example/explore?traceId={trace_id}"
	c.RunbookURLs = RunbookURLs{"latency": "https://runbooks.example/toolwatch/latency?tool={tool}"}
	return c
}

// The links ride on every emission, resolve included, and follow a reload.
func TestManagerSetsLinks(t *testing.T) {
	m := NewManager(linkConfig())
	f := designFinding()
	got := m.Add(f, nil)
	g := designFinding()
	g.Pattern, g.Detail = detect.PatternOutputSize, "large" // no runbook for output_size
	got = m.Add(g, got)
	if len(got) != 2 {
		t.Fatalf("%d alerts", len(got))
	}
	if got[0].TraceURL != "https://tempo.example/explore?traceId=agent-task-2026-03-23-abc123" ||
		got[0].RunbookURL != "https://runbooks.example/toolwatch/latency?tool=customer-lookup" {
		t.Errorf("latency links %q %q", got[0].TraceURL, got[0].RunbookURL)
	}
	if got[1].TraceURL == "" || got[1].RunbookURL != "" {
		t.Errorf("output_size links %q %q", got[1].TraceURL, got[1].RunbookURL)
	}
	cfg := linkConfig()
	cfg.TraceURL = "https://jaeger.example/trace/{trace_id}"
	m.SetConfig(cfg)
	res := m.Tick(f.EventTime.Add(time.Hour), nil)
	if len(res) != 2 || res[0].Status != StatusResolved {
		t.Fatalf("resolves %+v", res)
	}
	for _, r := range res {
		if !strings.HasPrefix(r.TraceURL, "https://jaeger.example/trace/") {
			t.Errorf("resolve of %s has trace_url %q, want the reloaded template", r.Pattern, r.TraceURL)
		}
	}
	cfg.TraceURL, cfg.RunbookURLs = "", RunbookURLs{}
	m.SetConfig(cfg)
	if a := m.Add(f, nil); a[0].TraceURL != "" || a[0].RunbookURL != "" {
		t.Errorf("links without templates: %q %q", a[0].TraceURL, a[0].RunbookURL)
	}
}

// TestGoldenAlertJSONLinks pins where the link fields go on the wire (after
// task_id); without templates the golden of TestGoldenAlertJSON is unchanged.
func TestGoldenAlertJSONLinks(t *testing.T) {
	m := NewManager(linkConfig())
	a := m.Add(designFinding(), nil)
	buf := MarshalJSONLine(&a[0], nil)
	if !bytes.Equal(buf, stdEncode(t, &a[0])) {
		t.Errorf("MarshalJSONLine and encoding/json differ:\n%s%s", buf, stdEncode(t, &a[0]))
	}
	path := filepath.Join("testdata", "alert-links.golden.json")
	if *update {
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(buf, want) {
		t.Errorf("alert JSON differs from %s:\ngot:\n%s\nwant:\n%s", path, buf, want)
	}
}

func TestStateKeepsLinks(t *testing.T) {
	m := NewManager(linkConfig())
	m.Add(designFinding(), nil)
	b, err := m.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewManager(DefaultConfig())
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	fa := r.FiringAlerts(nil)
	if len(fa) != 1 || fa[0].TraceURL == "" || fa[0].RunbookURL == "" {
		t.Errorf("restored firing alert lost its links: %+v", fa)
	}
}

// FuzzLinkTemplate: any template parses or is rejected without panicking,
// and whatever the alert's values, an accepted template expands to a URL
// that parses, with the template's scheme and host.
func FuzzLinkTemplate(f *testing.F) {
	f.Add("https://tempo.example/explore?traceId={trace_id}", "abc123", "tool/../x?y#z")
	f.Add("http://j:16686/trace/{trace_id}#{span_id}", "a b%zz", "\x00\xff")
	f.Add("https://lf.example/{tool}/{agent_id}?t={task_id}&p={pattern}", "", "é/漢")
	f.Fuzz(func(t *testing.T, tmpl, v1, v2 string) {
		tp, err := parseTemplate(tmpl)
		if err != nil || tp == nil {
			return
		}
		want, err := url.Parse(tp.expand([]string{"t", "s", "k", "a", "x", "p"}))
		if err != nil {
			t.Fatalf("sample expansion of accepted %q: %v", tmpl, err)
		}
		got := tp.expand([]string{v1, v2, v1 + v2, v2, v1, v2})
		if got == "" {
			if v1 != "" && v2 != "" {
				t.Fatalf("no link for non-empty values")
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%q with values %q %q expands to %q: %v", tmpl, v1, v2, got, err)
		}
		if u.Scheme != want.Scheme || u.Host != want.Host || u.User != nil {
			t.Fatalf("%q expands to %q: scheme/host %s://%s, want %s://%s", tmpl, got, u.Scheme, u.Host, want.Scheme, want.Host)
		}
	})
}
