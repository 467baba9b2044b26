package frequency

import (
	"flag"
	"fmt"
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenStart and the stream below define testdata/frequency-state.v*.bin:
// 3 agents × 2 tools, one call every 20 s in turn for 3 hours (one call
// per key per 2 minutes, 90 per key), input hash "h<i mod 4>", a tick
// every minute. From version 4 on the warm-up is 1h, so the keys' windows
// are armed and their sustained-rise statistics non-zero; from version 5
// on the calls carry trace ids "tr<i/12>" (each trace 12 calls in a
// row: 2 of each of the 6 keys), so the keys' task rings and task
// series are filled.
var goldenStart = time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)

func goldenState(t testing.TB) *Detector {
	cfg := DefaultConfig()
	cfg.Warmup = time.Hour
	d := newDetector(t, cfg, baseline.DefaultConfig())
	var r record.Record
	for i := range 540 {
		ts := goldenStart.Add(time.Duration(i) * 20 * time.Second)
		r = record.Record{Timestamp: ts, AgentID: fmt.Sprintf("a%d", i%3), Tool: record.Tool{Name: []string{"t-a", "t-b"}[(i/3)%2]}}
		r.Invocation.InputHash = fmt.Sprintf("h%d", i%4)
		r.TraceID = fmt.Sprintf("tr%d", i/12)
		r.Context.Environment = "production"
		d.Observe(&r, nil)
		if i%3 == 2 {
			d.Tick(ts, nil)
		}
	}
	return d
}

// The golden records decode to the stream's keys and counts and re-encode
// byte for byte; the live types the record copies keep their field counts.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[keyState](), 15)  // 14 in the record; agent is a lookup cache
	enctest.Fields(t, reflect.TypeFor[taskState](), 20) // 23 in the record: riseState's 4 embedded
	enctest.Fields(t, reflect.TypeFor[riseState](), 4)
	enctest.Fields(t, reflect.TypeFor[toolState](), 5)
	enctest.Fields(t, reflect.TypeFor[agentState](), 13)
	enctest.Fields(t, reflect.TypeFor[loopState](), 14)
	enctest.Fields(t, reflect.TypeFor[gapState](), 6)
	enctest.Fields(t, reflect.TypeFor[baseline.Rate](), 16)
	enctest.Fields(t, reflect.TypeFor[baseline.ScaleStats](), 11)
	enctest.Fields(t, reflect.TypeFor[baseline.Profile](), 5)
	enctest.Golden{
		Name: "frequency-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte { return detecttest.MustMarshal(t, goldenState(t)) },
		Restore: func(t testing.TB, version uint64, data []byte) []byte {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			again := detecttest.Restore(t, d, data)
			var keys []string
			d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
				keys = append(keys, k.Agent+"/"+k.Tool)
				// Version 3 had no rise state (restored as none); the
				// steady stream keeps R below 1: a small statistic and
				// no episode (version 4, see TestStateGoldenRise).
				if l := ks.rise.l; (version < 4 && l != 0) || l > math.Ln2 || ks.riseN != 0 || ks.rise.obs != 0 {
					t.Errorf("key %s: version %d rise %+v, %d windows", k, version, ks.rise, ks.riseN)
				}
				// 90 calls, one per 2 minutes: every 5-minute window of
				// the 3 hours saw 2 or 3 of them.
				if w := ks.rate.Profile.Windows; w < 35 || w > 36 || ks.rate.Sc[0].Mean < 2 || ks.rate.Sc[0].Mean > 3 {
					t.Errorf("key %s: %d windows, mean %v; want 35-36 windows of 2-3 calls", k, w, ks.rate.Sc[0].Mean)
				}
				if seen < goldenStart.Add(178*time.Minute).Unix() || ks.gap.lastAt != seen {
					t.Errorf("key %s: last seen %d, last call %d", k, seen, ks.gap.lastAt)
				}
				return true
			})
			if fmt.Sprint(keys) != "[a2/t-b a1/t-b a0/t-b a2/t-a a1/t-a a0/t-a]" { // newest first
				t.Errorf("keys in recency order %v", keys)
			}
			if ts := d.tools.Peek(baseline.Key{Tool: "t-a"}); ts == nil || ts.rate.Sc[0].Mean < 6 || ts.rate.Sc[0].Mean > 9 {
				t.Errorf("tool t-a: %+v", ts)
			}
			n := 0
			d.agents.RangeSeen(func(k baseline.Key, _ int64, as *agentState) bool {
				n++
				if as.total < 36 || as.total > 37 {
					t.Errorf("agent %s: %d active windows, want 36-37", k.Agent, as.total)
				}
				// Version 6 added the agents' task starts (restored as none
				// before; see TestStateGoldenAgentTasks).
				if version < 6 && (as.tobs != 0 || as.texp != 0 || as.ptobs != 0 || as.ptexp != 0) {
					t.Errorf("agent %s: version %d task starts %+v", k.Agent, version, as)
				}
				return true
			})
			if n != 3 || d.tickedAt != goldenStart.Add(539*20*time.Second).Unix() {
				t.Errorf("%d agents, ticked at %d", n, d.tickedAt)
			}
			return again
		},
	}.Run(t, *update)
}

