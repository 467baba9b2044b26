package frequency

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// eager is the detector with the tick every key used to get: each tick
// rolls every key's windows and checks every key for a drop. The lazy
// Tick must report exactly what it reports.
type eager struct{ *Detector }

// ticked is d under lazy ticks (d itself) or under eager ones.
func ticked(d *Detector, lazy bool) detect.Detector {
	if lazy {
		return d
	}
	return eager{d}
}

func (e eager) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	d := e.Detector
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	d.ticked, d.tickedAt = step, wm // tickedAt: only so snapshots compare equal
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	d.agents.Sweep(watermark)
	n0 := len(out)
	d.keys.Range(func(k baseline.Key, ks *keyState) bool {
		if !d.tn.Current(ks.gen) {
			d.resolve(ks, k.Agent, k.Tool)
		}
		if ks.t.cfg.Enabled && ks.rate.Start != 0 {
			ks.roll(wm)
			ks.rollLoop(wm)
			out = d.dropCheck(k, ks, wm, out)
		}
		return true
	})
	slices.SortFunc(out[n0:], func(a, b detect.Finding) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Tool, b.Tool))
	})
	d.tickTools(wm)
	return out
}

// lazyMatchesEager replays a stream under lazy ticks and under eager ones
// (run: the stream through det, which is d or its eager twin), ticks d to
// end, and fails unless the eager findings hold one that want accepts
// (what names it: the stream exercises what it should) and both runs give
// the same findings and the same snapshot.
func lazyMatchesEager(t *testing.T, end time.Time, run func(d *Detector, det detect.Detector) []detect.Finding,
	what string, want func(detect.Finding) bool) {
	t.Helper()
	replay := func(lazy bool) ([]detect.Finding, []byte) {
		d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
		det := ticked(d, lazy)
		out := run(d, det)
		d.Tick(end, nil)
		return out, detecttest.MustMarshal(t, d)
	}
	got, gotSnap := replay(true)
	wantF, wantSnap := replay(false)
	if !slices.ContainsFunc(wantF, want) {
		t.Fatalf("no %s in the stream: %d findings", what, len(wantF))
	}
	if !reflect.DeepEqual(got, wantF) {
		t.Fatalf("lazy findings differ from eager:\n got %+v\nwant %+v", got, wantF)
	}
	if !bytes.Equal(gotSnap, wantSnap) {
		t.Fatal("lazy snapshot differs from eager")
	}
}

// Lazy ticks (due keys only, catch-up on the next record, drop index per
// agent) report exactly the findings of eager ticks, through drops, loops,
// spikes, a sustained rise, a reload that changes thresholds and the loop
// window of one tool, and (lazy side only) a snapshot round trip.
func TestLazyTicksMatchEager(t *testing.T) {
	run := func(lazy bool) ([]detect.Finding, []byte) {
		cfg := DefaultConfig()
		d := newDetector(t, cfg, baseline.DefaultConfig())
		det := ticked(d, lazy)
		reload := detect.NewParams(cfg)
		c2 := cfg
		c2.FalseAlarmRate, c2.LoopMinCalls = cfg.FalseAlarmRate*10, cfg.LoopMinCalls/2
		reload.Base = c2
		c3 := c2
		c3.LoopWindow = 2 * cfg.LoopWindow
		reload.Rules = []detect.Rule[Config]{{Tool: "search", Config: c3}}
		for _, c := range []Config{c2, c3} {
			if es := c.Validate(); len(es) > 0 {
				t.Fatalf("reload config: %v", es)
			}
		}
		out := stream(det, 80, func(sec int, add func(call)) {
			switch {
			case sec == 55*3600+7:
				d.SetParams(reload)
			case sec == 60*3600+3 && lazy:
				if err := d.UnmarshalState(detecttest.MustMarshal(t, d)); err != nil {
					t.Fatal(err)
				}
			}
			h := sec / 3600
			if sec >= 59*3600+1800 && sec < 60*3600+900 && sec%20 == 0 { // x4 for 45 minutes, across the snapshot
				add(call{"agent-a", "db-query", hashes[sec%11]})
			}
			if h == 40 && sec%3600 < 600 { // loop, then quiet
				add(call{"agent-b", "search", "sha256:stuck"})
			}
			if h >= 30 && sec%20 == 0 { // agent-d works on two tools, then drops one
				add(call{"agent-d", "db-query", hashes[sec%7]})
				if h < 62 || h >= 70 {
					add(call{"agent-d", "search", hashes[sec%5]})
				}
			}
		})
		return out, detecttest.MustMarshal(t, d)
	}
	want, wantSnap := run(false)
	got, gotSnap := run(true)
	details := map[string]int{}
	for _, f := range want {
		details[f.Detail]++
	}
	if details["drop"] == 0 || details["loop"] == 0 || details["spike"] == 0 || details["sustained_rise"] == 0 {
		t.Fatalf("the stream does not exercise every finding: %v", details)
	}
	if !reflect.DeepEqual(got, want) {
		n := min(len(got), len(want))
		for i := range n {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("finding %d of %d/%d differs:\nlazy  %+v\neager %+v", i, len(got), len(want), got[i], want[i])
			}
		}
		t.Fatalf("lazy %d findings, eager %d", len(got), len(want))
	}
	// Every key's state, brought to the last tick, equals the eager one.
	if !bytes.Equal(gotSnap, wantSnap) {
		t.Fatalf("lazy state differs from eager state (snapshots of %d and %d bytes)", len(gotSnap), len(wantSnap))
	}
	t.Logf("%d findings equal: %v", len(want), details)
}

