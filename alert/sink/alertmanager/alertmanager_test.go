package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var base = time.Date(2026, 3, 23, 14, 30, 0, 123000000, time.UTC)

func firing(fp, severity string, startsAt time.Time) alert.Alert {
	return alert.Alert{
		ID: fp + "-" + startsAt.Format(time.RFC3339Nano), Fingerprint: fp, Status: alert.StatusFiring,
		Pattern: "latency", Severity: severity, Score: 91.5,
		AgentID: "support-agent-prod-01", Tool: "customer-lookup-" + fp, ToolVersion: "2.3.1", Environment: "production",
		Observed: 30120, Expected: 210, Unit: "ms",
		Summary:   "customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
		EventTime: startsAt, StartsAt: startsAt, TraceID: "agent-task-2026-03-23-abc123", SpanID: "tool-call-007",
	}
}

func resolved(a alert.Alert, endsAt time.Time) alert.Alert {
	a.Status, a.EndsAt = alert.StatusResolved, &endsAt
	a.ID += "-resolved"
	return a
}

func testConfig(urls ...string) sink.AlertmanagerConfig {
	c := sink.DefaultConfig().Alertmanager
	c.Enabled, c.URLs = true, urls
	return c
}

// post is one request the fake Alertmanager received.
type post struct {
	at     time.Time
	header http.Header
	alerts []PostableAlert
}

// receiver is an Alertmanager-shaped handler; status picks the answer.
type receiver struct {
	status func() int
	mu     sync.Mutex
	posts  []post
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request line", http.StatusNotFound)
		return
	}
	var as []PostableAlert
	if err := json.NewDecoder(req.Body).Decode(&as); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	code := http.StatusOK
	if r.status != nil {
		code = r.status()
	}
	r.mu.Lock()
	r.posts = append(r.posts, post{at: time.Now(), header: req.Header.Clone(), alerts: as})
	r.mu.Unlock()
	w.WriteHeader(code)
}

func (r *receiver) snapshot() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]post(nil), r.posts...)
}

// handlerTransport serves requests in-process, so synctest bubbles stay
// free of real network I/O and fake time can run.
type handlerTransport map[string]http.Handler

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := t[req.URL.Host]
	if !ok {
		return nil, errors.New("dial " + req.URL.Host + ": connection refused")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func TestPostableShapeOverHTTP(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv.URL + "/")
	cfg.GeneratorURL = "https://toolwatch.example/alerts"
	cfg.BearerTokenFile = tokenFile
	now := base.Add(2 * time.Second)
	n, err := NewNotifier(cfg.URLs[0], cfg, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := firing("fp1", "critical", base)
	if retry, err := n.Notify(context.Background(), a); err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
	posts := rcv.snapshot()
	if len(posts) != 1 || len(posts[0].alerts) != 1 {
		t.Fatalf("posts = %+v", posts)
	}
	if got := posts[0].header.Get("Authorization"); got != "Bearer s3cret-token" {
		t.Errorf("Authorization = %q", got)
	}
	want := PostableAlert{
		Labels: map[string]string{
			"alertname": "AgentToolAnomaly", "pattern": "latency", "severity": "critical",
			"agent_id": "support-agent-prod-01", "tool": "customer-lookup-fp1", "environment": "production",
		},
		Annotations: map[string]string{
			"summary": "customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
			"score":   "91.5", "observed": "30120", "expected": "210", "trace_id": "agent-task-2026-03-23-abc123",
		},
		StartsAt:     base,
		EndsAt:       now.Add(4 * time.Minute),
		GeneratorURL: "https://toolwatch.example/alerts?fingerprint=fp1",
	}
	if got := posts[0].alerts[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("posted\n %+v\nwant\n %+v", got, want)
	}
	if n.Name() != "alertmanager:"+srv.Listener.Addr().String() {
		t.Errorf("Name = %q", n.Name())
	}
}

func TestBasicAuthFromFile(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv.URL)
	cfg.BasicAuth = sink.BasicAuth{Username: "toolwatch", PasswordFile: pwFile}
	n, err := NewNotifier(srv.URL, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), firing("fp", "warning", base)); err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Header: rcv.snapshot()[0].header}
	if u, p, ok := req.BasicAuth(); !ok || u != "toolwatch" || p != "hunter2" {
		t.Errorf("basic auth = %q %q %v", u, p, ok)
	}
	cfg.BasicAuth.PasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := NewNotifier(srv.URL, cfg, Options{}); err == nil {
		t.Error("missing password file accepted")
	}
}