// The version 4 golden file holds armed, non-zero sustained-rise state and
// the keys' levels
// (the Restore check above also accepts the zero state of an upgraded
// version 3 record).
func TestStateGoldenRise(t *testing.T) {
	for _, k := range goldenKeys(t, 4) {
		if r := k.Rise; r.L <= 0 || r.L > math.Ln2 || r.Thr == 0 {
			t.Errorf("key %s/%s: rise %+v, want an armed small statistic", k.Agent, k.Tool, r)
		}
		if r := k.Rise; r.Level <= 0 || r.Deficit != 0 {
			t.Errorf("key %s/%s: rise %+v, want a level and no idle deficit (never quiet)", k.Agent, k.Tool, r)
		}
	}
}

// The version 5 golden file holds each key's task series: a full ring of
// trace hashes, one task start per 2 calls, an armed threshold.
func TestStateGoldenTask(t *testing.T) {
	for _, k := range goldenKeys(t, 5) {
		tk := k.Task
		for _, h := range tk.Ring {
			if h == 0 {
				t.Errorf("key %s/%s: task ring %v, want 8 traces", k.Agent, k.Tool, tk.Ring)
			}
		}
		if rho := tk.EwT / tk.EwN; rho < 0.45 || rho > 0.55 || tk.Thr == 0 {
			t.Errorf("key %s/%s: task series %+v: want 1 task per 2 calls and an armed threshold", k.Agent, k.Tool, tk)
		}
	}
}

// The version 6 golden file holds each key's task starts of its last
// closed window and each agent's judged task starts and expectations (the
// steady stream: its factor stays 1).
func TestStateGoldenAgentTasks(t *testing.T) {
	for _, k := range goldenKeys(t, 6) {
		if k.Task.Prev == 0 || k.Task.Factor != 0 {
			t.Errorf("key %s/%s: task series %+v: want last window's task starts and factor 1", k.Agent, k.Tool, k.Task)
		}
	}
	st := goldenRecord(t, 6)
	for _, a := range st.Agents {
		if a.TaskObs == 0 || a.PrevTaskObs == 0 || !(a.PrevTaskExp > 0) || a.PrevTaskObs >= a.PrevObs {
			t.Errorf("agent %s: %+v: want task starts (fewer than calls) and their expectation", a.Agent, a)
		}
	}
}

// The version 7 and 8 golden files hold each key's calls per task: every
// trace calls each key twice, so the completed tasks' mean and peak are 2,
// the ring's traces have 1 or 2 calls and the alarm count is armed.
func TestStateGoldenTaskCalls(t *testing.T) {
	for _, k := range append(goldenKeys(t, 7), goldenKeys(t, 8)...) {
		tk := k.Task
		if tk.CallsMean < 1.99 || tk.CallsMean > 2.01 || tk.CallsPeak < 1.99 || tk.CallsPeak > 2.01 || tk.CallsSeen < callsWarm || tk.CallsThr == 0 {
			t.Errorf("key %s/%s: calls per task %+v: want mean and peak 2 and an armed alarm count", k.Agent, k.Tool, tk)
		}
		for _, c := range tk.Calls {
			if c < 1 || c > 2 {
				t.Errorf("key %s/%s: ring calls %v, want 1 or 2 each", k.Agent, k.Tool, tk.Calls)
				break
			}
		}
	}
}

// goldenKeys are the keys of golden file
// testdata/frequency-state.v<version>.bin.
func goldenKeys(t *testing.T, version int) []KeyV4 {
	t.Helper()
	return goldenRecord(t, version).Keys
}

// goldenRecord is golden file testdata/frequency-state.v<version>.bin.
func goldenRecord(t *testing.T, version int) StateV4 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("testdata/frequency-state.v%d.bin", version))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := stateDecoders.Decode("frequency state", data)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The version 9 golden file holds each tool's per-key peaks: one key of
// each tool makes 2–3 calls a window, 30 an hour.
func TestStateGoldenInstances(t *testing.T) {
	st := goldenRecord(t, 9)
	if len(st.Tools) != 2 {
		t.Fatalf("%d tools, want 2", len(st.Tools))
	}
	for _, tl := range st.Tools {
		if p := tl.InstPeak; p[0] < 2 || p[0] > 3 || p[1] < 25 || p[1] > 31 {
			t.Errorf("tool %s: per-key peaks %v, want 2–3 a window and about 30 an hour", tl.Tool, p)
		}
	}
}

// The version 11 golden file holds each key's excess guard: a filled
// expectation sum (the stream's ~1.25 task starts a window, 12 windows)
// and an excess peak learned from its own warm windows that stays small (a
// steady stream: its sum never runs far above its expectation). A version
// 10 record restores with the excess peak at its sum's peak (as strong a
// guard as before) and no expectation sum.
func TestStateGoldenExcess(t *testing.T) {
	for _, k := range goldenKeys(t, 11) {
		if tk := k.Task; tk.ExpSum < 5 || tk.ExpSum > 30 || tk.ExcessPeak < 0 || tk.ExcessPeak >= tk.Peak {
			t.Errorf("key %s/%s: expectation sum %v, excess peak %v (sum's peak %v): want a filled sum and a small excess",
				k.Agent, k.Tool, tk.ExpSum, tk.ExcessPeak, tk.Peak)
		}
	}
	for _, k := range goldenKeys(t, 10) {
		if tk := k.Task; tk.ExpSum != 0 || tk.ExcessPeak != tk.Peak || tk.Peak == 0 {
			t.Errorf("key %s/%s: version 10 upgraded to expectation sum %v, excess peak %v; want 0 and the sum's peak %v",
				k.Agent, k.Tool, tk.ExpSum, tk.ExcessPeak, tk.Peak)
		}
	}
}
