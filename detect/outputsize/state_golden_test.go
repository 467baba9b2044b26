package outputsize

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
// define testdata/output_size-state.v*.bin:
// 3 agents × 2 tools, one call every 30 s in turn for 2 hours (240 per key).
var goldenStart = time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)

func goldenState(t testing.TB) *Detector {
	d := newDet(t, nil)
	for i := range 1440 {
		agent, tool := fmt.Sprintf("a%d", i%3), []string{"t-a", "t-b"}[(i/3)%2]
		r := rec(goldenStart.Add(time.Duration(i)*30*time.Second), agent, tool, int64(1000+(i*37)%2000))
		r.Invocation.InputHash = fmt.Sprintf("sha256:%064x", i/12+1) // each key's input twice in a row
		d.Observe(r, nil)
	}
	return d
}

// The golden records decode to the stream's keys and counts and re-encode
// byte for byte; the live types the record copies keep their field counts.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[state](), 2)
	enctest.Fields(t, reflect.TypeFor[EntryState](), 4)
	usable := 0 // keys usable at half min_samples
	enctest.Golden{
		Name: "output_size-state", Versions: codec.Decoders.Versions(), Current: StateVersion,
		Build: func(t testing.TB) []byte { return detecttest.MustMarshal(t, goldenState(t)) },
		Restore: func(t testing.TB, version uint64, data []byte) []byte {
			d := newDet(t, nil)
			again := detecttest.Restore(t, d, data) // before Quantiles refreshes its cache
			var keys []string
			d.core.Keys.RangeSeen(func(k baseline.Key, seen int64, st *state) bool {
				keys = append(keys, k.Agent+"/"+k.Tool)
				if n := st.dist.Count(); n != 240 || seen < goldenStart.Add(119*time.Minute).Unix() {
					t.Errorf("key %s: %v values (want 240), last seen %d", k, n, seen)
				}
				// From version 7 on a key that reached min_samples keeps
				// its Usable memory down to half (baseline.Dist.Usable); an
				// older record (and its upgrade) restores without it.
				switch u := st.dist.Usable(100, 200); {
				case u && version < 7:
					t.Errorf("version %d, key %s: usable at half min_samples", version, k)
				case u:
					usable++
				}
				if q := st.dist.Quantiles(d.core.G); q.P10 < 1000 || q.P50 < 1500 || q.P50 > 2500 || q.Max > 3000 {
					t.Errorf("key %s: quantiles %+v outside the stream's 1000..2999", k, q)
				}
				return true
			})
			if fmt.Sprint(keys) != "[a2/t-b a1/t-b a0/t-b a2/t-a a1/t-a a0/t-a]" { // newest first
				t.Errorf("keys in recency order %v", keys)
			}
			if tl := d.core.Tools.Peek("t-a"); tl == nil || tl.dist.Count() != 720 {
				t.Errorf("tool key t-a: %+v", tl)
			}
			return again
		},
	}.Run(t, *update)
	if usable == 0 {
		t.Error("no key of the current file usable at half min_samples")
	}
}
