package sinks

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBuildDeliversToEveryEnabledSink(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("TW_SINKS_TEST_SECRET", "a-raw-secret-of-enough-bytes")

	cfg := sink.DefaultConfig()
	cfg.NATS.Enabled = false
	cfg.Alertmanager.Enabled, cfg.Alertmanager.URLs = true, []string{srv.URL}
	cfg.Webhook.Enabled, cfg.Webhook.URLs, cfg.Webhook.SecretEnv = true, []string{srv.URL + "/hook"}, "TW_SINKS_TEST_SECRET"
	if es := cfg.Validate(); len(es) != 0 {
		t.Fatal(es)
	}
	var logs syncBuffer
	d, err := Build(cfg, Deps{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range d.Sinks() {
		names = append(names, s.Name())
	}
	if got := strings.Join(names, ","); got != "log,alertmanager,webhook" {
		t.Errorf("sinks %s", got)
	}
	d.Send(alert.Alert{ID: "x", Fingerprint: "fp", Status: alert.StatusFiring, Pattern: "latency", Severity: "info",
		AgentID: "a", Tool: "t", StartsAt: time.Now()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if paths["/api/v2/alerts"] != 1 || paths["/hook"] != 1 {
		t.Errorf("requests by path %v, want one alertmanager post and one webhook", paths)
	}
	if !strings.Contains(logs.String(), `"alert_id":"x"`) {
		t.Errorf("log sink wrote %q", logs.String())
	}
}

func TestBuildErrorsLeaveNothingRunning(t *testing.T) {
	cfg := sink.DefaultConfig() // nats enabled by default
	if _, err := Build(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "sinks.nats") {
		t.Errorf("nats without connection: %v", err)
	}
	cfg.NATS.Enabled = false
	cfg.Webhook.Enabled, cfg.Webhook.URLs, cfg.Webhook.SecretEnv = true, []string{"http://127.0.0.1:1/"}, "TW_SINKS_TEST_UNSET"
	if _, err := Build(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "sinks.webhook") {
		t.Errorf("webhook without secret: %v", err)
	}
	// goleak (TestMain) checks the log sink built before the error was closed.
}
