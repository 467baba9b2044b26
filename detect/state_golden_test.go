package detect

import (
	"flag"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// testdata/engine-state.v*.bin: 100 records one second apart from base,
// one 10 minutes late and one an hour in the future.
func TestEngineStateGolden(t *testing.T) {
	wall := func() time.Time { return base.Add(time.Hour) }
	enctest.Golden{
		Name: "engine-state", Versions: engineDecoders.Versions(), Current: engineStateVersion,
		Build: func(t testing.TB) []byte {
			e := NewEngine(testConfig(), wall)
			for i := range 100 {
				e.Process(rec("a", base.Add(time.Duration(i)*time.Second)), nil)
			}
			e.Process(rec("a", base.Add(-10*time.Minute)), nil)
			e.Process(rec("a", base.Add(3*time.Hour)), nil)
			b, _ := e.MarshalState(nil)
			return b
		},
		Restore: func(t testing.TB, _ uint64, data []byte) []byte {
			e := NewEngine(testConfig(), wall)
			if err := e.UnmarshalState(data); err != nil {
				t.Fatal(err)
			}
			applied, late, future := e.Counts()
			want := base.Add(99*time.Second - testConfig().AllowedLateness) // newest event time less the lateness
			if wm := e.Watermark(); !wm.Equal(want) || applied != 100 || late != 1 || future != 1 {
				t.Errorf("watermark %v, counts %d/%d/%d; want %v, 100/1/1", wm, applied, late, future, want)
			}
			b, _ := e.MarshalState(nil)
			return b
		},
	}.Run(t, *update)
}
