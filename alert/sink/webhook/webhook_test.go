package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// The Standard Webhooks reference test vector (libraries/go/webhook_test.go).
const (
	specSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS      = 1614265330
	specPayload = `{"test": 2432232314}`
	specSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecVector(t *testing.T) {
	key, err := ParseSecret([]byte(specSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, specID, time.Unix(specTS, 0), []byte(specPayload)); got != specSig {
		t.Errorf("Sign = %s, want %s", got, specSig)
	}
}

func specHeaders() http.Header {
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, strconv.Itoa(specTS))
	h.Set(HeaderSignature, specSig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(specTS, 0).Add(time.Minute)
	rawKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, SecretPrefix))
	tests := []struct {
		name      string
		secret    string
		mod       func(h http.Header)
		body      string
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{name: "valid", want: nil},
		{name: "raw key form", secret: string(rawKey), want: nil},
		{name: "several signatures one valid", mod: func(h http.Header) {
			h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc "+specSig)
		}},
		{name: "other version ignored", mod: func(h http.Header) { h.Set(HeaderSignature, strings.Replace(specSig, "v1,", "v1a,", 1)) }, want: ErrNoMatchingSignature},
		{name: "tampered body", body: `{"test": 2432232315}`, want: ErrNoMatchingSignature},
		{name: "wrong secret", secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-key-123")), want: ErrNoMatchingSignature},
		{name: "tampered id", mod: func(h http.Header) { h.Set(HeaderID, "msg_other") }, want: ErrNoMatchingSignature},
		{name: "missing id", mod: func(h http.Header) { h.Del(HeaderID) }, want: ErrMissingHeaders},
		{name: "missing signature", mod: func(h http.Header) { h.Del(HeaderSignature) }, want: ErrMissingHeaders},
		{name: "bad timestamp", mod: func(h http.Header) { h.Set(HeaderTimestamp, "yesterday") }, want: ErrInvalidTimestamp},
		{name: "too old", now: time.Unix(specTS, 0).Add(5*time.Minute + time.Second), want: ErrTimestampOutOfWindow},
		{name: "too new", now: time.Unix(specTS, 0).Add(-5*time.Minute - time.Second), want: ErrTimestampOutOfWindow},
		{name: "tolerance off", now: time.Unix(specTS, 0).Add(24 * time.Hour), tolerance: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret, body, tol, at := specSecret, specPayload, 5*time.Minute, now
			if tc.secret != "" {
				secret = tc.secret
			}
			if tc.body != "" {
				body = tc.body
			}
			if tc.tolerance != 0 {
				tol = tc.tolerance
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			h := specHeaders()
			if tc.mod != nil {
				tc.mod(h)
			}
			if err := Verify([]byte(secret), h, []byte(body), tol, at); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if err := Verify([]byte("whsec_%%%"), specHeaders(), []byte(specPayload), 0, now); err == nil {
		t.Error("bad whsec secret accepted")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(specID, strconv.Itoa(specTS), specSig, []byte(specPayload))
	f.Add("", "x", "v1,", []byte{})
	key, _ := ParseSecret([]byte(specSecret))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		_ = Verify([]byte(specSecret), h, body, 0, time.Unix(specTS, 0))
		// A signature made by Sign always verifies.
		if id == "" || strings.ContainsAny(id, "\r\n") {
			return
		}
		sec := time.Unix(specTS, 0)
		h.Set(HeaderTimestamp, strconv.FormatInt(sec.Unix(), 10))
		h.Set(HeaderSignature, Sign(key, h.Get(HeaderID), sec, body))
		if err := Verify([]byte(specSecret), h, body, time.Minute, sec); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}

const testSecret = "whsec_c2VjcmV0LWtleS1mb3ItdG9vbHdhdGNoLXRlc3Rz" // "secret-key-for-toolwatch-tests"

func testAlert(id string) alert.Alert {
	at := time.Date(2026, 3, 23, 14, 30, 0, 123000000, time.UTC)
	return alert.Alert{
		ID: id, Fingerprint: "f00d", Status: alert.StatusFiring, Pattern: "latency", Severity: "critical",
		Score: 91.5, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Observed: 30120, Expected: 210,
		Unit: "ms", Summary: "slow", EventTime: at, StartsAt: at, TraceID: "t", SpanID: "s",
	}
}

func testConfig(t *testing.T, urls ...string) sink.WebhookConfig {
	t.Helper()
	c := sink.DefaultConfig().Webhook
	c.Enabled, c.URLs = true, urls
	c.SecretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(c.SecretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// delivery is one request a receiver got, with the verification result.
type delivery struct {
	at          time.Time
	id, ts      string
	body        []byte
	verifyError error
}

type receiver struct {
	answer func(n int, w http.ResponseWriter) // n counts from 1
	mu     sync.Mutex
	got    []delivery
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := delivery{
		at: time.Now(), id: req.Header.Get(HeaderID), ts: req.Header.Get(HeaderTimestamp), body: body,
		verifyError: Verify([]byte(testSecret), req.Header, body, 5*time.Minute, time.Now()),
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	n := len(r.got)
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(n, w)
	}
}

func (r *receiver) snapshot() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

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

func TestDeliveryOverHTTPVerifies(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	d, err := New(testConfig(t, srv.URL+"/hook"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert("alert-1")
	d.Send(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := rcv.snapshot()
	if len(got) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(got))
	}
	want, _ := sink.MarshalAlert(a)
	if got[0].verifyError != nil || got[0].id != "alert-1" || string(got[0].body) != string(want) {
		t.Errorf("delivery %+v (body %s), want verified alert-1 with body %s", got[0], got[0].body, want)
	}
}

// run sends one alert through a webhook sink wired to rcv inside a
// synctest bubble and returns the deliveries and metrics.
func run(t *testing.T, rcv *receiver, maxRetries int, more ...alert.Alert) ([]delivery, *sink.Metrics, string) {
	t.Helper()
	var got []delivery
	m := sink.NewMetrics(nil)
	var name string
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t, "http://rcv/hook")
		cfg.MaxRetries = maxRetries
		d, err := New(cfg, Options{
			Client:  &http.Client{Transport: handlerTransport{"rcv": rcv}},
			Metrics: m,
			Queue:   sink.QueueOptions{Jitter: func() float64 { return 0 }},
		})
		if err != nil {
			t.Fatal(err)
		}
		name = d.Sinks()[0].Name()
		d.Send(testAlert("alert-1"))
		synctest.Wait()
		for _, a := range more {
			d.Send(a)
			synctest.Wait()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got = rcv.snapshot()
	})
	return got, m, name
}

func TestRetryThenDeliverKeepsID(t *testing.T) {
	rcv := &receiver{answer: func(n int, w http.ResponseWriter) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}}
	got, m, name := run(t, rcv, 5)
	if len(got) != 3 {
		t.Fatalf("deliveries = %d, want 500, 500, 200", len(got))
	}
	for i, d := range got {
		if d.id != "alert-1" || d.verifyError != nil {
			t.Errorf("attempt %d: id %q verify %v, want alert-1 and a valid signature", i, d.id, d.verifyError)
		}
	}
	// Backoff 250ms then 500ms (jitter 0), with fresh timestamps per attempt.
	if g1, g2 := got[1].at.Sub(got[0].at), got[2].at.Sub(got[1].at); g1 != 250*time.Millisecond || g2 != 500*time.Millisecond {
		t.Errorf("gaps %v %v, want 250ms 500ms", g1, g2)
	}
	if testutil.ToFloat64(m.Sent.WithLabelValues(name)) != 1 || testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 0 {
		t.Error("want sent_total 1, failed_total 0")
	}
}

func TestNoRetryOn400(t *testing.T) {
	rcv := &receiver{answer: func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) }}
	got, m, name := run(t, rcv, 5, testAlert("alert-2"))
	if len(got) != 2 || got[0].id != "alert-1" || got[1].id != "alert-2" {
		t.Fatalf("deliveries %+v, want one attempt per alert", got)
	}
	if testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 2 {
		t.Error("want failed_total 2")
	}
}

// A 410 pauses the URL: its alerts stay queued (never failed), nothing is
// sent until gone_retry_interval passes or Resume (a reload) is called,
// and a full queue drops its oldest, counted.
func TestGonePausesAndResumes(t *testing.T) {
	var gone sync.Mutex
	isGone := true
	rcv := &receiver{answer: func(_ int, w http.ResponseWriter) {
		gone.Lock()
		defer gone.Unlock()
		if isGone {
			w.WriteHeader(http.StatusGone)
		}
	}}
	m := sink.NewMetrics(nil)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t, "http://rcv/hook")
		cfg.QueueSize = 3
		cfg.MaxRetries = 1
		d, err := New(cfg, Options{
			Client:  &http.Client{Transport: handlerTransport{"rcv": rcv}},
			Metrics: m,
			Queue:   sink.QueueOptions{Jitter: func() float64 { return 0 }},
		})
		if err != nil {
			t.Fatal(err)
		}
		name := d.Sinks()[0].Name()
		start := time.Now()
		d.Send(testAlert("alert-1"))
		synctest.Wait()
		for _, id := range []string{"alert-2", "alert-3", "alert-4", "alert-5"} {
			d.Send(testAlert(id))
		}
		synctest.Wait()
		if got := len(rcv.snapshot()); got != 1 {
			t.Fatalf("%d deliveries while gone, want the first attempt only", got)
		}
		if testutil.ToFloat64(m.Paused.WithLabelValues(name)) != 1 || testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 0 {
			t.Error("want paused 1 and failed_total 0 while gone")
		}
		// alert-1 is held in flight; alert-2..5 in a queue of 3: alert-2 dropped.
		if testutil.ToFloat64(m.Dropped.WithLabelValues(name)) != 1 {
			t.Errorf("dropped_total %v, want 1", testutil.ToFloat64(m.Dropped.WithLabelValues(name)))
		}

		// The retry after gone_retry_interval is still 410: paused again.
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		got := rcv.snapshot()
		if len(got) != 2 || got[1].at.Sub(start) != time.Hour {
			t.Fatalf("deliveries %+v, want a second attempt after 1h", got)
		}

		// A reload resumes at once.
		gone.Lock()
		isGone = false
		gone.Unlock()
		d.Resume()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got = rcv.snapshot()
		var ids []string
		for _, g := range got[2:] {
			ids = append(ids, g.id)
		}
		if strings.Join(ids, ",") != "alert-1,alert-3,alert-4,alert-5" {
			t.Errorf("delivered after resume %v, want alert-1,alert-3,alert-4,alert-5", ids)
		}
		if testutil.ToFloat64(m.Sent.WithLabelValues(name)) != 4 || testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 0 ||
			testutil.ToFloat64(m.Paused.WithLabelValues(name)) != 0 {
			t.Error("want sent_total 4, failed_total 0, paused 0")
		}
	})
}

