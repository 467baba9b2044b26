package alert

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

// testdata/alerts-state.v*.bin is the Manager after the first 11 steps of
// lifecycle (fire, fold, escalate, re-emit with repeats, a rich details
// map): two fingerprints firing.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[entry](), 10)
	enctest.Fields(t, reflect.TypeFor[Alert](), 23)
	enctest.Fields(t, reflect.TypeFor[Counter](), 7)
	enctest.Golden{
		Name: "alerts-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte {
			m := NewManager(testConfig())
			runSteps(m, lifecycle()[:11], nil)
			b, err := m.MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Restore: func(t testing.TB, _ uint64, data []byte) []byte {
			m := NewManager(testConfig())
			if err := m.UnmarshalState(data); err != nil {
				t.Fatal(err)
			}
			again, err := m.MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range m.FiringAlerts(nil) {
				got = append(got, fmt.Sprintf("%s/%s/%s/%s/%g", a.AgentID, a.Pattern, a.Severity, fmt.Sprint(a.Details), a.Score))
			}
			if fmt.Sprint(got) != "[agent-1/latency/warning/map[max_score:62 repeats:1 samples:100]/61 agent-2/latency/warning/map[samples:100]/70 agent-1/latency/critical/map[samples:100]/90]" {
				t.Errorf("firing %v", got)
			}
			var counts []string
			for _, c := range m.Counters(nil) {
				counts = append(counts, fmt.Sprintf("%s/%s:%d,%d,%d,%d,%d", c.Pattern, c.Severity, c.Emitted, c.Folded, c.Resolved, c.BelowBand, c.Rejected))
			}
			if fmt.Sprint(counts) != "[latency/none:0,0,0,1,1 latency/info:1,2,0,0,0 latency/warning:3,1,0,0,0 latency/critical:1,0,0,0,0]" {
				t.Errorf("counters %v", counts)
			}
			return again
		},
	}.Run(t, *update)
}
