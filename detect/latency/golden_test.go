package latency

import (
	"bytes"
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestGoldenFindings replays a seeded stream with a version upgrade and
// injected slow calls and compares every finding with
// testdata/findings.golden (go test -run Golden -update).
func TestGoldenFindings(t *testing.T) {
	run := func() []byte {
		d := newDet(t, nil)
		s := newStream(d, 81)
		// customer-lookup 2.0.0 (×1.5) from the 3rd round on.
		s.version = func(_, tool string, e time.Duration) (string, float64) {
			if tool == "customer-lookup" && e >= 6000*time.Second {
				return "2.0.0", 1.5
			}
			return "1.0.0", 1
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for round := range 4 {
			s.run(3000)
			if len(s.found) != 0 {
				t.Fatalf("round %d: finding on normal traffic: %+v", round, s.found[0])
			}
			// Round 1 ends at the upgrade: its 30.1 s call is the first of
			// customer-lookup 2.0.0, judged against 1.0.0 (relaxed) and not
			// learned by the fresh slot; later rounds use 2.0.0's own.
			for _, inj := range []struct {
				agent, tool, status string
				ms                  float64
			}{
				{"agent-a", "customer-lookup", record.StatusSuccess, 30120},
				{"agent-b", "db-query", record.StatusTimeout, 30000},
				{"agent-new", "web-search", record.StatusSuccess, 600000},
				{"agent-c", "web-search", record.StatusSuccess, 2500},
			} {
				v, _ := s.version(inj.agent, inj.tool, s.now().Sub(base))
				r := rec(s.now(), inj.agent, inj.tool, v, inj.ms)
				r.Invocation.Status = inj.status
				for _, f := range d.Observe(r, nil) {
					if err := enc.Encode(f); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return buf.Bytes()
	}
	got := run()
	// Every round: the 30.1 s call (in round 1 against the previous
	// version, relaxed) and 600 s from a new agent alert; the 30 s timeout
	// (skipped) and 2.5 s on web-search (p99 ≈ 5 s) do not.
	if n := bytes.Count(got, []byte("\n")); n != 8 || bytes.Contains(got, []byte(`"Observed":30000,`)) || bytes.Contains(got, []byte(`"Observed":2500,`)) ||
		!bytes.Contains(got, []byte(`"baseline_scope":"agent_previous_version"`)) {
		t.Fatalf("%d findings, want 8 incl. one against the previous version (none for 2.5 s or the timeout):\n%s", n, got)
	}
	if again := run(); !bytes.Equal(got, again) {
		t.Fatal("two runs on the same input differ")
	}
	detecttest.Golden(t, got, *update)
}
