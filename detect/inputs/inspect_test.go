package inputs

import (
	"testing"
)

func TestInspect(t *testing.T) {
	shapes := []string{"json{a:str}", "json{b:num}", "text"}
	tests := []struct {
		name    string
		records int
		extra   string // one more shape seen once
		warm    bool
		known   uint64
		single  uint32
	}{
		{"warming up", 50, "", false, 3, 0},
		{"warm", 900, "", true, 3, 0},
		{"warm with a singleton", 900, "binary", true, 4, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(testConfig())
			stream(d, 0, tc.records, "db-query", "agent-1", shapes)
			n := tc.records
			if tc.extra != "" {
				d.Observe(rec(n, "db-query", "agent-1", tc.extra), nil)
				n++
			}
			if _, ok := d.Inspect("agent-1", "db-query"); ok {
				t.Error("inputs has no per-agent baselines, Inspect(agent) reported one")
			}
			if _, ok := d.Inspect("", "other"); ok {
				t.Error("unknown tool reported")
			}
			b, ok := d.Inspect("", "db-query")
			if !ok || len(b.Parts) != 1 {
				t.Fatalf("Inspect = %+v, %v", b, ok)
			}
			v := b.Parts[0].Values
			if b.Warm != tc.warm || v["known_shapes"] != tc.known || v["singletons"] != tc.single || v["records"] != uint64(n) {
				t.Errorf("warm %v known %v singletons %v records %v; want %v %v %v %v",
					b.Warm, v["known_shapes"], v["singletons"], v["records"], tc.warm, tc.known, tc.single, n)
			}
			if v["reference_shapes"] != uint32(0) || v["reference_windows"] != uint32(0) || v["opening"] != false || v["quarantined_shapes"] != uint32(0) {
				t.Errorf("reference before any window closed: %v", v)
			}
			if v["field_pairs"] != 2 { // a:str, b:num; text and binary have none
				t.Errorf("field_pairs %v, want 2", v["field_pairs"])
			}
			if (b.JudgedBy == "tool") != tc.warm {
				t.Errorf("judged_by %q while warm %v", b.JudgedBy, tc.warm)
			}
		})
	}
}
