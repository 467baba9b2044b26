package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/pipeline"
)

type baselinesBody struct {
	Watermark time.Time         `json:"watermark"`
	Matched   int               `json:"matched"`
	Baselines []detect.Baseline `json:"baselines"`
}

func getBaselines(t *testing.T, addr, query string) (int, baselinesBody, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/baselines" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body baselinesBody
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	return resp.StatusCode, body, string(b)
}

// On a live daemon, GET /api/baselines for the key of a latency alert
// returns the numbers of the alert's details; the filters narrow the list
// and a bad glob is a 400.
func TestDaemonBaselinesEndpoint(t *testing.T) {
	info := daemon(t, Options{ConfigPath: fastIdleConfig(t)})
	p := newProducer(t, info.NATSURL)
	last := p.warmUp("support-agent-prod-01", "customer-lookup", 300)
	p.warmUp("billing-agent-prod-01", "web-search", 20)
	p.publish(last.Add(time.Second), "support-agent-prod-01", "customer-lookup", 30120)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, info.HTTPAddr, 321)
	st := getStatus(t, info.HTTPAddr)
	if len(st.Alerts) == 0 || st.Alerts[0].Pattern != "latency" {
		t.Fatalf("no latency alert: %+v", st.Alerts)
	}
	a := st.Alerts[0]
	scope, _ := a.Details["baseline_scope"].(string)
	agent := a.AgentID
	if scope == "tool" {
		agent = ""
	}

	code, body, raw := getBaselines(t, info.HTTPAddr, "?tool=customer-lookup&agent="+agent)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, raw)
	}
	var part map[string]any
	for _, b := range body.Baselines {
		if b.Tool != "customer-lookup" {
			t.Errorf("tool filter let %q through", b.Tool)
		}
		if b.Pattern == "latency" && b.Agent == agent {
			part = b.Parts[0].Values
			if b.JudgedBy != scope || !b.Warm {
				t.Errorf("judged_by %q warm %v, want %q and warm", b.JudgedBy, b.Warm, scope)
			}
		}
	}
	if part == nil {
		t.Fatalf("no latency baseline for customer-lookup/%q in %s", agent, raw)
	}
	n := 0
	for k, v := range a.Details {
		if k == "p_decades" || k == "status" || k == "egregious" || k == "egregious_bound" { // of the observation
			continue
		}
		n++
		if !reflect.DeepEqual(part[k], v) {
			t.Errorf("%s = %v in the alert, %v in /api/baselines", k, v, part[k])
		}
	}
	if n < 8 {
		t.Errorf("only %d details compared", n)
	}
	if body.Watermark.IsZero() {
		t.Error("no watermark")
	}

	// Filters: all keys, then one agent glob.
	_, all, _ := getBaselines(t, info.HTTPAddr, "")
	_, some, _ := getBaselines(t, info.HTTPAddr, "?agent=billing-*")
	if len(some.Baselines) == 0 || len(some.Baselines) >= len(all.Baselines) {
		t.Errorf("agent filter: %d of %d baselines", len(some.Baselines), len(all.Baselines))
	}
	for _, b := range some.Baselines {
		if !strings.HasPrefix(b.Agent, "billing-") {
			t.Errorf("agent filter let %q through", b.Agent)
		}
	}
	if all.Matched != len(all.Baselines) {
		t.Errorf("matched %d, returned %d", all.Matched, len(all.Baselines))
	}
	if _, two, _ := getBaselines(t, info.HTTPAddr, "?limit=2"); len(two.Baselines) != 2 || two.Matched != all.Matched {
		t.Errorf("limit 2: %d returned, %d matched of %d", len(two.Baselines), two.Matched, all.Matched)
	}
	for _, q := range []string{"?tool=%5B", "?limit=0", "?limit=x", "?limit=1001"} {
		if code, _, raw := getBaselines(t, info.HTTPAddr, q); code != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", q, code, raw)
		}
	}
	resp, err := http.Post("http://"+info.HTTPAddr+"/api/baselines", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// A worker that does not come round to the query (not consuming) answers
// 503 after baselinesWait instead of hanging.
func TestBaselinesEndpointTimesOut(t *testing.T) {
	old := baselinesWait
	baselinesWait = 50 * time.Millisecond
	t.Cleanup(func() { baselinesWait = old })
	w := &worker{p: pipeline.New(config.Default(), time.Now), queries: make(chan baselinesQuery)}
	mux := http.NewServeMux()
	w.mountBaselines(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/baselines", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d %q, want 503", rec.Code, rec.Body.String())
	}
}
