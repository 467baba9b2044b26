package pipeline

import (
	"encoding/binary"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/internal/validate"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/telemetry"
)

// toyConfig is the toy detector's config section.
type toyConfig struct {
	Enabled bool `yaml:"enabled"`
	// Every: a finding at every Every-th call of a tool.
	Every int     `yaml:"every"`
	Score float64 `yaml:"score"`
}

func (c *toyConfig) Validate() validate.Errors {
	var es validate.Errors
	if c.Every < 1 {
		es.Addf("every", "must be >= 1")
	}
	return es
}

func (c *toyConfig) On() bool { return c.Enabled }

// toy counts calls per tool and reports every Every-th one. It is a
// detector of its own, registered only here: nothing outside this file
// names it.
type toy struct {
	params *detect.Params[toyConfig]
	calls  map[string]uint64
}

func newToy(p *detect.Params[toyConfig], _ baseline.Config) (*toy, error) {
	return &toy{params: p, calls: map[string]uint64{}}, nil
}

func (d *toy) SetParams(p *detect.Params[toyConfig]) { d.params = p }

func (d *toy) Pattern() string { return "toy" }

func (d *toy) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	n := d.calls[r.Tool.Name] + 1
	d.calls[r.Tool.Name] = n
	c := d.params.For(r.AgentID, r.Tool.Name)
	if n%uint64(c.Every) == 0 {
		f := detect.Finding{Pattern: "toy", Detail: "count", Score: c.Score, Observed: float64(n), Unit: "calls", Summary: "a round number of calls"}
		f.FromRecord(r)
		out = append(out, f)
	}
	return out
}

func (d *toy) Tick(time.Time, []detect.Finding) []detect.Finding { return nil }

func (d *toy) KeyStats() (live int, idle, capacity uint64) { return len(d.calls), 0, 0 }

// MarshalState: u32 tools, then per tool (sorted) u16 name length, name,
// u64 calls.
func (d *toy) MarshalState(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(d.calls)))
	for _, k := range slices.Sorted(maps.Keys(d.calls)) {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint64(b, d.calls[k])
	}
	return b, nil
}

func (d *toy) UnmarshalState(data []byte) error {
	bad := errors.New("malformed toy state")
	if len(data) < 4 {
		return bad
	}
	n, data := binary.LittleEndian.Uint32(data), data[4:]
	calls := map[string]uint64{}
	for range n {
		if len(data) < 2 {
			return bad
		}
		l := int(binary.LittleEndian.Uint16(data))
		if len(data) < 2+l+8 {
			return bad
		}
		calls[string(data[2:2+l])] = binary.LittleEndian.Uint64(data[2+l:])
		data = data[2+l+8:]
	}
	if len(data) != 0 {
		return bad
	}
	d.calls = calls
	return nil
}

var toyFactory = detect.FactoryOf[toyConfig, *toy]{
	Name:      "toy",
	Defaults:  func() toyConfig { return toyConfig{Enabled: true, Every: 10, Score: 90} },
	Build:     newToy,
	SetParams: (*toy).SetParams,
}

var (
	_ detect.State = (*toy)(nil)
	_ detect.Stats = (*toy)(nil)
)

