package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
)

// alertmanagerBinary is where Debian's prometheus-alertmanager package
// installs the daemon (`dpkg -L prometheus-alertmanager`).
const alertmanagerBinary = "/usr/bin/prometheus-alertmanager"

const amConfig = `route:
  receiver: blackhole
receivers:
  - name: blackhole
`

type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// startAlertmanager runs the real daemon on a free loopback port with
// clustering off and returns its base URL; it is stopped at cleanup.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(alertmanagerBinary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing in CI (apt-get install prometheus-alertmanager): %v", alertmanagerBinary, err)
		}
		t.Skipf("integration test needs %s (apt-get install prometheus-alertmanager): %v", alertmanagerBinary, err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(amConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(alertmanagerBinary,
		"--config.file="+cfgFile,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	baseURL := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return baseURL
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("alertmanager exited: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready after 15s:\n%s", logs.String())
		}
	}
}

func getAlerts(t *testing.T, baseURL string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(baseURL + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s", resp.Status)
	}
	var as []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatalf("decode alerts: %v", err)
	}
	return as
}

// waitAlerts polls until cond holds (Alertmanager ingests asynchronously).
func waitAlerts(t *testing.T, baseURL string, cond func([]gettableAlert) bool) []gettableAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		as := getAlerts(t, baseURL)
		if cond(as) {
			return as
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 10s; alerts: %+v", as)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIntegrationRealAlertmanager(t *testing.T) {
	baseURL := startAlertmanager(t)
	cfg := testConfig(baseURL)
	cfg.GeneratorURL = "http://toolwatch.test/alerts"
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSink(t, s)

	now := time.Now().UTC().Truncate(time.Millisecond)
	a := firing("fp1", "critical", now.Add(-time.Minute))
	b := firing("fp2", "warning", now.Add(-time.Minute))
	b.Pattern, b.Score, b.Observed, b.Expected = "denial_spike", 72.25, 14, 0.5
	sentAt := time.Now()
	s.Send(a, b)

	as := waitAlerts(t, baseURL, func(as []gettableAlert) bool { return len(as) == 2 })
	byTool := map[string]gettableAlert{}
	for _, g := range as {
		byTool[g.Labels["tool"]] = g
	}
	for _, want := range []alert.Alert{a, b} {
		g, ok := byTool[want.Tool]
		if !ok {
			t.Fatalf("alert for %s missing: %+v", want.Tool, as)
		}
		wantLabels := map[string]string{
			"alertname": "AgentToolAnomaly", "pattern": want.Pattern, "severity": want.Severity,
			"agent_id": want.AgentID, "tool": want.Tool, "environment": want.Environment,
		}
		if !reflect.DeepEqual(g.Labels, wantLabels) {
			t.Errorf("labels %v, want %v", g.Labels, wantLabels)
		}
		wantAnn := map[string]string{
			"summary": want.Summary, "score": fmt.Sprint(want.Score), "observed": fmt.Sprint(want.Observed),
			"expected": fmt.Sprint(want.Expected), "trace_id": want.TraceID,
		}
		if !reflect.DeepEqual(g.Annotations, wantAnn) {
			t.Errorf("annotations %v, want %v", g.Annotations, wantAnn)
		}
		if !g.StartsAt.Equal(want.StartsAt) {
			t.Errorf("startsAt %v, want %v", g.StartsAt, want.StartsAt)
		}
		// endsAt = send time + 4×resend_interval (1m).
		if lo, hi := sentAt.Add(4*time.Minute-time.Second), time.Now().Add(4*time.Minute+time.Second); g.EndsAt.Before(lo) || g.EndsAt.After(hi) {
			t.Errorf("endsAt %v, want about now+4m", g.EndsAt)
		}
		if g.Status.State != "active" || g.GeneratorURL != "http://toolwatch.test/alerts?fingerprint="+want.Fingerprint {
			t.Errorf("state %q generatorURL %q", g.Status.State, g.GeneratorURL)
		}
	}

	// Resolving b removes it from the active alerts; a keeps firing.
	s.Send(resolved(b, time.Now().Add(-time.Second)))
	as = waitAlerts(t, baseURL, func(as []gettableAlert) bool { return len(as) == 1 })
	if as[0].Labels["tool"] != a.Tool {
		t.Errorf("after resolve, active = %+v, want only %s", as, a.Tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
