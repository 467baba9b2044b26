package statuspage

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func fixtureProvider() Provider {
	snap := fixtureSnapshot()
	return ProviderFunc(func() Snapshot { return snap })
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// TestStatusGolden pins the /api/status wire form, which the page's script
// depends on.
func TestStatusGolden(t *testing.T) {
	w := get(t, Handler(fixtureProvider()), "GET", "/api/status")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, w.Body.Bytes(), "", "  "); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	golden := filepath.Join("testdata", "status.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("/api/status differs from %s (run with -update if intended):\n%s", golden, pretty.String())
	}
}

// TestStatusShape decodes the JSON generically and checks the keys the
// page's script reads.
func TestStatusShape(t *testing.T) {
	w := get(t, Handler(fixtureProvider()), "GET", "/api/status")
	var got struct {
		Daemon map[string]any   `json:"daemon"`
		Alerts []map[string]any `json:"alerts"`
		Tools  []map[string]any `json:"tools"`
		Comp   map[string]any   `json:"compliance"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"records", "complete", "missing_fields", "environments", "classifications", "retention_policies", "chain"} {
		if _, ok := got.Comp[k]; !ok {
			t.Errorf("compliance.%s missing", k)
		}
	}
	if ch, _ := got.Comp["chain"].(map[string]any); ch["verified"] == nil || ch["producers"] == nil || ch["alerts"] == nil {
		t.Errorf("compliance.chain = %v", got.Comp["chain"])
	}
	for _, k := range []string{"version", "started_at", "watermark", "records_applied", "records_late", "records_invalid", "alerts_firing"} {
		if _, ok := got.Daemon[k]; !ok {
			t.Errorf("daemon.%s missing", k)
		}
	}
	if len(got.Alerts) != 9 || len(got.Tools) != 5 {
		t.Fatalf("got %d alerts, %d tools; want 9, 5", len(got.Alerts), len(got.Tools))
	}
	a := got.Alerts[0]
	for _, k := range []string{"id", "fingerprint", "status", "pattern", "severity", "score", "tool", "agent_id",
		"observed", "expected", "unit", "summary", "details", "event_time", "trace_id", "span_id", "task_id"} {
		if _, ok := a[k]; !ok {
			t.Errorf("alerts[0].%s missing", k)
		}
	}
	if _, ok := got.Alerts[5]["ends_at"]; !ok {
		t.Error("resolved alert has no ends_at")
	}
	tool := got.Tools[1]
	for _, k := range []string{"tool", "calls_per_min", "latency_p50_ms", "latency_p99_ms", "output_p50_bytes", "output_p99_bytes", "shapes", "agents", "history"} {
		if _, ok := tool[k]; !ok {
			t.Errorf("tools[1].%s missing", k)
		}
	}
	if h, _ := tool["history"].([]any); len(h) != 30 {
		t.Errorf("tools[1].history has %d points, want 30", len(h))
	}
	if got.Tools[0]["tool"] != evilTool {
		t.Errorf("tools[0].tool = %v; the API must carry names verbatim", got.Tools[0]["tool"])
	}
}

func TestStatusEmptyAndNonFinite(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want string
	}{
		{"nil slices are empty arrays", Snapshot{},
			`"alerts":[],"tools":[]`},
		{"empty digest is null", Snapshot{Tools: []ToolStatus{{Tool: "t", Calls: 1, LatencyP50: math.NaN(), LatencyP99: math.Inf(1), OutputP50: math.NaN(), OutputP99: 5}}},
			`{"tool":"t","calls_per_min":1,"latency_p50_ms":null,"latency_p99_ms":null,"output_p50_bytes":null,"output_p99_bytes":5,"shapes":0,"agents":0,"history":[]}`},
		{"non-finite history point", Snapshot{Tools: []ToolStatus{{Tool: "t", History: []Point{{Time: watermark, Calls: 2, LatencyP99: math.NaN()}}}}},
			`"history":[{"t":"2026-03-23T14:30:00.123Z","calls_per_min":2,"latency_p99_ms":null}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := tt.snap
			w := get(t, Handler(ProviderFunc(func() Snapshot { return snap })), "GET", "/api/status")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("body %s\ndoes not contain %s", w.Body, tt.want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	h := Handler(fixtureProvider())
	tests := []struct {
		method, path string
		code         int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="static/app.js" defer></script>`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/static/app.js", 200, "text/javascript; charset=utf-8", "function poll()"},
		{"GET", "/static/style.css", 200, "text/css; charset=utf-8", ".tool-card"},
		{"GET", "/static/", 404, "", ""},
		{"GET", "/static/missing.js", 404, "", ""},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/api/status/x", 404, "", ""},
		{"POST", "/api/status", 405, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := get(t, h, tt.method, tt.path)
			if w.Code != tt.code {
				t.Fatalf("code %d, want %d", w.Code, tt.code)
			}
			if tt.ctype != "" && w.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", w.Header().Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff header")
			}
		})
	}
}

// TestMountedUnderPrefix: the page uses relative URLs, so it works behind
// http.StripPrefix.
func TestMountedUnderPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/toolwatch/", http.StripPrefix("/toolwatch", Handler(fixtureProvider())))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/toolwatch/", "/toolwatch/api/status", "/toolwatch/static/app.js", "/toolwatch/static/style.css"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

// TestNoExternalURLs: the daemon may run without internet, and the page
// must not leak to third parties. The only absolute URL allowed is the SVG
// namespace, an identifier that is never fetched.
func TestNoExternalURLs(t *testing.T) {
	absURL := regexp.MustCompile(`(?i)(https?:|wss?:|ftp:)?//[a-z0-9-]+(\.[a-z0-9-]+)+`)
	attrURL := regexp.MustCompile(`(?i)\b(src|href|action)\s*=\s*"([^"]*)"`)
	n := 0
	err := fs.WalkDir(webFS, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := webFS.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `'http://www.w3.org/2000/svg'`, "")
		if m := absURL.FindString(text); m != "" {
			t.Errorf("%s contains absolute URL %q", path, m)
		}
		for _, m := range attrURL.FindAllStringSubmatch(text, -1) {
			if u := m[2]; strings.HasPrefix(u, "/") || strings.Contains(u, ":") && !strings.HasPrefix(u, "data:") {
				t.Errorf("%s: %s=%q is not a relative URL", path, m[1], u)
			}
		}
		if strings.Contains(text, "@import") || regexp.MustCompile(`url\(\s*['"]?[^d'"]`).MatchString(text) {
			t.Errorf("%s loads CSS resources", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("walked %d embedded files, want 3 (index.html, app.js, style.css)", n)
	}
}

// TestScriptUsesNoHTMLSinks: untrusted text must never be parsed as HTML.
func TestScriptUsesNoHTMLSinks(t *testing.T) {
	js, err := webFS.ReadFile("web/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser", "createContextualFragment", "setAttribute('on", "setAttribute('style"} {
		if bytes.Contains(js, []byte(sink)) {
			t.Errorf("app.js uses %s", sink)
		}
	}
	if !bytes.Contains(js, []byte("textContent")) {
		t.Error("app.js sets no textContent: did the renderer change?")
	}
}