func toyRegistry(t *testing.T) *detect.Registry {
	t.Helper()
	reg, err := detect.MakeRegistry(append(slices.Clone(registry.Default.Factories()), toyFactory)...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func toyRecord(t *testing.T, i int, agent, tool string) []byte {
	t.Helper()
	var r record.Record
	r.Reset()
	r.TraceID, r.SpanID, r.AgentID = "trace-toy", "span-toy", agent
	r.Timestamp = fixedWall().Add(-time.Hour + time.Duration(i)*time.Second)
	r.Tool.Name = tool
	r.Invocation.DurationMS, r.Invocation.Status = 5, record.StatusSuccess
	return r.AppendJSON(nil)
}

// toyAlerts handles one record per tool of tools and returns the pattern
// and tool of each alert raised, checking its runbook link.
func toyAlerts(t *testing.T, p *Pipeline, runbook string, i *int, tools ...string) []string {
	t.Helper()
	var out []string
	for _, tool := range tools {
		*i++
		as, o, err := p.Handle(toyRecord(t, *i, "agent-1", tool))
		if o != record.Applied || err != nil {
			t.Fatalf("record %d: %v %v", *i, o, err)
		}
		for _, a := range as {
			if a.RunbookURL != runbook {
				t.Errorf("runbook_url %q, want %q", a.RunbookURL, runbook)
			}
			out = append(out, a.Pattern+"/"+a.Tool)
		}
	}
	return out
}

func toyOf(t *testing.T, p *Pipeline) *toy {
	t.Helper()
	d, ok := detect.Find[*toy](p.Engine().Detectors(), "toy")
	if !ok {
		t.Fatal("the pipeline has no toy detector")
	}
	return d
}

// A detector registered in a test — one factory value, one registry entry
// — is configured from YAML (its section and an override), built and
// routed, reloaded with its state kept, snapshotted and restored, and
// labelled in the metrics, with no change to config, pipeline or
// telemetry.
func TestToyDetectorThroughTheRegistry(t *testing.T) {
	reg := toyRegistry(t)

	// Configured: the section, an override rule, a runbook link, exact
	// errors for its keys.
	const src = `detectors:
  toy:
    every: 3
overrides:
  - tool: "db-*"
    detectors:
      toy: {every: 2}
alerts:
  runbook_urls:
    toy: "https://runbooks.example/{pattern}"
`
	cfg, err := config.ParseWith(reg, []byte(src), "toy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cfg.Detectors.Lookup("toy")
	if !ok {
		t.Fatal("no toy entry")
	}
	if got := *e.Section.(*toyConfig); got != (toyConfig{Enabled: true, Every: 3, Score: 90}) {
		t.Errorf("toy section %+v", got)
	}
	tp := e.Params.(*detect.Params[toyConfig])
	if tp.For("a", "db-main").Every != 2 || tp.For("a", "web").Every != 3 || tp.For("a", "db-main").Score != 90 {
		t.Errorf("toy params: db-main %+v, web %+v", *tp.For("a", "db-main"), *tp.For("a", "web"))
	}
	for _, tc := range []struct{ src, want string }{
		{"detectors:\n  toy:\n    evry: 2\n", `toy.yaml:3: detectors.toy.evry: unknown key (did you mean "every"?)`},
		{"detectors:\n  toi: {}\n", `toy.yaml:2: detectors.toi: unknown key (did you mean "toy"?)`},
		{"detectors:\n  toy: {every: 0}\n", `toy.yaml:2: detectors.toy.every: must be >= 1`},
		{"overrides:\n  - tool: x\n    detectors:\n      toy: {every: 0}\n", `toy.yaml:4: overrides[0].detectors.toy.every: must be >= 1`},
		{"alerts:\n  runbook_urls:\n    tyo: \"https://x.example\"\n", `toy.yaml:3: alerts.runbook_urls.tyo: unknown key (did you mean "toy"?)`},
	} {
		if _, err := config.ParseWith(reg, []byte(tc.src), "toy.yaml"); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %s", tc.src, err, tc.want)
		}
	}
	if _, err := config.Parse([]byte(src), "toy.yaml"); err == nil || !strings.Contains(err.Error(), "detectors.toy: unknown key") {
		t.Errorf("the shipped registry accepted the toy section: %v", err)
	}

	// Built and routed last, as registered.
	p := New(cfg, fixedWall)
	ds := p.Engine().Detectors()
	if got := ds[len(ds)-1].Pattern(); got != "toy" || len(ds) != len(reg.Factories()) {
		t.Fatalf("detectors %d, last %q; want %d, toy", len(ds), got, len(reg.Factories()))
	}
	i := 0
	got := toyAlerts(t, p, "https://runbooks.example/toy", &i, "web", "db-main", "web", "db-main", "web")
	if want := []string{"toy/db-main", "toy/web"}; !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if fs := p.Manager().Firing(); fs != 2 {
		t.Errorf("firing %d, want 2", fs)
	}

	// Labelled: its alerts and key counts have their own label values.
	preg := prometheus.NewPedanticRegistry()
	tm := telemetry.New(preg, telemetry.Config{Patterns: cfg.Registry().Patterns()})
	tm.ObserveAlert("toy", alert.SeverityCritical, alert.StatusFiring)
	live, idle, capacity := toyOf(t, p).KeyStats()
	tm.SetDetectorKeys("toy", live, capacity, idle)
	if n := metricValue(t, preg, "toolwatch_alerts_total", "pattern", "toy"); n != 1 {
		t.Errorf(`toolwatch_alerts_total{pattern="toy"} = %v, want 1`, n)
	}
	if n := metricValue(t, preg, "toolwatch_baseline_keys", "detector", "toy"); n != 2 {
		t.Errorf(`toolwatch_baseline_keys{detector="toy"} = %v, want 2`, n)
	}

	// Reloaded: every: 5 everywhere (and no cooldown, so the repeat is
	// sent); the counts survive, so the 5th web call (2 more) alerts,
	// which neither the old params nor a fresh detector would do.
	cfg2, err := config.ParseWith(reg, []byte("detectors:\n  toy: {every: 5}\nalerts: {cooldown: 0s}\n"), "toy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reconfigure(cfg2); err != nil {
		t.Fatal(err)
	}
	if got := toyOf(t, p).params.For("a", "db-main").Every; got != 5 {
		t.Errorf("after reload every = %d, want 5", got)
	}
	if got := toyAlerts(t, p, "", &i, "web", "web"); !slices.Equal(got, []string{"toy/web"}) {
		t.Errorf("after reload alerts %v, want [toy/web]", got)
	}

	// Snapshotted and restored under the detector's own section.
	sections, err := p.MarshalSections()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sections["detector/toy"]; !ok {
		t.Fatalf("no detector/toy section in %v", slices.Sorted(maps.Keys(sections)))
	}
	fresh := New(cfg2, fixedWall)
	if missing, err := fresh.UnmarshalSections(sections); err != nil || len(missing) != 0 {
		t.Fatalf("restore: missing %v, %v", missing, err)
	}
	if want, got := toyOf(t, p).calls, toyOf(t, fresh).calls; !reflect.DeepEqual(got, want) || want["web"] != 5 {
		t.Errorf("restored toy state %v, want %v", got, want)
	}
	delete(sections, "detector/toy")
	if missing, err := New(cfg2, fixedWall).UnmarshalSections(sections); err != nil || !slices.Equal(missing, []string{"toy"}) {
		t.Errorf("without its section: missing %v, %v; want [toy]", missing, err)
	}

	// Disabled: not built.
	off, err := config.ParseWith(reg, []byte("detectors:\n  toy: {enabled: false}\n"), "toy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := detect.Find[*toy](New(off, fixedWall).Engine().Detectors(), "toy"); ok {
		t.Error("disabled toy detector was built")
	}
}

// A configuration whose registry lacks a running detector is refused by
// Reconfigure before anything changes.
func TestReconfigureRefusesMissingDetector(t *testing.T) {
	p := New(config.DefaultWith(toyRegistry(t)), fixedWall)
	if err := p.Reconfigure(config.Default()); err == nil || !strings.Contains(err.Error(), `no detector "toy"`) {
		t.Errorf("Reconfigure without toy: %v", err)
	}
}

// The registry rejects a second factory of a pattern.
func TestRegistryRejectsDuplicate(t *testing.T) {
	dup := detect.FactoryOf[toyConfig, *toy]{Name: "latency", Defaults: toyFactory.Defaults, Build: newToy, SetParams: (*toy).SetParams}
	if _, err := detect.MakeRegistry(append(slices.Clone(registry.Default.Factories()), dup)...); err == nil || !strings.Contains(err.Error(), `duplicate detector pattern "latency"`) {
		t.Errorf("duplicate accepted: %v", err)
	}
}

func metricValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		sum := 0.0
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
		return sum
	}
	return -1
}
