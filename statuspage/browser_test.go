package statuspage

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The browser tests run the page in headless Chromium (Debian package
// "chromium"; set CHROMIUM to use another binary). Without a browser they
// skip, except under CI (env CI set), where they fail. Each launches the
// browser once (a few seconds), so -short skips them outside CI.
//
// UPDATE_SCREENSHOT=1 also writes the screenshot to docs/status-page.png.

func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("browser test skipped in -short mode")
	}
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("headless Chromium not found: install the Debian package chromium (CI must run the browser test)")
	}
	t.Skip("headless Chromium not found: apt-get install -y chromium (or set CHROMIUM=/path) to run the browser test")
	return ""
}

// runChromium loads url in headless Chromium, lets the page's script run
// for budget of virtual time, and returns stdout (the DOM with --dump-dom).
func runChromium(t *testing.T, bin, url string, budget time.Duration, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-proxy-server", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
		"--window-size=1400,1000", fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()),
	}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", extra, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// stripAttrValues blanks every attribute value of serialized HTML, so tag
// counts are not fooled by markup-like text inside attributes (Chromium
// serializes attribute values in double quotes, escaping '"').
var attrValue = regexp.MustCompile(`="[^"]*"`)

func count(s, sub string) int { return strings.Count(s, sub) }

func TestBrowserRendersSnapshot(t *testing.T) {
	bin := chromiumPath(t)
	snap := fixtureSnapshot()
	srv := httptest.NewServer(Handler(ProviderFunc(func() Snapshot { return snap })))
	defer srv.Close()

	// Open the newest alert through its deep link, as a notification would.
	dom := string(runChromium(t, bin, srv.URL+"/#alert-"+snap.Alerts[0].ID, 5*time.Second, "--dump-dom"))
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("no DOM dumped:\n%s", dom)
	}
	tags := attrValue.ReplaceAllString(dom, `=""`)

	// The script ran and the fetch succeeded.
	if !strings.Contains(dom, `<body data-state="live">`) {
		t.Errorf("body not in live state:\n%s", head(dom))
	}
	// One row per alert and one card per tool, all created by the script.
	if n := count(dom, "data-alert-id="); n != len(snap.Alerts) {
		t.Errorf("%d alert rows, want %d", n, len(snap.Alerts))
	}
	for _, a := range snap.Alerts {
		if !strings.Contains(dom, `id="alert-`+a.ID+`"`) {
			t.Errorf("no row for alert %s", a.ID)
		}
	}
	if n := count(dom, `<article class="tool-card`); n != len(snap.Tools) {
		t.Errorf("%d tool cards, want %d", n, len(snap.Tools))
	}
	if n := count(dom, `<svg viewBox=`); n != len(snap.Tools) {
		t.Errorf("%d sparklines, want %d", n, len(snap.Tools))
	}
	if n := count(dom, `class="spark-lat"`); n != len(snap.Tools) {
		t.Errorf("%d latency lines, want %d", n, len(snap.Tools))
	}
	for sev, want := range map[string]int{"critical": 3, "warning": 4, "info": 1} {
		if n := count(dom, `class="alert sev-`+sev); n != want {
			t.Errorf("%d %s rows, want %d", n, sev, want)
		}
	}
	// The older firing emission of a since-resolved fingerprint is dimmed.
	if n := count(dom, ` older"`); n != 1 {
		t.Errorf("%d rows marked older, want 1", n)
	}
	// Header figures.
	for _, want := range []string{`<dd id="applied">1,284,312</dd>`, `<dd id="firing">5</dd>`,
		`<dd id="watermark">2026-03-23 14:30:00Z</dd>`, `<span id="alert-count" class="count">8</span>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	// The deep-linked alert is open and shows its evidence.
	if !regexp.MustCompile(`<details class="alert sev-critical firing" id="alert-` + snap.Alerts[0].ID + `"[^>]* open=""`).MatchString(dom) {
		t.Errorf("deep-linked alert is not open")
	}
	for _, want := range []string{`<span class="val">30.1 s</span>`, `<span class="val">210 ms</span>`,
		`<span class="val">91.5 / 100</span>`, "agent-task-2026-03-23-abc123", "tool-call-007", "support-ticket-45678",
		`<dt>baseline_p99</dt><dd>410</dd>`, `<time class="when" datetime="2026-03-23T14:29:40.123Z" title="2026-03-23 14:29:40Z">20s ago</time>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	// Tool card figures.
	for _, want := range []string{`<h3 class="tool-name">customer-lookup</h3>`, `<span class="val">36/min</span>`,
		`<span class="val">210 / 410 ms</span>`, `<span class="val">1.8 / 6.3 KB</span>`,
		`<span class="val">640 ms / 1.9 s</span>`, `<span class="badge">1 firing</span>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}

	// Untrusted text is text: escaped in element content, no element made.
	for _, want := range []string{
		`<h3 class="tool-name">&lt;script&gt;alert(1)&lt;/script&gt;</h3>`,
		`<span class="tool">&lt;script&gt;alert(1)&lt;/script&gt;</span>`,
		`<span class="agent">agent-&lt;b&gt;bold&lt;/b&gt;</span>`,
		`&lt;img src=x onerror=alert(2)&gt;`,
		`<dd>&lt;i&gt;not markup&lt;/i&gt;</dd>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks escaped %s", want)
		}
	}
	if n := count(tags, "<script"); n != 1 {
		t.Errorf("%d <script> elements, want 1 (the page's own)", n)
	}
	for _, tag := range []string{"<img", "<b>", "<i>", "<u>"} {
		if strings.Contains(tags, tag) {
			t.Errorf("injected %s element in DOM", tag)
		}
	}
}

