package denials

import (
	"flag"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenStart and the stream below define testdata/denials-state.v*.bin:
// 2 agents × 2 tools, one call every 15 s in turn for 2 hours (120 per
// key), every 5th call denied "data_access:read" or, every 10th,
// "data_access:write"; one trace per 40 calls and one input hash
// throughout, so a key's second denial of a trace is a retry (version 6);
// a tick every minute.
var goldenStart = time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)

func goldenState(t testing.TB) *Detector {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	var r record.Record
	for i := range 480 {
		ts := goldenStart.Add(time.Duration(i) * 15 * time.Second)
		r = record.Record{Timestamp: ts, AgentID: fmt.Sprintf("a%d", i%2), Tool: record.Tool{Name: []string{"t-a", "t-b"}[(i/2)%2]}}
		r.Invocation.Status = record.StatusSuccess
		r.TraceID, r.Invocation.InputHash = fmt.Sprintf("task-%d", i/40), "sha256:golden"
		switch {
		case i%10 == 0:
			r.Invocation.Status, r.Invocation.PermissionsDenied = record.StatusDenied, []string{"data_access:write"}
		case i%5 == 0:
			r.Invocation.Status, r.Invocation.PermissionsDenied = record.StatusDenied, []string{"data_access:read"}
		}
		r.Context.Environment = "production"
		d.Observe(&r, nil)
		if i%4 == 3 {
			d.Tick(ts, nil)
		}
	}
	return d
}

// The golden records decode to the stream's keys, counts and denied types
// and re-encode byte for byte; the live types the record copies keep
// their field counts.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[keyState](), 4)
	enctest.Fields(t, reflect.TypeFor[toolState](), 9)
	enctest.Golden{
		Name: "denials-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte { return detecttest.MustMarshal(t, goldenState(t)) },
		Restore: func(t testing.TB, v uint64, data []byte) []byte {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			again := detecttest.Restore(t, d, data)
			var keys []string
			calls := 0
			d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
				keys = append(keys, k.Agent+"/"+k.Tool)
				if ks.full != nil && ks.full.callAt != 0 {
					calls++
				}
				if w := ks.rate().Profile.Windows; w < 23 || w > 24 {
					t.Errorf("key %s: %d windows, want 23-24 of the 2 hours", k, w)
				}
				return true
			})
			// Every key's last denied call, none in an upgraded record
			// (versions before 6 hold none).
			if calls != 0 && calls != 4 || v < 6 && calls != 0 {
				t.Errorf("version %d: %d keys with a last denied call, want 4 (0 upgraded)", v, calls)
			}
			if fmt.Sprint(keys) != "[a1/t-b a0/t-b a1/t-a a0/t-a]" { // newest first
				t.Errorf("keys in recency order %v", keys)
			}
			for _, tool := range []string{"t-a", "t-b"} {
				ts := d.tools.Peek(baseline.Key{Tool: tool})
				if ts == nil || ts.calls != 240 || len(ts.types) != 1 || len(ts.actions) != 2 || ts.since != goldenStart.Unix() {
					t.Errorf("tool %s: %+v; want 240 calls, 1 type, 2 actions, since the start", tool, ts)
				}
			}
			if end := goldenStart.Add(479 * 15 * time.Second).Unix(); d.tickedAt > end || d.tickedAt < end-300 {
				t.Errorf("ticked at %d", d.tickedAt)
			}
			return again
		},
	}.Run(t, *update)
}
