package pipeline

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/eval"
	"github.com/toolwatch/toolwatch/internal/sim"
)

func TestBaselinesFilterAndOrder(t *testing.T) {
	var buf bytes.Buffer
	if _, _, _, err := eval.WriteJSONL(sim.Config{Seed: 2, Duration: 2 * time.Hour, Scale: 0.3, NoAnomalies: true}, &buf); err != nil {
		t.Fatal(err)
	}
	p := New(config.Default(), fixedWall)
	for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		p.Handle(l)
	}
	all, err := p.Baselines("", "")
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]bool{}
	for _, b := range all {
		patterns[b.Pattern] = true
	}
	for _, pat := range []string{alert.PatternFrequency, alert.PatternInputNovelty, alert.PatternDenialSpike, alert.PatternOutputSize, alert.PatternLatency} {
		if !patterns[pat] {
			t.Errorf("no %s baselines among %d", pat, len(all))
		}
	}
	tests := []struct{ tool, agent string }{
		{"", ""}, {"customer-*", ""}, {"", "support-*"}, {"web-search", "*"}, {"none", ""},
	}
	for _, tc := range tests {
		got, err := p.Baselines(tc.tool, tc.agent)
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
	if _, err := p.Baselines("[", ""); err == nil {
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
