package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzObserveRecord feeds arbitrary strings into every labelled field and
// checks the label sets stay bounded: at most MaxTools+1 tool labels and
// only fixed values elsewhere.
func FuzzObserveRecord(f *testing.F) {
	f.Add("sql", "success", "gold", "internal", "production", "network:connect", 94.0, "latency", "critical", "firing")
	f.Add("", "", "", "", "", ":", -1.0, "", "", "")
	f.Add("x\xff", "ok", "platinum", "top-secret", "prod", "weird", 101.0, "p", "s", "st")
	f.Fuzz(func(t *testing.T, tool, status, trust, class, env, denied string, score float64, pattern, severity, alertStatus string) {
		reg := prometheus.NewRegistry()
		m := New(reg, Config{MaxTools: 2, Patterns: testPatterns})
		for i, name := range []string{tool, "a", "b", tool + "c"} {
			r := rec(i, name, status, 5)
			r.Tool.TrustLevel, r.Tool.VerificationScore = trust, score
			r.Context.DataClassification, r.Context.Environment = class, env
			r.Invocation.PermissionsDenied = []string{denied}
			m.ObserveRecord(r)
		}
		m.ObserveOutcome(status)
		m.ObserveAlert(pattern, severity, alertStatus)
		m.SetDetectorKeys(pattern, 1, 2, 3)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		fixed := map[string][]string{
			"status": statuses, "type": denialTypes, "trust_level": trustLevels, "score_band": scoreBands,
			"outcome": outcomes,
			"pattern": m.patterns, "severity": severities, "detector": m.patterns,
		}
		tools := map[string]bool{}
		for _, mf := range mfs {
			for _, mt := range mf.GetMetric() {
				for _, l := range mt.GetLabel() {
					if l.GetName() == "tool" {
						tools[l.GetValue()] = true
						continue
					}
					set := fixed[l.GetName()]
					if mf.GetName() == "toolwatch_alerts_total" && l.GetName() == "status" {
						set = alertStatuses
					}
					if !contains(set, l.GetValue()) {
						t.Fatalf("%s: %s=%q outside the fixed set", mf.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
		if len(tools) > 3 {
			t.Fatalf("%d tool labels with MaxTools 2: %v", len(tools), tools)
		}
	})
}

func contains(set []string, v string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}
