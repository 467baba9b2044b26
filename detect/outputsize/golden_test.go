package outputsize

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestGoldenFindings replays a seeded stream with injected outliers and
// compares every finding with testdata/findings.golden, so the detector's
// output is deterministic and reviewable (go test -run Golden -update).
func TestGoldenFindings(t *testing.T) {
	run := func() []byte {
		d := newDet(t, nil)
		s := &stream{rng: rand.New(rand.NewPCG(71, 72))}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for round := range 4 {
			for _, f := range feed(d, s, base, 3000, normalAgents, normalTools, nil) {
				t.Fatalf("round %d: finding on normal traffic: %+v", round, f)
			}
			ts := base.Add(time.Duration(s.i) * time.Second)
			for _, inj := range []struct {
				agent, tool string
				bytes       int64
			}{
				{"agent-a", "file-reader", 100_000_000},
				{"agent-b", "customer-lookup", 40_000},
				{"agent-new", "web-search", 9_000_000},
				{"agent-c", "customer-lookup", 2_500},
			} {
				for _, f := range d.Observe(rec(ts, inj.agent, inj.tool, inj.bytes), nil) {
					if err := enc.Encode(f); err != nil {
						t.Fatal(err)
					}
				}
				ts = ts.Add(time.Millisecond)
			}
		}
		return buf.Bytes()
	}
	got := run()
	// Every round: 100 MB, 40 KB (≈11× p99) and 9 MB from a new agent alert
	// (repeats included: earlier anomalies must not lift the threshold);
	// 2.5 KB (< p99) does not.
	if n := bytes.Count(got, []byte("\n")); n != 12 || bytes.Contains(got, []byte(`"Observed":2500,`)) {
		t.Fatalf("%d findings, want 12 (none for 2.5 KB):\n%s", n, got)
	}
	if again := run(); !bytes.Equal(got, again) {
		t.Fatal("two runs on the same input differ")
	}
	detecttest.Golden(t, got, *update)
}
