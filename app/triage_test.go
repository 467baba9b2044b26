package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/egress"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
)

const (
	payee    = "account:00000000000000000000000000000001"
	attacker = "account:00000000000000000000000000000bad"
)

// flaggedDetector has learned one payee and flagged the attacker's.
func flaggedDetector(t *testing.T) *egress.Detector {
	c := egress.DefaultConfig()
	c.WarmupCalls, c.WarmupAge = 50, 0
	d := egress.New(detect.NewParams(c), baseline.Config{MaxKeys: 10, IdleTTL: time.Hour})
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := func(i int, task string, dests, outs []string) *record.Record {
		return &record.Record{TraceID: task, SpanID: fmt.Sprint(i), Timestamp: at.Add(time.Duration(i) * time.Second), AgentID: "a",
			Tool:       record.Tool{Name: "send_money"},
			Invocation: record.Invocation{Status: "success", Destinations: dests, OutputDestinations: outs},
			Context:    record.Context{TaskID: task}}
	}
	for i := range 100 {
		d.Observe(rec(i, fmt.Sprint(i), []string{payee}, nil), nil)
	}
	d.Observe(rec(200, "x", nil, []string{attacker}), nil)
	if fs := d.Observe(rec(201, "x", []string{attacker}, nil), nil); len(fs) != 1 {
		t.Fatalf("setup: %d findings", len(fs))
	}
	return d
}

// TestTriageEndpoint drives GET and POST /api/egress/triage through a
// worker loop that applies queued requests, as the worker goroutine does
// between records.
func TestTriageEndpoint(t *testing.T) {
	d := flaggedDetector(t)
	w := &worker{queries: make(chan baselinesQuery), triage: make(chan triageRequest), egress: func() *egress.Detector { return d }}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				w.answerBaselines() // serves the triage queue too
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for _, lc := range []bool{false, true} {
		mux := http.NewServeMux()
		w.mountTriage(mux, lc)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		do := func(method, body string, hdr ...string) (int, string) {
			req, _ := http.NewRequest(method, srv.URL+"/api/egress/triage", strings.NewReader(body))
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := do("GET", "")
		var a triageAnswer
		if err := json.Unmarshal([]byte(body), &a); code != 200 || err != nil || len(a.Entries) != 1 || a.Entries[0].Destination != attacker {
			t.Fatalf("GET: %d %s", code, body)
		}
		accept := `{"action":"accept","tool":"send_money","destination":"` + attacker + `"}`
		if !lc {
			if code, _ := do("POST", accept, "Content-Type", "application/json"); code != http.StatusForbidden {
				t.Fatalf("POST without enable_lifecycle: %d", code)
			}
			continue
		}
		if code, _ := do("POST", accept, "Content-Type", "text/plain"); code != http.StatusForbidden {
			t.Fatalf("form-like POST: %d", code)
		}
		for _, bad := range []string{`{"action":"maybe","tool":"send_money","destination":"` + attacker + `"}`,
			`{"action":"accept","tool":"send_money","destination":"alice@example.com"}`, `[1]`} {
			if code, body := do("POST", bad, "Content-Type", "application/json"); code != http.StatusBadRequest {
				t.Fatalf("POST %s: %d %s", bad, code, body)
			}
		}
		if code, _ := do("PUT", accept); code != http.StatusMethodNotAllowed {
			t.Fatalf("PUT: %d", code)
		}
		code, body = do("POST", accept, "X-Requested-By", "test")
		if err := json.Unmarshal([]byte(body), &a); code != 200 || err != nil || len(a.Entries) != 0 {
			t.Fatalf("accept: %d %s", code, body)
		}
	}
	// Without the detector (on by default): 404.
	off, err := config.Parse([]byte("detectors:\n  egress:\n    enabled: false\n"), "off.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w2 := &worker{p: pipeline.New(off, time.Now), triage: make(chan triageRequest, 1)}
	mux := http.NewServeMux()
	w2.mountTriage(mux, true)
	go func() {
		for range 100 {
			w2.answerTriage()
			time.Sleep(time.Millisecond)
		}
	}()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/egress/triage", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("no egress detector: %d %s", rec.Code, rec.Body)
	}
}