// Closing a paused sink counts what it held as dropped, without waiting.
func TestGoneCloseCountsDropped(t *testing.T) {
	rcv := &receiver{answer: func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }}
	got, m, name := run(t, rcv, 5, testAlert("alert-2"))
	if len(got) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(got))
	}
	if testutil.ToFloat64(m.Dropped.WithLabelValues(name)) != 2 || testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 0 {
		t.Error("want dropped_total 2, failed_total 0")
	}
}

func TestMaxRetriesExhausted(t *testing.T) {
	rcv := &receiver{answer: func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }}
	got, m, name := run(t, rcv, 2)
	if len(got) != 3 {
		t.Fatalf("deliveries = %d, want 1 + max_retries(2)", len(got))
	}
	if testutil.ToFloat64(m.Failed.WithLabelValues(name)) != 1 {
		t.Error("want failed_total 1")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func(now time.Time) string
		want  time.Duration
	}{
		{"seconds", func(time.Time) string { return "120" }, 2 * time.Minute},
		{"http date", func(now time.Time) string { return now.Add(90 * time.Second).UTC().Format(http.TimeFormat) }, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.value(time.Now()))
					w.WriteHeader(http.StatusTooManyRequests)
				}
			}}
			got, _, _ := run(t, rcv, 5)
			if len(got) != 2 {
				t.Fatalf("deliveries = %d, want 2", len(got))
			}
			// HTTP dates have 1s resolution; the bubble starts on a whole second.
			if gap := got[1].at.Sub(got[0].at); gap != tc.want {
				t.Errorf("retried after %v, want Retry-After %v", gap, tc.want)
			}
			if got[1].ts == got[0].ts || got[1].verifyError != nil {
				t.Errorf("retry should be re-signed with a new timestamp: %+v", got)
			}
		})
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("TW_TEST_SECRET", "raw-secret-at-least-16-bytes")
	for _, tc := range []struct {
		name    string
		cfg     sink.WebhookConfig
		wantKey string
		wantErr string
	}{
		{"whsec file", sink.WebhookConfig{SecretFile: write("a", testSecret+"\n")}, "secret-key-for-toolwatch-tests", ""},
		{"raw env", sink.WebhookConfig{SecretEnv: "TW_TEST_SECRET"}, "raw-secret-at-least-16-bytes", ""},
		{"missing env", sink.WebhookConfig{SecretEnv: "TW_TEST_UNSET_SECRET"}, "", "not set"},
		{"missing file", sink.WebhookConfig{SecretFile: filepath.Join(dir, "nope")}, "", "no such file"},
		{"short", sink.WebhookConfig{SecretFile: write("b", "short")}, "", "at least 16"},
		{"bad base64", sink.WebhookConfig{SecretFile: write("c", "whsec_!!!")}, "", "not base64"},
		{"none", sink.WebhookConfig{}, "", "no secret_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := LoadSecret(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(key) != tc.wantKey {
				t.Fatalf("key %q err %v, want %q", key, err, tc.wantKey)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	a := testAlert("given")
	if MessageID(a) != "given" {
		t.Errorf("MessageID = %q, want the alert id", MessageID(a))
	}
	a.ID = ""
	fire := MessageID(a)
	a.Status = alert.StatusResolved
	if fire == "" || fire == MessageID(a) || fire != "f00d-firing-"+strconv.FormatInt(a.StartsAt.UnixNano(), 10) {
		t.Errorf("derived ids %q / %q: want stable and distinct per status", fire, MessageID(a))
	}
}
