package registry

import (
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// The table keeps the routing order the engine always had: it decides the
// order of findings within one record and of config sections and reports.
func TestDefaultOrder(t *testing.T) {
	want := []string{detect.PatternFrequency, detect.PatternInputNovelty, detect.PatternDenialSpike, detect.PatternOutputSize, detect.PatternLatency, detect.PatternChainIntegrity, detect.PatternEgress}
	if got := Default.Patterns(); !slices.Equal(got, want) {
		t.Errorf("patterns %v, want %v", got, want)
	}
}

// Every factory's defaults validate and build a detector of its own
// pattern, which Reconfigure accepts; another factory's detector or
// params are refused with an error, not a panic.
func TestFactories(t *testing.T) {
	fs := Default.Factories()
	built := make([]detect.Detector, len(fs))
	for i, f := range fs {
		sec := f.DefaultConfig()
		if es := sec.Validate(); len(es) > 0 {
			t.Errorf("%s: defaults invalid: %v", f.Pattern(), es)
		}
		if !sec.On() {
			t.Errorf("%s: off by default", f.Pattern())
		}
		if f.DefaultConfig() == sec {
			t.Errorf("%s: DefaultConfig returns a shared section", f.Pattern())
		}
		ps := f.NewParams(sec)
		if !reflect.DeepEqual(ps.BaseSection(), sec) {
			t.Errorf("%s: params base %+v, want %+v", f.Pattern(), ps.BaseSection(), sec)
		}
		d, err := f.New(ps, baseline.DefaultConfig())
		if err != nil {
			t.Fatalf("%s: %v", f.Pattern(), err)
		}
		if d.Pattern() != f.Pattern() {
			t.Errorf("factory %s built a %s detector", f.Pattern(), d.Pattern())
		}
		if err := f.Reconfigure(d, f.NewParams(f.DefaultConfig())); err != nil {
			t.Errorf("%s: Reconfigure: %v", f.Pattern(), err)
		}
		built[i] = d
	}
	for i, f := range fs {
		o := fs[(i+1)%len(fs)]
		if err := f.Reconfigure(built[(i+1)%len(fs)], f.NewParams(f.DefaultConfig())); err == nil {
			t.Errorf("%s accepted a %s detector", f.Pattern(), o.Pattern())
		}
		if err := f.Reconfigure(built[i], o.NewParams(o.DefaultConfig())); err == nil {
			t.Errorf("%s accepted %s params", f.Pattern(), o.Pattern())
		}
		if _, err := f.New(o.NewParams(o.DefaultConfig()), baseline.DefaultConfig()); err == nil {
			t.Errorf("%s built from %s params", f.Pattern(), o.Pattern())
		}
		if err := f.NewParams(f.DefaultConfig()).AddRule("a", "t", o.DefaultConfig()); err == nil {
			t.Errorf("%s params took a %s rule", f.Pattern(), o.Pattern())
		}
	}
}

func TestMakeRegistryRejects(t *testing.T) {
	f := Default.Factories()[0]
	if _, err := detect.MakeRegistry(f, Default.Factories()[1], f); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate: %v", err)
	}
	var unnamed detect.FactoryOf[struct{}, detect.Detector]
	if _, err := detect.MakeRegistry(unnamed); err == nil || !strings.Contains(err.Error(), "no pattern name") {
		t.Errorf("unnamed: %v", err)
	}
}

// baseline is pure statistics: it knows nothing of records, findings or
// alerts, so detectors depend on it and never the reverse.
func TestBaselineIsPureStatistics(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/toolwatch/toolwatch/baseline/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/toolwatch/toolwatch/baseline") {
		t.Fatalf("go list -deps does not list baseline itself:\n%s", out)
	}
	const mod = "github.com/toolwatch/toolwatch/"
	for _, d := range deps {
		if !strings.HasPrefix(d, mod) {
			continue
		}
		switch p := strings.TrimPrefix(d, mod); {
		case p == "alert" || strings.HasPrefix(p, "alert/"),
			p == "record" || strings.HasPrefix(p, "record/"),
			p == "detect" || strings.HasPrefix(p, "detect/"):
			t.Errorf("baseline depends on %s", d)
		}
	}
}

// No detector exposes its internals to other packages: neither an exported
// field (also one promoted from an embedded struct) nor an exported method
// whose signature names a type of a detect/internal package. Go's internal
// rule keeps other packages from importing those packages; this keeps them
// from reaching their values through a detector.
func TestDetectorsHideInternals(t *testing.T) {
	for _, f := range Default.Factories() {
		d, err := f.New(f.NewParams(f.DefaultConfig()), baseline.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range internalLeaks(reflect.TypeOf(d)) {
			t.Errorf("%s: %s", f.Pattern(), leak)
		}
	}
}

// The check itself catches an embedded internal struct. detect.Params
// stands in for an internal type: with the marker "/detect" its package
// counts as internal.
func TestInternalLeaksFindsEmbedding(t *testing.T) {
	type leaky struct{ detect.Params[int] }
	if got := internalLeaksIn(reflect.TypeFor[*leaky](), "/detect"); len(got) == 0 {
		t.Error("promoted exported fields of an embedded struct were not reported")
	}
	type sealed struct{ p detect.Params[int] }
	if got := internalLeaksIn(reflect.TypeFor[*sealed](), "/detect"); len(got) != 0 {
		t.Errorf("an unexported field was reported: %v", got)
	}
}

func internalLeaks(t reflect.Type) []string { return internalLeaksIn(t, "/detect/internal/") }

// internalLeaksIn lists the exported fields and methods of t (a pointer to
// a struct) whose types, or whose embedding path, come from a package whose
// path contains marker.
func internalLeaksIn(t reflect.Type, marker string) []string {
	var out []string
	from := func(t reflect.Type) bool {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		return strings.Contains(t.PkgPath(), marker)
	}
	st := t.Elem()
	for _, f := range reflect.VisibleFields(st) {
		if !f.IsExported() {
			continue
		}
		leak := from(f.Type)
		for i := 1; i < len(f.Index) && !leak; i++ {
			leak = from(st.FieldByIndex(f.Index[:i]).Type)
		}
		if leak {
			out = append(out, "exported field "+f.Name+" "+f.Type.String())
		}
	}
	for i := range t.NumMethod() {
		m := t.Method(i)
		for j := range m.Type.NumIn() {
			if from(m.Type.In(j)) && j > 0 {
				out = append(out, "method "+m.Name+" takes "+m.Type.In(j).String())
			}
		}
		for j := range m.Type.NumOut() {
			if from(m.Type.Out(j)) {
				out = append(out, "method "+m.Name+" returns "+m.Type.Out(j).String())
			}
		}
	}
	return out
}

// A nil registry (a zero config.Detectors) is empty, not a panic.
func TestNilRegistryIsEmpty(t *testing.T) {
	var r *detect.Registry
	if len(r.Factories()) != 0 || len(r.Patterns()) != 0 {
		t.Error("nil registry not empty")
	}
	if _, ok := r.Lookup("latency"); ok {
		t.Error("nil registry found latency")
	}
}
