package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// postReload asks the daemon to reload the way an operator's curl does,
// with the header that marks a non-browser request.
func postReload(t *testing.T, addr string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/-/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Requested-By", "toolwatch-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The problem 3: a webhook that answered 410 keeps its alerts
// queued (not failed) and a reload of the unchanged file re-enables it, so
// every alert raised meanwhile is delivered.
func TestWebhookGoneResumedByReload(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	gone := true
	attempts := map[string]int{}
	var delivered []string
	srv := httpTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		attempts[id]++
		if gone {
			w.WriteHeader(http.StatusGone)
			return
		}
		delivered = append(delivered, id)
		w.WriteHeader(http.StatusNoContent)
	})
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := "time:\n  idle_advance: 300ms\n  allowed_lateness: 15m\nmetrics:\n  enable_lifecycle: true\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	info := daemon(t, Options{WebhookURL: srv, WebhookSecretFile: secretFile, ConfigPath: cfgPath})
	p := newProducer(t, info.NATSURL)
	last := p.warmUp("a", "send-email", 300)
	for i, agent := range []string{"a", "b", "c"} {
		p.publish(last.Add(time.Duration(i+1)*time.Second), agent, "send-email", 45000)
	}
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, info.HTTPAddr, 303)
	deadline := time.Now().Add(15 * time.Second)
	for metricValue(t, info.HTTPAddr, `toolwatch_alerts_total{pattern="latency",severity="critical",status="firing"}`) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("three latency alerts were not raised")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	name := `{sink="webhook:` + strings.TrimPrefix(srv, "http://") + `"}`
	if metricValue(t, info.HTTPAddr, "toolwatch_sink_paused"+name) != 1 || metricValue(t, info.HTTPAddr, "toolwatch_sink_failed_total"+name) != 0 {
		t.Errorf("while gone: want the webhook paused and nothing failed:\n%s", grepLines(metricsText(t, info.HTTPAddr), "toolwatch_sink_"))
	}

	// The receiver is back; the file is unchanged.
	mu.Lock()
	gone = false
	mu.Unlock()
	if code, body := postReload(t, info.HTTPAddr); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(delivered)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 alerts delivered after the reload; attempts %v\n%s", n, attempts, grepLines(metricsText(t, info.HTTPAddr), "toolwatch_sink_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The problem 5: an absurd duration is an invalid record,
// dead-lettered with a reason naming the field, and raises no alert.
func TestAbsurdDurationDeadLettered(t *testing.T) {
	info := daemon(t, Options{ConfigPath: fastIdleConfig(t)})
	p := newProducer(t, info.NATSURL)
	invalid := make(chan *nats.Msg, 4)
	if _, err := p.nc.ChanSubscribe("audit.invalid", invalid); err != nil {
		t.Fatal(err)
	}
	last := p.warmUp("a", "db-query", 100)
	waitApplied(t, info.HTTPAddr, 100)
	p.publish(last.Add(time.Second), "a", "db-query", 1e308)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-invalid:
		if got := m.Header.Get("Toolwatch-Reason"); got != "invocation.duration_ms: must be at most 604800000 (7 days)" {
			t.Errorf("dead-letter reason %q", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a duration of 1e308 ms was not dead-lettered")
	}
	if got := metricValue(t, info.HTTPAddr, `toolwatch_alerts_total{pattern="latency",severity="critical",status="firing"}`); got != 0 {
		t.Errorf("%v latency alerts for an absurd duration", got)
	}
}