func TestNotifyRetryVerdict(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
	}{{500, true}, {503, true}, {429, true}, {400, false}, {404, false}, {401, false}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(&receiver{status: func() int { return tc.code }})
			defer srv.Close()
			n, err := NewNotifier(srv.URL, testConfig(srv.URL), Options{})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := n.Notify(context.Background(), firing("fp", "warning", base))
			if err == nil || retry != tc.retry {
				t.Errorf("Notify = %v, %v; want error with retry=%v", retry, err, tc.retry)
			}
		})
	}
	t.Run("network error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		n, err := NewNotifier(url, testConfig(url), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := n.Notify(context.Background(), firing("fp", "warning", base)); err == nil || !retry {
			t.Errorf("Notify = %v, %v; want retryable error", retry, err)
		}
	})
}

func TestPostableEdgeTimes(t *testing.T) {
	now := base
	future := firing("fp", "info", now.Add(3*time.Minute)) // event time ahead of the wall clock
	if p := Postable(future, now, time.Second, ""); !p.EndsAt.Equal(future.StartsAt.Add(4*time.Second)) || p.GeneratorURL != "" {
		t.Errorf("future start: endsAt %v, generatorURL %q", p.EndsAt, p.GeneratorURL)
	}
	r := resolved(firing("fp", "info", now), now.Add(-time.Hour))
	if p := Postable(r, now, time.Minute, "http://x/?a=b"); !p.EndsAt.Equal(r.StartsAt) || p.GeneratorURL != "http://x/?a=b&fingerprint=fp" {
		t.Errorf("resolved before start: endsAt %v, generatorURL %q", p.EndsAt, p.GeneratorURL)
	}
	noEnv := firing("fp", "info", now)
	noEnv.Environment = ""
	if _, ok := Labels(noEnv)["environment"]; ok {
		t.Error("empty environment label sent")
	}
}

// newSynctestSink builds a sink whose HTTP goes to in-process handlers.
func newSynctestSink(t *testing.T, handlers handlerTransport, cfg sink.AlertmanagerConfig, m *sink.Metrics) *Sink {
	t.Helper()
	s, err := New(cfg, Options{
		Client:  &http.Client{Transport: handlers, Timeout: cfg.Timeout},
		Metrics: m,
		Queue:   sink.QueueOptions{Jitter: func() float64 { return 0 }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeSink(t *testing.T, s sink.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// state folds the posts into what Alertmanager would hold: the last
// posted version of each label set.
func state(posts []post) map[string]PostableAlert {
	st := map[string]PostableAlert{}
	for _, p := range posts {
		for _, a := range p.alerts {
			st[a.Labels["tool"]+"/"+a.Labels["severity"]] = a
		}
	}
	return st
}

func TestResendWithEndsAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rcv := &receiver{}
		s := newSynctestSink(t, handlerTransport{"am": rcv}, testConfig("http://am"), nil)
		start := time.Now()
		s.Send(firing("fp1", "critical", start))
		synctest.Wait()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		posts := rcv.snapshot()
		if len(posts) != 4 { // immediate + resends at 1m, 2m, 3m
			t.Fatalf("posts = %d, want 4", len(posts))
		}
		for i, p := range posts {
			if want := start.Add(time.Duration(i) * time.Minute); !p.at.Equal(want) {
				t.Errorf("post %d at %v, want %v", i, p.at.Sub(start), want.Sub(start))
			}
			if len(p.alerts) != 1 || !p.alerts[0].EndsAt.Equal(p.at.Add(4*time.Minute)) || !p.alerts[0].StartsAt.Equal(start) {
				t.Errorf("post %d: %+v, want endsAt = post time + 4m, startsAt fixed", i, p.alerts)
			}
		}
		closeSink(t, s)
	})
}

func TestResolveSentThenRetainedThenForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rcv := &receiver{}
		cfg := testConfig("http://am")
		cfg.ResolveRetention = 3 * time.Minute
		s := newSynctestSink(t, handlerTransport{"am": rcv}, cfg, nil)
		start := time.Now()
		a := firing("fp1", "warning", start)
		s.Send(a)
		time.Sleep(90 * time.Second)
		endsAt := time.Now().Add(-10 * time.Second) // event time of the resolve
		s.Send(resolved(a, endsAt))
		synctest.Wait()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		var resolves []time.Duration
		for _, p := range rcv.snapshot() {
			for _, pa := range p.alerts {
				if pa.EndsAt.Equal(endsAt) {
					resolves = append(resolves, p.at.Sub(start))
				}
			}
		}
		// Sent at once (1m30s), then re-sent by the ticks at 2m, 3m, 4m;
		// the 5m tick is past the 3m retention (ends 4m30s).
		want := []time.Duration{90 * time.Second, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute}
		if !reflect.DeepEqual(resolves, want) {
			t.Errorf("resolve posts at %v, want %v", resolves, want)
		}
		// Plus the firing post at 0 and its re-send at 1m; nothing after 4m.
		if posts := rcv.snapshot(); len(posts) != 2+len(want) || posts[len(posts)-1].at.Sub(start) != 4*time.Minute {
			t.Errorf("total posts %d, want %d, the last at 4m (nothing after retention)", len(posts), 2+len(want))
		}
		closeSink(t, s)
	})
}

func TestSeverityChangeResolvesOldLabelSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rcv := &receiver{}
		s := newSynctestSink(t, handlerTransport{"am": rcv}, testConfig("http://am"), nil)
		start := time.Now()
		s.Send(firing("fp1", "warning", start))
		time.Sleep(10 * time.Second)
		s.Send(firing("fp1", "critical", start))
		synctest.Wait()
		st := state(rcv.snapshot())
		now := time.Now()
		if w := st["customer-lookup-fp1/warning"]; !w.EndsAt.Equal(now) {
			t.Errorf("warning label set endsAt %v, want resolved now", w.EndsAt)
		}
		if c := st["customer-lookup-fp1/critical"]; !c.EndsAt.Equal(now.Add(4 * time.Minute)) {
			t.Errorf("critical label set endsAt %v, want firing", c.EndsAt)
		}
		closeSink(t, s)
	})
}

func TestSharedLabelSetResolvesWhenAllFingerprintsResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rcv := &receiver{}
		s := newSynctestSink(t, handlerTransport{"am": rcv}, testConfig("http://am"), nil)
		start := time.Now()
		a, b := firing("fp1", "warning", start), firing("fp1", "warning", start)
		b.Fingerprint = "fp2" // same labels, another detail
		s.Send(a, b)
		synctest.Wait()
		before := len(rcv.snapshot())
		s.Send(resolved(a, start))
		synctest.Wait()
		if got := len(rcv.snapshot()); got != before {
			t.Fatalf("resolve of one of two fingerprints was posted (%d posts, want %d)", got, before)
		}
		s.Send(resolved(b, start.Add(time.Second)))
		synctest.Wait()
		if st := state(rcv.snapshot())["customer-lookup-fp1/warning"]; !st.EndsAt.Equal(start.Add(time.Second)) {
			t.Errorf("endsAt %v, want resolved at the last fingerprint's ends_at", st.EndsAt)
		}
		closeSink(t, s)
	})
}

func TestReceiverDownTenMinutesGetsEveryFiringAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		upAt := start.Add(10 * time.Minute)
		rcv := &receiver{status: func() int {
			if time.Now().Before(upAt) {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}}
		m := sink.NewMetrics(nil)
		s := newSynctestSink(t, handlerTransport{"am": rcv}, testConfig("http://am"), m)
		a, b, c := firing("a", "critical", start), firing("b", "warning", start), firing("c", "info", start)
		s.Send(a, b, c)
		time.Sleep(2 * time.Minute)
		cEnd := time.Now()
		s.Send(resolved(c, cEnd))
		time.Sleep(9 * time.Minute)
		synctest.Wait()
		var okPosts []post
		for _, p := range rcv.snapshot() {
			if !p.at.Before(upAt) {
				okPosts = append(okPosts, p)
			}
		}
		if len(okPosts) == 0 {
			t.Fatal("nothing delivered after the receiver came back")
		}
		first := okPosts[0]
		if first.at.Sub(upAt) > 30*time.Second {
			t.Errorf("first delivery %v after recovery, want within the max backoff", first.at.Sub(upAt))
		}
		st := state(okPosts)
		for _, fa := range []alert.Alert{a, b} {
			got, ok := st[fa.Tool+"/"+fa.Severity]
			if !ok || got.EndsAt.Before(upAt) {
				t.Errorf("still-firing %s not delivered as firing after recovery: %+v", fa.Fingerprint, got)
			}
		}
		if got := st[c.Tool+"/"+c.Severity]; !got.EndsAt.Equal(cEnd) {
			t.Errorf("resolved c: %+v, want endsAt %v", got, cEnd)
		}
		q := s.Queues()[0].Name()
		if testutil.ToFloat64(m.Failed.WithLabelValues(q)) == 0 {
			t.Error("failed_total should count batches given up during the outage")
		}
		closeSink(t, s)
	})
}

func TestDeadAlertmanagerDoesNotDelayAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		live := &receiver{}
		blocked := make(chan struct{})
		dead := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select { // hangs until the client's timeout or shutdown
			case <-r.Context().Done():
			case <-blocked:
			}
		})
		s := newSynctestSink(t, handlerTransport{"dead": dead, "live": live}, testConfig("http://dead", "http://live"), nil)
		start := time.Now()
		s.Send(firing("fp", "critical", start))
		synctest.Wait()
		if p := live.snapshot(); len(p) != 1 || !p[0].at.Equal(start) {
			t.Fatalf("live receiver posts %+v, want one at once", p)
		}
		close(blocked)
		closeSink(t, s)
	})
}
