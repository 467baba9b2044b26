package denials

import (
	"bytes"
	"cmp"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// eager is the detector with the tick every key used to get: each tick
// rolls every key's windows.
type eager struct{ *Detector }

func (e eager) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	d := e.Detector
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	d.ticked, d.tickedAt = step, wm
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	n0 := len(out)
	d.keys.Range(func(k baseline.Key, ks *keyState) bool {
		if !d.tn.Current(ks.gen) {
			d.resolve(ks, k.Agent, k.Tool)
		}
		if ks.t.cfg.Enabled {
			ks.update(func(r *baseline.Rate) {
				if r.Start != 0 {
					r.Roll(wm, &ks.t.rp)
				}
			})
		}
		return true
	})
	slices.SortFunc(out[n0:], func(a, b detect.Finding) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Tool, b.Tool))
	})
	d.tools.Range(func(k baseline.Key, ts *toolState) bool {
		if !d.tn.Current(ts.gen) {
			d.resolveTool(ts, k.Tool)
		}
		if ts.rate.Start != 0 {
			ts.rate.Roll(wm, &ts.t.rp)
		}
		return true
	})
	return out
}

// Keys rolled lazily (on their next record) give exactly the findings and,
// brought to the last tick, the state of eager ticks, through spikes, a
// reload and (lazy side only) a snapshot round trip.
func TestLazyTicksMatchEager(t *testing.T) {
	run := func(lazy bool) ([]detect.Finding, []byte) {
		cfg := DefaultConfig()
		d := newDetector(t, cfg, baseline.DefaultConfig())
		var det detect.Detector = d
		if !lazy {
			det = eager{d}
		}
		c2 := cfg
		c2.FalseAlarmRate = cfg.FalseAlarmRate * 100
		out := stream(det, 72, func(sec int, add func(call)) {
			switch {
			case sec == 50*3600+7:
				d.SetParams(detect.NewParams(c2))
			case sec == 55*3600+3 && lazy:
				b, err := d.MarshalState(nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.UnmarshalState(b); err != nil {
					t.Fatal(err)
				}
			}
			for _, at := range []int{30, 52, 60} { // bursts before and after the reload and snapshot
				if sec >= at*3600 && sec < at*3600+600 && sec%6 == 0 {
					add(call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"data_access:write"}})
				}
			}
		})
		settle(d)
		snap, err := d.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		return out, snap
	}
	want, wantSnap := run(false)
	got, gotSnap := run(true)
	if len(want) == 0 {
		t.Fatal("the stream raises nothing")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lazy findings differ from eager:\nlazy  %+v\neager %+v", got, want)
	}
	if !bytes.Equal(gotSnap, wantSnap) {
		t.Fatalf("lazy state differs from eager state (snapshots of %d and %d bytes)", len(gotSnap), len(wantSnap))
	}
	t.Logf("%d findings equal", len(want))
}
