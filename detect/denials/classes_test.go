package denials

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// routine replays days of an agent calling a tool 200 times a day and
// being denied one permission a few times a day at random times (now and
// then retried verbatim), in env; from..to (seconds) the denial rate is
// multiplied by mult. A second key of the same tool is never denied.
func routine(d *Detector, seed uint64, days int, env string, from, to int, mult float64) []detect.Finding {
	if mult <= 1 {
		from, to = 0, 0
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []detect.Finding
	var rec record.Record
	const perDay, deniedPerDay = 200.0, 4.0
	for sec := 0; sec < days*86400; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		add := func(agent string, denied bool) {
			// Each second's call is its own task; a retry repeats it.
			rec = record.Record{Timestamp: ts, AgentID: agent, TraceID: fmt.Sprintf("task-%d", sec), Tool: record.Tool{Name: "k8s"}}
			rec.Invocation.InputHash = fmt.Sprintf("sha256:%s-%d", agent, sec)
			rec.Context.Environment = env
			rec.Invocation.Status = record.StatusSuccess
			if denied {
				rec.Invocation.Status = record.StatusDenied
				rec.Invocation.PermissionsDenied = []string{"secrets:read"}
			}
			out = d.Observe(&rec, out)
		}
		if rng.Float64() < perDay/86400 {
			add("deploy-bot", false)
		}
		if rng.Float64() < perDay/86400 {
			add("ci-bot", false)
		}
		// The spike adds (mult-1) x the routine rate as a regular train, so
		// its size does not depend on the seed.
		extra := sec >= from && sec < to && (sec-from)%int(86400/(deniedPerDay*(mult-1))) == 0
		if rng.Float64() < deniedPerDay/86400 || extra {
			add("deploy-bot", true)
			if rng.Float64() < 0.3 {
				add("deploy-bot", true) // a retry
			}
		}
		if sec%10 == 0 {
			out = d.Tick(ts, out)
		}

	}
	return out
}

func TestRoutineDenials(t *testing.T) {
	const days = 4
	day3 := 3 * 86400
	tests := []struct {
		name      string
		seed      uint64
		env       string
		mult      float64
		wantAlert bool
	}{
		// The same permission denied a few times a day, every day: not an
		// alert in production (the old "any production denial" rule is gone).
		{"routine production denials", 1, "production", 1, false},
		{"routine production denials, seed 2", 2, "production", 1, false},
		{"routine development denials", 3, "development", 1, false},
		// x20 of the routine type for 6 hours in development: judged
		// against the key's own denial baseline.
		{"x20 spike in development", 4, "development", 20, true},
		{"x20 spike in production", 5, "production", 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			from, to := day3+6*3600, day3+12*3600
			got := routine(d, tc.seed, days, tc.env, from, to, tc.mult)
			found := false
			perDay := map[[2]int]int{}
			most := 0
			for _, f := range got {
				sec := int(f.EventTime.Sub(base) / time.Second)
				k := [2]int{int(math.Min(float64(len(f.Detail)), 1)), sec / 86400}
				perDay[k]++
				most = max(most, perDay[k])
				if tc.wantAlert && f.Detail == "spike" && f.AgentID == "deploy-bot" && sec >= from && sec < to {
					found = true
					continue
				}
				t.Errorf("false finding: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
			}
			if tc.wantAlert && !found {
				t.Error("x20 spike not detected")
			}
			for _, f := range got {
				t.Logf("%s %.1f %v %s", f.Detail, f.Score, f.EventTime, f.Summary)
			}
			t.Logf("%d findings; most by one key in a day: %d", len(got), most)
			if most > 3 {
				t.Errorf("%d findings by one key in a day", most)
			}
			ks := d.keys.Peek(baseline.Key{Agent: "deploy-bot", Tool: "k8s"})
			if ks == nil {
				t.Fatal("deploy-bot's key missing")
			}
			if r := ks.rate(); !r.Warm(&ks.t.rule) || r.Sc[2].Mean <= 0 {
				t.Fatalf("deploy-bot's denial baseline not learned: %+v", ks)
			}
		})
	}
}