// rollLoopTicks leaves a key's loop window exactly as rollLoop at each
// watermark does: ticks inside the window, at the next window, skipping
// windows, before and after the key's own window closes, armed or not.
func TestRollLoopTicksMatchesRollLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, loop := range []time.Duration{time.Second, time.Minute, 2 * time.Minute} {
		cfg := DefaultConfig()
		cfg.LoopWindow = loop
		tu := newTuned(&cfg)
		for i := range 500 {
			var ks keyState
			ks.t = tu
			ks.loop.peak = float32([]float64{0, 1, 2.5, 40, 1e6}[rng.IntN(5)] * rng.Float64())
			if rng.IntN(2) == 0 {
				ks.loop.thr = uint32(1 + rng.IntN(20))
			}
			t0 := int64(1_700_000_000 + rng.IntN(86400))
			if i%5 > 0 {
				ks.rollLoop(t0)
				for range rng.IntN(30) {
					ks.loop.top.Add(uint64(1 + rng.IntN(3)))
				}
			}
			wms := make([]int64, rng.IntN(300))
			wm := t0
			for j := range wms {
				switch rng.IntN(10) {
				case 0:
					wm += int64(rng.IntN(20)) * tu.loopSize // skips windows
				case 1:
					wm += 1 // inside the window
				default:
					wm += tu.loopSize
				}
				wms[j] = wm
			}
			want := ks
			for _, wm := range wms {
				want.rollLoop(wm)
			}
			ks.rollLoopTicks(wms)
			if ks.loop != want.loop || math.Float32bits(ks.loop.peak) != math.Float32bits(want.loop.peak) {
				t.Fatalf("loop %v case %d: %+v, rollLoop per tick %+v", loop, i, ks.loop, want.loop)
			}
		}
	}
}

// A reload that lowers the drop threshold makes a key's drop due at once
// (its agent's count is already past it): the tick after the reload must
// report it, as an eager tick checking every key does, although the
// agent's count did not grow.
func TestReloadDropDueAtOnce(t *testing.T) {
	run := func(lazy bool) []detect.Finding {
		strict := DefaultConfig()
		strict.FalseAlarmRate = 1e-15
		if es := strict.Validate(); len(es) > 0 {
			t.Fatalf("strict config: %v", es)
		}
		d := newDetector(t, strict, baseline.DefaultConfig())
		det := ticked(d, lazy)
		return stream(det, 70, func(sec int, add func(call)) {
			if sec == 63*3600+605 {
				d.SetParams(detect.NewParams(DefaultConfig()))
			}
			if h := sec / 3600; h >= 30 && sec%20 == 0 {
				add(call{"agent-d", "db-query", hashes[sec%7]})
				if h < 62 {
					add(call{"agent-d", "search", hashes[sec%5]})
				}
			}
		})
	}
	want, got := run(false), run(true)
	var drops []detect.Finding
	for _, f := range want {
		if f.Detail == "drop" {
			drops = append(drops, f)
		}
	}
	reload := base.Add((63*3600 + 605) * time.Second)
	if len(drops) != 1 || drops[0].EventTime.Before(reload) || drops[0].EventTime.After(reload.Add(time.Minute)) {
		t.Fatalf("want one drop just after the reload at %s, eager ticks found %+v", reload, drops)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lazy findings differ from eager ones:\nlazy  %+v\neager %+v", got, want)
	}
}
