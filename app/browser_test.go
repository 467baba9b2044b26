package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/tools/demo"
)

// chromium finds headless Chromium like statuspage's browser tests do:
// skipped without one (and in -short mode) unless CI is set.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("browser test skipped in -short mode")
	}
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("headless Chromium not found: install the Debian package chromium")
	}
	t.Skip("headless Chromium not found")
	return ""
}

// The status page of a live daemon fed with the demo's simulated traffic
// (a 26 h backlog, then one injected anomaly of each pattern) draws an
// evidence picture for every alert from the details the detectors really
// emit, with the observation at or beyond the threshold.
func TestBrowserLiveDaemonEvidence(t *testing.T) {
	bin := chromium(t)
	info := daemon(t, Options{})
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cfg := demo.PublishConfig{Seed: 7, Rate: 0.5, Live: 1200 * time.Millisecond,
		Lead: 100 * time.Millisecond, Spacing: 150 * time.Millisecond, Burst: 100 * time.Millisecond, FlushEvery: 500}
	st, err := demo.Publish(context.Background(), nc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, info.HTTPAddr, uint64(st.History+st.Live)*9/10)
	want := map[string]bool{}
	for _, inj := range st.Injected {
		want[inj.Pattern] = true
	}
	// Wait until the page's snapshot holds an alert of each injected pattern.
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[string]bool{}
		for _, a := range getStatus(t, info.HTTPAddr).Alerts {
			seen[a.Pattern] = true
		}
		missing := 0
		for p := range want {
			if !seen[p] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts of %v after 30s, want all of %v", seen, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	alerts := getStatus(t, info.HTTPAddr).Alerts

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--no-proxy-server", "--user-data-dir="+t.TempDir(), "--window-size=1400,1000",
		"--virtual-time-budget=5000", "--dump-dom", "http://"+info.HTTPAddr+"/")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Dir = &out, &stderr, t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	dom := out.String()
	rowRE := regexp.MustCompile(`data-alert-id="([0-9a-f]+)"`)
	chartRE := regexp.MustCompile(`<svg [^>]*class="evidence-chart"[^>]* data-pattern="([a-z_]+)"`)
	markRE := regexp.MustCompile(`<line x1="([0-9.]+)"[^>]*class="(mark-threshold|mark-observed)"`)
	rows := strings.Split(dom, "<details ")[1:]
	if len(rows) != len(alerts) {
		t.Fatalf("%d alert rows on the page, want %d", len(rows), len(alerts))
	}
	pictured := map[string]bool{}
	for _, row := range rows {
		row, _, _ = strings.Cut(row, "</details>")
		id := rowRE.FindStringSubmatch(row)
		c := chartRE.FindStringSubmatch(row)
		if id == nil || c == nil {
			t.Errorf("alert row without an evidence picture: %.300s", row)
			continue
		}
		pictured[c[1]] = true
		x := map[string]float64{}
		for _, m := range markRE.FindAllStringSubmatch(row, -1) {
			x[m[2]], _ = strconv.ParseFloat(m[1], 64)
		}
		thr, okT := x["mark-threshold"]
		obs, okO := x["mark-observed"]
		if !okT || !okO || obs < thr {
			t.Errorf("alert %s (%s): threshold at x=%v (%v), observation at x=%v (%v); want the observation at or beyond the threshold",
				id[1], c[1], thr, okT, obs, okO)
		}
	}
	for p := range want {
		if !pictured[p] {
			t.Errorf("no picture for a %s alert", p)
		}
	}
	t.Logf("%d alerts pictured, patterns %v", len(rows), fmt.Sprint(pictured))
}
