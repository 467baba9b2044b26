package denials

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// fullRates is the detector with every key's rate materialised before each
// of its records: the code before blank rates.
type fullRates struct{ *Detector }

func (f fullRates) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	if ks := f.keys.Peek(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}); ks != nil {
		ks.materialise()
	}
	return f.Detector.Observe(r, out)
}

func (f fullRates) materialiseAll() {
	f.keys.Range(func(_ baseline.Key, ks *keyState) bool {
		ks.materialise()
		return true
	})
}

// Keys never denied stay blank, and blank rates give exactly the findings
// and snapshot bytes of full ones: through warm-up on the tool's baseline,
// own arming, gaps of days, late records, a reload, a snapshot round trip
// and a first denial (a burst) of a key after two days blank.
func TestBlankRatesMatchFull(t *testing.T) {
	run := func(blank bool) ([]detect.Finding, []byte, *Detector) {
		cfg := DefaultConfig()
		d := newDetector(t, cfg, baseline.DefaultConfig())
		var det detect.Detector = d
		if !blank {
			det = fullRates{d}
		}
		c2 := cfg
		c2.FalseAlarmRate = cfg.FalseAlarmRate * 100
		late := base
		out := stream(det, 72, func(sec int, add func(call)) {
			switch {
			case sec == 40*3600+7:
				d.SetParams(detect.NewParams(c2))
			case sec == 45*3600+3:
				b, err := d.MarshalState(nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.UnmarshalState(b); err != nil {
					t.Fatal(err)
				}
				if !blank {
					fullRates{d}.materialiseAll()
				}
			}
			if sec%97 == 0 { // never denied: a busy key and, every 9 hours, a sparse one
				add(call{agent: "agent-c", tool: "db-query"})
				add(call{agent: "agent-c", tool: "files"})
				if (sec/3600)%9 == 0 {
					add(call{agent: "agent-d", tool: "files"})
				}
			}
			if sec%1800 == 17 { // a late record, 40 s behind
				late = base.Add(time.Duration(sec-40) * time.Second)
				r := record.Record{Timestamp: late, AgentID: "agent-c", Tool: record.Tool{Name: "files"}}
				r.Invocation.Status = record.StatusSuccess
				det.Observe(&r, nil)
			}
			if sec >= 60*3600 && sec < 60*3600+600 && sec%5 == 0 { // agent-d's first denials
				add(call{agent: "agent-d", tool: "files", status: record.StatusDenied, denied: []string{"data_access:write"}})
			}
		})
		settle(d)
		snap, err := d.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		return out, snap, d
	}
	want, wantSnap, _ := run(false)
	got, gotSnap, d := run(true)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("blank findings differ from full:\nblank %+v\nfull  %+v", got, want)
	}
	if !bytes.Equal(gotSnap, wantSnap) {
		t.Fatal("blank snapshot bytes differ from full")
	}
	spiked := false
	for _, f := range got {
		spiked = spiked || (f.AgentID == "agent-d" && f.Detail == "spike")
	}
	if !spiked {
		t.Fatal("agent-d's first denials raise no spike")
	}
	for _, k := range []struct {
		agent, tool string
		blank       bool
	}{{"agent-c", "db-query", true}, {"agent-c", "files", true}, {"agent-d", "files", false}, {"agent-a", "files", false}} {
		ks := d.keys.Peek(baseline.Key{Agent: k.agent, Tool: k.tool})
		if ks == nil {
			t.Fatalf("%s/%s missing", k.agent, k.tool)
		}
		if r := ks.rate(); (ks.full == nil) != k.blank || !r.Warm(&ks.t.rule) {
			t.Errorf("%s/%s: blank %v (want %v), warm %v", k.agent, k.tool, ks.full == nil, k.blank, r.Warm(&ks.t.rule))
		}
	}
}
