package frequency

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// runJobPods replays days of a tool shared by twenty long-lived agents
// (each calling it about 6 times an hour, a tenth of that on the holiday,
// day 3) and a nightly job that runs at 02:00 each night as a new pod (a
// new agent id), calling the tool 60 times over 20 minutes: far more than
// an average agent, the tool's usual nightly work; catchUp multiplies the
// calls of the night after the holiday. loopDay ≥ 0 makes that night's
// pod loop: 20 times its calls.
func runJobPods(det detect.Detector, seed uint64, days, loopDay int, catchUp float64) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 33))
	type ev struct {
		at    int
		agent string
	}
	var queue []ev
	var out []detect.Finding
	var rec record.Record
	for sec := 0; sec < days*86400; sec++ {
		day := sec / 86400
		per := 6.0
		if day == 3 {
			per /= 10
		}
		for a := range 20 {
			if rng.Float64() < per/3600 {
				queue = append(queue, ev{sec, fmt.Sprintf("svc-%d", a)})
			}
		}
		if sec%86400 == 2*3600 {
			calls := 60
			if day == 4 {
				calls = int(60 * catchUp)
			}
			if day == loopDay {
				calls *= 20
			}
			for range calls {
				queue = append(queue, ev{sec + rng.IntN(1200), fmt.Sprintf("job-%d", day)})
			}
		}
		keep := queue[:0]
		for _, p := range queue {
			if p.at > sec {
				keep = append(keep, p)
				continue
			}
			rec = record.Record{Timestamp: base.Add(time.Duration(sec) * time.Second), AgentID: p.agent, Tool: record.Tool{Name: "http_post"}}
			rec.Invocation.InputHash = fmt.Sprintf("in-%d", rng.Uint64())
			out = det.Observe(&rec, out)
		}
		queue = keep
		if sec%10 == 0 {
			out = det.Tick(base.Add(time.Duration(sec)*time.Second), out)
		}
	}
	return out
}

// A key judged on its tool's per-agent baseline (a new pod of a nightly
// job, each night a new agent id) that does the tool's usual work — three
// times an average agent's calls, the tool as a whole at its own level —
// raises nothing from the second judged night on, also the night after
// the holiday (the pod's share of a night whose other agents were quiet
// the day before); a pod that loops (20 times the job's calls) is found
// (issue 9: freqtrace). Not claimed: the first judged night (job-1: the
// tool's 5m peak has seen one night, and its total can pass 1.5× it), and
// a catch-up of twice the job's calls the night after the holiday, which
// can still alert: the tool's own hour slot learned the quiet holiday.
func TestJobPodsDoTheirToolsWork(t *testing.T) {
	const days = 6
	for seed := uint64(1); seed <= 3; seed++ {
		for _, loopDay := range []int{-1, 5} {
			t.Run(fmt.Sprintf("seed %d loop day %d", seed, loopDay), func(t *testing.T) {
				d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
				found := false
				for _, f := range runJobPods(d, seed, days, loopDay, 1) {
					switch {
					case f.AgentID == fmt.Sprintf("job-%d", loopDay):
						found = true
					case f.AgentID == "job-1":
						t.Logf("first judged night, not claimed: %s %s %.1f: %s", f.AgentID, f.Detail, f.Score, f.Summary)
					case strings.HasPrefix(f.AgentID, "job-"):
						t.Errorf("false finding: %s %s %.1f at %v: %s (%v)", f.AgentID, f.Detail, f.Score, f.EventTime, f.Summary, f.Details["baseline"])
					}
				}
				if loopDay >= 0 && !found {
					t.Errorf("the looping pod job-%d was not found", loopDay)
				}
			})
		}
	}
}
