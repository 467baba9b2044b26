// Package statuspage serves the daemon's HTTP status page: recent alerts
// with their evidence, per-tool baselines with a small chart per tool, and
// the compliance view (package compliance: audit-trail completeness and
// missing fields, classification and retention coverage, hash chains per
// producer), shown only when the Snapshot carries it.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no
// build step, no external URL: the daemon may run with no internet). The
// browser polls GET api/status every few seconds for a Snapshot and renders
// it with DOM calls only (textContent, never innerHTML), because tool names,
// agent ids and alert summaries are untrusted text from audit records. A
// strict Content-Security-Policy (scripts and styles from the page's own
// origin only) backs that up.
//
// Routes, relative to where Handler is mounted (mount it at a path ending
// in "/", e.g. with http.StripPrefix, since the page uses relative URLs):
//
//	/            the page (text/html)
//	/api/status  the Snapshot as JSON
//	/static/...  the page's script and stylesheet
//
// An alert row can be linked to: /#alert-<id> opens that alert's evidence.
// The alert list filters by pattern, severity, tool, agent and status and
// by text (every word must occur in the summary, ids or details); the
// filters live in the URL query (?pattern=latency&tool=kb-search&q=...), so
// a filtered view can be linked to as well.
//
// An opened alert shows the evidence picture it was judged against, drawn
// only from what the alert carries: for latency and output size the
// baseline quantiles (box p50–p99, whisker to p99.9, log scale), for counts
// (frequency, denial spikes) the expected count and the hour slot's usual
// peak, for input novelty the known shapes; each with the threshold as a
// dashed line and the observation as a solid one. trace_url and runbook_url
// are links when they are http(s) URLs. The tool charts plot calls/min and
// the baseline latency p99 against event time, one point per minute.
//
// docs/status-page.png is regenerated with
//
//	go test ./statuspage -run TestBrowserScreenshot -update-screenshot
package statuspage

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/compliance"
)

// Snapshot is what the page shows, as served by GET /api/status.
type Snapshot struct {
	Daemon Daemon `json:"daemon"`
	// Alerts are recent alert emissions, newest first, firing and resolved
	// (see Recorder).
	Alerts []alert.Alert `json:"alerts"`
	// Tools are the per-tool baselines, in a stable order (by tool name).
	Tools []ToolStatus `json:"tools"`
	// Compliance is the compliance view (audit-trail completeness,
	// classification and retention coverage, hash chains) of the records
	// this run counted; omitted when the daemon does not count it.
	Compliance *compliance.Summary `json:"compliance,omitempty"`
}

// Daemon describes the running daemon.
type Daemon struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"` // wall clock
	// Watermark is the pipeline's event-time watermark; alert ages on the
	// page are shown relative to it, so a replayed backlog reads sensibly.
	Watermark    time.Time `json:"watermark"`
	Applied      uint64    `json:"records_applied"`
	Late         uint64    `json:"records_late"`
	Invalid      uint64    `json:"records_invalid"`
	AlertsFiring int       `json:"alerts_firing"`
	// Patterns are the daemon's detectors (its detector table, in order):
	// the choices of the page's pattern filter.
	Patterns []string `json:"patterns"`
	// NATSError is why the NATS connection is down (TLS, auth, DNS, ...);
	// empty while connected.
	NATSError      string     `json:"nats_error,omitempty"`
	NATSErrorKind  string     `json:"nats_error_kind,omitempty"`
	NATSErrorSince *time.Time `json:"nats_error_since,omitempty"` // wall clock
}

// ToolStatus is one tool's baseline. Non-finite figures (an empty digest
// yields NaN) are served as null and shown as "–".
type ToolStatus struct {
	Tool       string  `json:"tool"`
	Calls      float64 `json:"calls_per_min"` // recent call rate
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	OutputP50  float64 `json:"output_p50_bytes"`
	OutputP99  float64 `json:"output_p99_bytes"`
	Shapes     int     `json:"shapes"` // distinct input shapes seen
	Agents     int     `json:"agents"` // distinct agents calling the tool
	// History is a small ring of recent points, oldest first, for the
	// tool's chart (a few dozen points is plenty).
	History []Point `json:"history"`
}

// Point is one sample of a tool's history.
type Point struct {
	Time       time.Time `json:"t"` // event time
	Calls      float64   `json:"calls_per_min"`
	LatencyP99 float64   `json:"latency_p99_ms"`
}

// Provider supplies the page's data. Status is called once per page poll
// (every few seconds per open browser), from HTTP server goroutines,
// concurrently: it must be cheap and goroutine-safe. The daemon should
// build the Snapshot in its pipeline goroutine (say once a second or on
// Tick) and publish it through an atomic.Pointer, returning the cached
// value here. The handler never modifies the returned Snapshot, so the
// cached value may be shared between calls.
type Provider interface {
	Status() Snapshot
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func() Snapshot

// Status calls f.
func (f ProviderFunc) Status() Snapshot { return f() }

//go:embed web
var webFS embed.FS

var (
	indexHTML = mustRead("web/index.html")
	staticFS  = mustSub("web/static")
)

func mustRead(name string) []byte {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("statuspage: embedded %s: %v", name, err))
	}
	return b
}

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(webFS, dir)
	if err != nil {
		panic(fmt.Sprintf("statuspage: embedded %s: %v", dir, err))
	}
	return sub
}

// contentSecurityPolicy allows only the page's own script, stylesheet and
// API: even if some text slipped into markup, no inline script would run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the status page, its assets and the JSON API for p.
func Handler(p Provider) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		serveStatus(w, p)
	})
	files := http.StripPrefix("/static/", http.FileServerFS(staticFS))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(indexHTML)
}

func serveStatus(w http.ResponseWriter, p Provider) {
	snap := p.Status()
	if snap.Alerts == nil {
		snap.Alerts = []alert.Alert{}
	}
	if snap.Tools == nil {
		snap.Tools = []ToolStatus{}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(&snap); err != nil {
		http.Error(w, fmt.Sprintf("encode status: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// finite returns nil for NaN and ±Inf, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON writes non-finite figures as null.
func (t ToolStatus) MarshalJSON() ([]byte, error) {
	history := t.History
	if history == nil {
		history = []Point{}
	}
	return json.Marshal(struct {
		Tool       string   `json:"tool"`
		Calls      *float64 `json:"calls_per_min"`
		LatencyP50 *float64 `json:"latency_p50_ms"`
		LatencyP99 *float64 `json:"latency_p99_ms"`
		OutputP50  *float64 `json:"output_p50_bytes"`
		OutputP99  *float64 `json:"output_p99_bytes"`
		Shapes     int      `json:"shapes"`
		Agents     int      `json:"agents"`
		History    []Point  `json:"history"`
	}{t.Tool, finite(t.Calls), finite(t.LatencyP50), finite(t.LatencyP99),
		finite(t.OutputP50), finite(t.OutputP99), t.Shapes, t.Agents, history})
}

// MarshalJSON writes non-finite figures as null.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Time       time.Time `json:"t"`
		Calls      *float64  `json:"calls_per_min"`
		LatencyP99 *float64  `json:"latency_p99_ms"`
	}{p.Time, finite(p.Calls), finite(p.LatencyP99)})
}
