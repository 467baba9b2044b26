package denials

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// denied is one call of an analyst fleet: agent, task (trace), input and
// the permissions denied (none: a successful call).
type denied struct {
	agent, trace, input string
	perms               []string
}

// analysts replays days of a tool called by three long-lived analyst
// agents, ~40 tasks a day each of 1–6 calls, 4 % of calls denied
// "data_access:read_pii" (least privilege), each call its own input; then
// inject adds its calls at second sec. Tick every 10 s.
func analysts(d *Detector, seed uint64, days int, inject func(sec int, add func(denied))) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 9))
	var out []detect.Finding
	var rec record.Record
	task := 0
	add := func(sec int) func(denied) {
		return func(c denied) {
			rec = record.Record{Timestamp: base.Add(time.Duration(sec) * time.Second), AgentID: c.agent, TraceID: c.trace,
				Tool: record.Tool{Name: "sql_query"}}
			rec.Invocation.InputHash = c.input
			rec.Invocation.Status = record.StatusSuccess
			rec.Invocation.PermissionsUsed = []string{"data_access:read"}
			if len(c.perms) > 0 {
				rec.Invocation.Status, rec.Invocation.PermissionsDenied, rec.Invocation.PermissionsUsed = record.StatusDenied, c.perms, nil
			}
			rec.Context.Environment = "production"
			out = d.Observe(&rec, out)
		}
	}
	for sec := 0; sec < days*86400; sec++ {
		for a := range 3 {
			if rng.Float64() >= 40.0/86400 {
				continue
			}
			task++
			for n := 1 + rng.IntN(6); n > 0; n-- {
				c := denied{agent: fmt.Sprintf("analyst-%d", a), trace: fmt.Sprintf("task-%d", task), input: fmt.Sprintf("sha256:%x", rng.Uint64())}
				if rng.Float64() < 0.04 {
					c.perms = []string{"data_access:read_pii"}
				}
				add(sec)(c)
			}
		}
		if inject != nil {
			inject(sec, add(sec))
		}
		if sec%10 == 0 {
			out = d.Tick(base.Add(time.Duration(sec)*time.Second), out)
		}
	}
	return out
}

// busy adds agent's tasks at perDay (1–6 calls, 4 % denied, each call its
// own input) from second from on.
func busy(agent string, from int, perDay float64) func(int, func(denied)) {
	rng := rand.New(rand.NewPCG(5, 5))
	return func(sec int, add func(denied)) {
		if sec < from || rng.Float64() >= perDay/86400 {
			return
		}
		trace := fmt.Sprintf("task-%s-%d", agent, sec)
		for n := 1 + rng.IntN(6); n > 0; n-- {
			c := denied{agent: agent, trace: trace, input: fmt.Sprintf("sha256:%x", rng.Uint64())}
			if rng.Float64() < 0.04 {
				c.perms = []string{"data_access:read_pii"}
			}
			add(c)
		}
	}
}

// TestDenialClasses: what a fleet's denials look like, per class, and
// whether each raises a finding. A verbatim retry of a denied call is one
// denial (retry_window); distinct denied calls, in one task or many, count
// each; a first-seen dangerous type alerts however often it is retried.
func TestDenialClasses(t *testing.T) {
	const at = 3*86400 + 12*3600 // day 3, 12:00
	pii := []string{"data_access:read_pii"}
	loop := func(agent string, tries int, perms []string) func(int, func(denied)) {
		return func(sec int, add func(denied)) {
			if sec >= at && sec < at+tries {
				add(denied{agent: agent, trace: "task-loop", input: "sha256:same", perms: perms})
			}
		}
	}
	tests := []struct {
		name        string
		retryWindow time.Duration
		inject      func(int, func(denied))
		want        string // finding Detail expected from the injected agent; "" none
	}{
		// An LLM agent re-sends a denied query 20 times, a second apart.
		{"retry burst, own baseline", 10 * time.Minute, loop("analyst-1", 20, pii), ""},
		{"retry burst, folding off", 0, loop("analyst-1", 20, pii), "spike"},
		// An autoscaled instance, minutes old, judged on its tool's
		// borrowed baseline, retries its first denied query.
		{"retry burst, young autoscaled key", 10 * time.Minute, loop("analyst-7f3a2c", 20, pii), ""},
		// An autoscaled instance takes over a big share of the pool's work
		// (10× an analyst's tasks) from its first minute, denied at the
		// same routine 4 %: judged on the borrowed baseline while young.
		{"routine denials on a busy young autoscaled key", 10 * time.Minute, busy("analyst-c46565", at, 400), ""},
		// 20 different queries denied in one task within 5 minutes.
		{"distinct denials in one task", 10 * time.Minute, func(sec int, add func(denied)) {
			if sec >= at && sec < at+300 && (sec-at)%15 == 0 {
				add(denied{agent: "analyst-1", trace: "task-probe", input: fmt.Sprintf("sha256:probe%d", sec), perms: pii})
			}
		}, "spike"},
		// A type the tool was never denied, retried: one finding.
		{"new dangerous type, retried", 10 * time.Minute, loop("analyst-2", 5, []string{"code_execution:exec"}), "new:code_execution"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.RetryWindow = tc.retryWindow
			d := newDetector(t, cfg, baseline.DefaultConfig())
			got := analysts(d, 1, 4, tc.inject)
			n := 0
			for _, f := range got {
				if tc.want != "" && f.Detail == tc.want && f.EventTime.Unix()-base.Unix() >= at {
					n++
					t.Logf("%s %.1f: %s", f.Detail, f.Score, f.Summary)
					continue
				}
				t.Errorf("false finding: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
			}
			if tc.want != "" && n == 0 {
				t.Errorf("no %s finding", tc.want)
			}
			if tc.want == "new:code_execution" && n != 1 {
				t.Errorf("%d findings of the new type, want 1", n)
			}
		})
	}
}

// A retry after a restore is folded as it would have been without one: the
// last denied call is part of the snapshot.
func TestRetryFoldsAcrossRestore(t *testing.T) {
	var rec record.Record
	observe := func(d *Detector, sec int) {
		rec = record.Record{Timestamp: base.Add(time.Duration(sec) * time.Second), AgentID: "a", TraceID: "task-1", Tool: record.Tool{Name: "db"}}
		rec.Invocation.InputHash, rec.Invocation.Status = "sha256:x", record.StatusDenied
		rec.Invocation.PermissionsDenied = []string{"data_access:read_pii"}
		d.Observe(&rec, nil)
	}
	count := func(d *Detector) uint32 { // denials in the current 5m window
		return d.keys.Peek(baseline.Key{Agent: "a", Tool: "db"}).full.N
	}
	for _, tc := range []struct {
		name    string
		restore bool
	}{{"continued", false}, {"restored", true}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			observe(d, 100)
			if tc.restore {
				data, err := d.MarshalState(nil)
				if err != nil {
					t.Fatal(err)
				}
				d = newDetector(t, DefaultConfig(), baseline.DefaultConfig())
				if err := d.UnmarshalState(data); err != nil {
					t.Fatal(err)
				}
			}
			observe(d, 101) // the retry: folded
			if n := count(d); n != 1 {
				t.Fatalf("%d denials counted after a retry, want 1", n)
			}
			observe(d, 100+11*60) // past retry_window of the first try, in a later window: counted
			if n := count(d); n != 1 {
				t.Fatalf("%d denials counted after a try past the retry window, want 1", n)
			}
		})
	}
}