func TestBrowserShowsStale(t *testing.T) {
	bin := chromiumPath(t)
	h := Handler(ProviderFunc(fixtureSnapshot))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" {
			http.Error(w, "pipeline unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dom := string(runChromium(t, bin, srv.URL+"/", 5*time.Second, "--dump-dom"))
	if !strings.Contains(dom, `<body data-state="stale">`) {
		t.Errorf("body not in stale state:\n%s", head(dom))
	}
	if !strings.Contains(dom, `title="api/status: HTTP 503">stale · no data</span>`) {
		t.Errorf("no stale indicator:\n%s", head(dom))
	}
	if strings.Contains(dom, "data-alert-id=") {
		t.Error("alert rows rendered without data")
	}
}

// TestBrowserGoesStaleKeepingData: when the API fails after a good poll,
// the page says so and keeps showing the last data.
func TestBrowserGoesStaleKeepingData(t *testing.T) {
	bin := chromiumPath(t)
	h := Handler(ProviderFunc(fixtureSnapshot))
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" && polls.Add(1) > 1 {
			http.Error(w, "pipeline unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	// The page polls every 5s: 8s of virtual time covers a second poll.
	dom := string(runChromium(t, bin, srv.URL+"/", 8*time.Second, "--dump-dom"))
	if polls.Load() < 2 {
		t.Fatalf("page polled api/status %d times in 8s, want >= 2", polls.Load())
	}
	if !strings.Contains(dom, `<body data-state="stale">`) {
		t.Errorf("body not in stale state:\n%s", head(dom))
	}
	if !regexp.MustCompile(`title="api/status: HTTP 503">stale · last update [^<]+</span>`).MatchString(dom) {
		t.Errorf("no stale indicator with last update time:\n%s", head(dom))
	}
	if n := count(dom, "data-alert-id="); n != 8 {
		t.Errorf("%d alert rows kept, want 8", n)
	}
}

func TestBrowserScreenshot(t *testing.T) {
	bin := chromiumPath(t)
	snap := fixtureSnapshot()
	snap.Daemon.StartedAt = time.Now().Add(-3*time.Hour - 12*time.Minute) // a plausible uptime
	srv := httptest.NewServer(Handler(ProviderFunc(func() Snapshot { return snap })))
	defer srv.Close()

	shot := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, srv.URL+"/#alert-"+snap.Alerts[0].ID, 5*time.Second, "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(1400, 1000) {
		t.Errorf("screenshot is %v, want 1400x1000", got)
	}
	// A rendered page has many colours (text antialiasing, severity pills,
	// charts) and a large share of non-background pixels.
	colors := map[uint32]bool{}
	bg := img.At(0, img.Bounds().Dy()-1)
	nonBG := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if img.At(x, y) != bg {
				nonBG++
			}
		}
	}
	if len(colors) < 64 {
		t.Errorf("screenshot has %d colours; the page did not render", len(colors))
	}
	if total := img.Bounds().Dx() * img.Bounds().Dy() / 4; nonBG < total/5 {
		t.Errorf("only %d of %d sampled pixels differ from the background", nonBG, total)
	}
	// Severity colours appear (critical red pill text on its tint).
	if !hasColorNear(img, 0xd9, 0x2d, 0x20) {
		t.Error("no critical-red pixels in the screenshot")
	}
	if os.Getenv("UPDATE_SCREENSHOT") != "" {
		out := filepath.Join("..", "docs", "status-page.png")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
}

func hasColorNear(img image.Image, r, g, b uint32) bool {
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr>>8, r) && near(pg>>8, g) && near(pb>>8, b) {
				return true
			}
		}
	}
	return false
}

func near(a, b uint32) bool { return a+8 >= b && b+8 >= a }

func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}
