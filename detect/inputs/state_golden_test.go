package inputs

import (
	"flag"
	"fmt"
	"reflect"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenState defines testdata/input_novelty-state.v*.bin: records 0..1199
// one second apart from base, in turn "db" (3 shapes), "wide" (40 shapes,
// 16 fit: the rest overflow) and "search" (1 shape); a tick every 60.
func goldenState() *Detector {
	d := newMixed()
	for i := range 1200 {
		switch i % 3 {
		case 0:
			d.Observe(rec(i, "db", "agent-a", fmt.Sprintf("json{id:num,k%d:str}", i%9/3)), nil)
		case 1:
			d.Observe(rec(i, "wide", "agent-b", fmt.Sprintf("json{f%d:num}", i/3%40)), nil)
		default:
			d.Observe(rec(i, "search", "agent-c", "json{q:str}"), nil)
		}
		if i%60 == 59 {
			d.Tick(rec(i, "", "", "").Timestamp, nil)
		}
	}
	return d
}

// The golden records decode to the stream's tools, shapes and overflow and
// re-encode byte for byte; the live type the record copies keeps its
// field count.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[tool](), 17)
	enctest.Fields(t, reflect.TypeFor[ToolV2](), 16)
	enctest.Golden{
		Name: "input_novelty-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte {
			b, err := goldenState().MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Restore: func(t testing.TB, _ uint64, data []byte) []byte {
			d := newMixed()
			again := detecttest.Restore(t, d, data)
			var tools []string
			d.store.RangeSeen(func(k baseline.Key, _ int64, tl *tool) bool {
				tools = append(tools, k.Tool)
				want := map[string][3]uint64{"db": {3, 400, 0}, "wide": {16, 400, 24}, "search": {1, 400, 0}}[k.Tool]
				if uint64(tl.set.Len()) != want[0] || tl.records != want[1] {
					t.Errorf("tool %s: %d shapes, %d records; want %v", k.Tool, tl.set.Len(), tl.records, want)
				}
				if got := tl.overAll.Refresh(); (got == 0) != (want[2] == 0) || got > want[2]+2 || got+2 < want[2] {
					t.Errorf("tool %s: overflow sketch estimates %d distinct shapes, want about %d", k.Tool, got, want[2])
				}
				return true
			})
			if fmt.Sprint(tools) != "[search wide db]" { // newest first
				t.Errorf("tools in recency order %v", tools)
			}
			return again
		},
	}.Run(t, *update)
}
