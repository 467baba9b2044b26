package pipeline

import (
	"bytes"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/tools/sim"
)

func TestBaselinesFilterAndOrder(t *testing.T) {
	p := New(config.Default(), fixedWall)
	for _, l := range simLines(t, sim.Config{Seed: 2, Duration: 2 * time.Hour, Scale: 0.3, NoAnomalies: true}) {
		p.Handle(l)
	}
	all, matched, err := p.Baselines("", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if matched != len(all) {
		t.Errorf("matched %d, returned %d without a limit", matched, len(all))
	}
	if some, m, _ := p.Baselines("", "", 7); len(some) != 7 || m != matched || !reflectEqual(some, all[:7]) {
		t.Errorf("limit 7: %d returned, %d matched; want the first 7 of %d", len(some), m, matched)
	}
	patterns := map[string]bool{}
	for _, b := range all {
		patterns[b.Pattern] = true
	}
	for _, pat := range []string{detect.PatternFrequency, detect.PatternInputNovelty, detect.PatternDenialSpike, detect.PatternOutputSize, detect.PatternLatency} {
		if !patterns[pat] {
			t.Errorf("no %s baselines among %d", pat, len(all))
		}
	}
	tests := []struct{ tool, agent string }{
		{"", ""}, {"customer-*", ""}, {"", "support-*"}, {"web-search", "*"}, {"none", ""},
	}
	for _, tc := range tests {
		got, _, err := p.Baselines(tc.tool, tc.agent, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want int
		for _, b := range all {
			tm, _ := path.Match(tc.tool, b.Tool)
			am, _ := path.Match(tc.agent, b.Agent)
			if (tc.tool == "" || tm) && (tc.agent == "" || am) {
				want++
			}
		}
		if len(got) != want || (tc.tool != "none" && want == 0) {
			t.Errorf("tool %q agent %q: %d baselines, want %d (of %d)", tc.tool, tc.agent, len(got), want, len(all))
		}
		if !slices.IsSortedFunc(got, func(a, b detect.Baseline) int {
			if a.Tool != b.Tool {
				return strings.Compare(a.Tool, b.Tool)
			}
			return strings.Compare(a.Agent, b.Agent)
		}) {
			t.Errorf("tool %q agent %q: not sorted by tool, agent", tc.tool, tc.agent)
		}
	}
	if _, _, err := p.Baselines("[", "", 0); err == nil {
		t.Error("malformed glob accepted")
	}
	for _, d := range p.Engine().Detectors() {
		if in, ok := d.(detect.Inspector); ok {
			if _, ok := in.Inspect("nobody", "nothing"); ok {
				t.Errorf("%s: Inspect of an unknown key reported ok", in.Pattern())
			}
		}
	}
}

// BenchmarkBaselines is the cost of GET /api/baselines with no filter on
// the worker goroutine (it holds up ingestion meanwhile): reported per
// baseline returned.
func BenchmarkBaselines(b *testing.B) {
	p := New(config.Default(), fixedWall)
	for _, l := range simulatedLines(b) {
		p.Handle(l)
	}
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bs, _, err := p.Baselines("", "", 0)
		if err != nil {
			b.Fatal(err)
		}
		n += len(bs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/baseline")
	b.ReportMetric(float64(n)/float64(b.N), "baselines")
}

func reflectEqual(a, b []detect.Baseline) bool { return reflect.DeepEqual(a, b) }

// Inspecting is read-only for detection: a pipeline whose baselines are
// read every 500 records raises exactly the alerts of one that is never
// inspected (an inspection may refresh a cached quantile or tail fit, as
// the next record would).
func TestBaselinesDoNotChangeDetection(t *testing.T) {
	lines := simLines(t, sim.Config{Seed: 3, Duration: 40 * time.Hour, Scale: 0.5, WarmUp: 24 * time.Hour, Jitter: 2 * time.Second})
	cfg := config.Default()
	plain, inspected := New(cfg, fixedWall), New(cfg, fixedWall)
	var want, got bytes.Buffer
	emit := func(dst *bytes.Buffer, alerts []alert.Alert) {
		for i := range alerts {
			dst.Write(alert.MarshalJSONLine(&alerts[i], nil))
		}
	}
	for i, l := range lines {
		a, _, _ := plain.Handle(l)
		emit(&want, a)
		b, _, _ := inspected.Handle(l)
		emit(&got, b)
		if i%500 == 0 {
			if _, _, err := inspected.Baselines("", "", 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	emit(&want, plain.Flush())
	emit(&got, inspected.Flush())
	if want.Len() == 0 {
		t.Fatal("no alerts: the comparison would be vacuous")
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		t.Fatalf("inspection changed the alerts (%d vs %d bytes)", want.Len(), got.Len())
	}
}
