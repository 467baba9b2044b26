package loadbench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A tiny end-to-end run against an embedded server with the daemon
// in-process: every phase measures something, and the live phase's
// injected production denials come back as timed alerts.
func TestRunTiny(t *testing.T) {
	shipped, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A short idle advance keeps the test short; the rest is the shipped
	// configuration.
	cfgText := strings.Replace(string(shipped), "idle_advance: 5s", "idle_advance: 200ms", 1)
	if cfgText == string(shipped) {
		t.Fatal("config.yaml has no idle_advance: 5s line to shorten")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Records: 3000, Rate: 400, Duration: time.Second, ConfigPath: cfgPath,
		Timeout: time.Minute, Dir: filepath.Join(dir, "run"), Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	// The fill stops at Records or at the present, whichever comes first;
	// its simulated day makes the last 30 h hold a few percent fewer
	// records at some hours (2,887 at 02:30 UTC).
	if res.Records < 2700 || res.Records > 3000 {
		t.Errorf("records = %d, want 2,700..3,000", res.Records)
	}
	if len(res.RawRates) != 2 || res.RawRate <= 0 || res.DaemonRate <= 0 || res.Ratio <= 0 {
		t.Errorf("rates: raw %v daemon %v ratio %v, want > 0", res.RawRate, res.DaemonRate, res.Ratio)
	}
	if res.LivePublished < 200 || res.LivePublished > 401 {
		t.Errorf("live published %d, want about 400", res.LivePublished)
	}
	// 400 records/s for 1s with an injection every 10 records: ~14
	// production denials on distinct keys, each alerting at once.
	if res.Alerts < 5 {
		t.Errorf("alerts timed = %d, want at least 5 (production denials)", res.Alerts)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latency p50 %v p99 %v max %v not ordered and positive", res.P50, res.P99, res.Max)
	}
	if res.PeakRSS <= 0 {
		t.Errorf("peak RSS = %d", res.PeakRSS)
	}
	var out bytes.Buffer
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw JetStream consumer (ack only)", "detector / raw", "publish → alert p50 / p99 / max", "peak RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"nats://127.0.0.1:4222", false, true},
		{"nats://localhost:4222", false, true},
		{"nats://[::1]:4222", false, true},
		{"nats://127.0.0.1:4222,nats://10.0.0.2:4222", false, false},
		{"nats://nats.internal:4222", false, false},
		{"nats://nats.internal:4222", true, true},
	} {
		if err := checkLoopback(tc.url, tc.remote); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q, %v) = %v, want ok %v", tc.url, tc.remote, err, tc.ok)
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := make([]time.Duration, 100)
	for i := range xs {
		xs[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}
