package eval

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/replay"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// TestEndToEnd replays the default 72h simulation (~475k records) through
// the replay pipeline with the default config and scores the alerts
// against the injected anomalies. It is the project's detection-quality
// gate; it takes several seconds, so -short skips it.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay of 72h of traffic; run without -short")
	}
	// Several seeds (different arrivals, anomaly victims and timings) and
	// out-of-order jitter, so the gate is not tuned to one dataset.
	for _, tc := range []struct {
		seed   uint64
		jitter time.Duration
	}{{1, 2 * time.Second}, {2, 0}, {3, 5 * time.Second}} {
		t.Run(fmt.Sprintf("seed%d", tc.seed), func(t *testing.T) {
			endToEnd(t, sim.Config{Seed: tc.seed, Jitter: tc.jitter})
		})
	}
}

func endToEnd(t *testing.T, cfg sim.Config) {
	path := filepath.Join(t.TempDir(), "records.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, normal, total, err := WriteJSONL(cfg, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	var out, stderr bytes.Buffer
	sum, err := replay.Run(context.Background(), in, &out, replay.Options{
		Config: config.Default(),
		Stderr: &stderr,
		// A fixed wall clock just after the simulated run keeps the
		// future-timestamp check independent of the machine's clock.
		Now: func() time.Time { return sim.DefaultStart.Add(73 * time.Hour) },
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if sum.Invalid != 0 || sum.Late != 0 || sum.Lines != total {
		t.Fatalf("replay read %d lines of %d: %d invalid, %d late\n%s", sum.Lines, total, sum.Invalid, sum.Late, stderr.String())
	}
	alerts, err := ParseAlerts(&out)
	if err != nil {
		t.Fatal(err)
	}
	res := Score(plan, alerts, normal, 10*time.Minute)
	t.Logf("%d records (%d normal), %d anomalies, replay %v\n%s", total, normal, len(plan), sum.Elapsed, res)

	for _, p := range res.Patterns {
		if p.Recall < 0.9 {
			t.Errorf("pattern %s: recall %.3f < 0.9 (missed %v)", p.Pattern, p.Recall, p.Missed)
		}
	}
	if res.Precision < 0.9 {
		t.Errorf("precision %.3f < 0.9", res.Precision)
	}
	if res.FalsePer100k >= 5 {
		t.Errorf("%.2f false firing alerts per 100k normal records, want < 5", res.FalsePer100k)
	}
}
