package egresssim

import (
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/egress"
)

// Seeds 1–3 are the only ones the detector's priors and defaults were
// tuned on; the gate runs on seeds never looked at while tuning.
var (
	tuningSeeds   = []uint64{1, 2, 3}
	heldOutSeeds  = []uint64{1001, 1002, 1003, 1004, 1005}
	gateRecall    = 0.40
	gateFalseRate = 0.03
)

func evalSeed(seed uint64) Result {
	cfg := DefaultConfig(seed)
	run := Generate(cfg)
	return Evaluate(run, egress.DefaultConfig(), 4*time.Hour, cfg.Start.AddDate(0, 0, 7))
}

func TestTuningSeeds(t *testing.T) {
	for _, s := range tuningSeeds {
		t.Logf("seed %d: %v", s, evalSeed(s))
		// Without anyone triaging, flagged clean destinations keep
		// alerting at each use: the figure an unattended deployment gets.
		cfg := DefaultConfig(s)
		r := Evaluate(Generate(cfg), egress.DefaultConfig(), 0, cfg.Start.AddDate(0, 0, 7))
		t.Logf("seed %d without triage: recall %.1f%%, clean tasks alerted %.2f%%", s, 100*r.Recall(), 100*r.FalseTaskRate())
	}
}

// BenchmarkObserveSimulated is the detector's cost per record of the
// simulated fleet's mixed traffic (known and new destinations, readers'
// outputs, calls without destinations, findings included).
func BenchmarkObserveSimulated(b *testing.B) {
	run := Generate(DefaultConfig(1))
	b.ResetTimer()
	for b.Loop() {
		Evaluate(run, egress.DefaultConfig(), 4*time.Hour, run.Tasks[0].Start)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(run.Records)), "ns/record")
}

// TestGate: on held-out seeds, at least 40 % of attacked tasks alert and
// at most 3 % of clean tasks do (each seed, and pooled).
func TestGate(t *testing.T) {
	var pooled Result
	for _, s := range heldOutSeeds {
		r := evalSeed(s)
		t.Logf("held-out seed %d: %v", s, r)
		if r.Attacked < 30 || r.Clean < 3000 {
			t.Errorf("seed %d: too few tasks to judge (%d attacked, %d clean)", s, r.Attacked, r.Clean)
		}
		if r.Recall() < gateRecall || r.FalseTaskRate() > gateFalseRate {
			t.Errorf("seed %d fails the gate: recall %.3f (want >= %.2f), clean tasks alerted %.4f (want <= %.2f)",
				s, r.Recall(), gateRecall, r.FalseTaskRate(), gateFalseRate)
		}
		pooled.Attacked += r.Attacked
		pooled.AttackedAlerted += r.AttackedAlerted
		pooled.Clean += r.Clean
		pooled.CleanAlerted += r.CleanAlerted
	}
	if pooled.Attacked < 300 || pooled.Recall() < gateRecall || pooled.FalseTaskRate() > gateFalseRate {
		t.Errorf("pooled held-out seeds fail the gate (%d attacked tasks)", pooled.Attacked)
	}
	t.Logf("pooled held-out: recall %.1f%% of %d attacked tasks, %.2f%% of %d clean tasks alerted",
		100*pooled.Recall(), pooled.Attacked, 100*pooled.FalseTaskRate(), pooled.Clean)
}

// TestNoTaskRepeats: no two tasks have the same tools and destinations,
// and attackers never reuse a destination.
func TestNoTaskRepeats(t *testing.T) {
	run := Generate(DefaultConfig(1))
	seen := map[string]string{}
	for _, tk := range run.Tasks {
		sig := Signature(&tk)
		if other, ok := seen[sig]; ok {
			t.Fatalf("task %s repeats %s: %s", tk.ID, other, sig)
		}
		seen[sig] = tk.ID
	}
	attackers := 0
	for _, tk := range run.Tasks {
		if tk.Attacked {
			attackers++
		}
	}
	if attackers != len(run.Attackers) {
		t.Fatalf("%d attacked tasks share %d attacker destinations", attackers, len(run.Attackers))
	}
}
