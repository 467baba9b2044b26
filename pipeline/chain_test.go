package pipeline

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// A base and deltas taken along a simulated stream restore, at every
// link, the sections a full snapshot of a twin pipeline at the same point
// holds, byte for byte; latency, output_size, denial_spike and frequency write delta records, the
// other sections are whole in every delta.
func TestChainRestoresFullSections(t *testing.T) {
	lines := simLines(t, sim.Config{Seed: 5, Duration: 30 * time.Hour, Scale: 0.5, WarmUp: 24 * time.Hour, Jitter: 2 * time.Second})
	cfg := config.Default()
	cfg.Baseline.MaxKeys = 40 // evictions at the cap
	a, b := New(cfg, fixedWall), New(cfg, fixedWall)
	var base map[string][]byte
	var links []Link
	changed := map[string]int{}
	for i, step := 0, len(lines)/25; i+step <= len(lines); i += step {
		for _, l := range lines[i : i+step] {
			a.Handle(l)
			b.Handle(l)
		}
		if base == nil || len(links) == 8 {
			enc, err := a.CaptureBase()
			if err != nil {
				t.Fatal(err)
			}
			if base, err = enc(); err != nil {
				t.Fatal(err)
			}
			links = nil
		} else {
			enc, err := a.CaptureDelta()
			if err != nil {
				t.Fatal(err)
			}
			whole, changes, err := enc()
			if err != nil {
				t.Fatal(err)
			}
			for name := range changes {
				changed[name]++
			}
			links = append(links, Link{Whole: whole, Changes: changes})
		}
		want, err := b.MarshalSections()
		if err != nil {
			t.Fatal(err)
		}
		r := New(cfg, fixedWall)
		if missing, err := r.UnmarshalChain(base, links); err != nil || len(missing) > 0 {
			t.Fatalf("at line %d, %d deltas: missing %v, %v", i+step, len(links), missing, err)
		}
		got, err := r.MarshalSections()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if !bytes.Equal(got[name], want[name]) {
				t.Fatalf("at line %d, %d deltas: section %s differs (%d vs %d bytes)", i+step, len(links), name, len(got[name]), len(want[name]))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d sections restored, %d in the full snapshot", len(got), len(want))
		}
	}
	for _, name := range []string{"detector/latency", "detector/output_size", "detector/denial_spike", "detector/frequency"} {
		if changed[name] == 0 {
			t.Errorf("%s never wrote a delta record", name)
		}
	}
	t.Logf("delta records per section: %v", changed)
}
