package latency

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

// goldenStart and the stream below (input hashes from version 4 on)
// define testdata/latency-state.v*.bin:
// 3 agents × 2 tools, one call every 30 s in turn for 2 hours (240 per
// key); t-a moves to 2.0.0 for its last 40 calls per key.
var goldenStart = time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)

func goldenState(t testing.TB) *Detector {
	d := newDet(t, nil)
	for i := range 1440 {
		agent, tool := fmt.Sprintf("a%d", i%3), []string{"t-a", "t-b"}[(i/3)%2]
		version := "1.0.0"
		if tool == "t-a" && i >= 1200 {
			version = "2.0.0"
		}
		r := rec(goldenStart.Add(time.Duration(i)*30*time.Second), agent, tool, version, float64(100+(i*37)%200))
		r.Invocation.InputHash = fmt.Sprintf("sha256:%064x", i/12+1) // each key's input twice in a row
		d.Observe(r, nil)
	}
	return d
}

// The golden records decode to the stream's keys, versions and counts and
// re-encode byte for byte; the live types the record copies keep their
// field counts.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[state](), 4)
	enctest.Fields(t, reflect.TypeFor[slot](), 4)
	enctest.Fields(t, reflect.TypeFor[EntryState](), 5)
	enctest.Fields(t, reflect.TypeFor[SlotState](), 4)
	usable := 0 // keys usable at half min_samples
	enctest.Golden{
		Name: "latency-state", Versions: codec.Decoders.Versions(), Current: StateVersion,
		Build: func(t testing.TB) []byte { return detecttest.MustMarshal(t, goldenState(t)) },
		Restore: func(t testing.TB, version uint64, data []byte) []byte {
			d := newDet(t, nil)
			if err := d.UnmarshalState(data); err != nil {
				t.Fatal(err)
			}
			var keys []string
			d.core.Keys.RangeSeen(func(k baseline.Key, seen int64, st *state) bool {
				keys = append(keys, k.Agent+"/"+k.Tool)
				var n float64
				for i := range uint8(2) {
					n += st.at(i).dist.Count()
				}
				want := "1.0.0"
				if k.Tool == "t-a" {
					want = "2.0.0"
				}
				if v := st.at(st.active).version; v != want || n != 240 || seen < goldenStart.Add(119*time.Minute).Unix() {
					t.Errorf("key %s: active version %q (want %q), %v values (want 240), last seen %d", k, v, want, n, seen)
				}
				if k.Tool == "t-b" && st.second != nil { // its never-used slot, in every Dist version
					t.Errorf("key %s: a never-used second slot restored allocated", k)
				}
				// From version 7 on a key that reached min_samples keeps
				// its Usable memory down to half (baseline.Dist.Usable); an
				// older record (and its upgrade) restores without it.
				switch u := st.at(st.active).dist.Usable(100, 200); {
				case u && version < 7:
					t.Errorf("version %d, key %s: usable at half min_samples", version, k)
				case k.Tool == "t-b" && u:
					usable++
				}
				if k.Tool == "t-a" && (!st.at(0).used || !st.at(1).used || st.at(st.active).dist.Count() != 40) {
					t.Errorf("key %s: slots %+v %+v, want both used, 40 values in 2.0.0", k, st.at(0).version, st.at(1).version)
				}
				return true
			})
			if fmt.Sprint(keys) != "[a2/t-b a1/t-b a0/t-b a2/t-a a1/t-a a0/t-a]" { // newest first
				t.Errorf("keys in recency order %v", keys)
			}
			if tl := d.core.Tools.Peek("t-b"); tl == nil || tl.at(tl.active).dist.Count() != 720 {
				t.Errorf("tool key t-b: %+v", tl)
			}
			return detecttest.MustMarshal(t, d)
		},
	}.Run(t, *update)
	if usable == 0 {
		t.Error("no key of the current file usable at half min_samples")
	}
}
