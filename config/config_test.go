package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/denials"
	"github.com/toolwatch/toolwatch/detect/frequency"
	"github.com/toolwatch/toolwatch/detect/latency"
	"github.com/toolwatch/toolwatch/internal/secret"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Each invalid file must produce exactly this error text.
func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string // lines, without the "testdata/FILE" prefix
	}{
		{"invalid-unknown-top.yaml", []string{`:2: natz: unknown key (did you mean "nats"?)`}},
		{"invalid-unknown-nested.yaml", []string{`:3: time.tick: unknown key`}},
		{"invalid-detector-typo.yaml", []string{`:5: detectors.latency.enabeld: unknown key (did you mean "enabled"?)`}},
		{"invalid-range.yaml", []string{`:3: limits.max_depth: must be between 3 and 256`}},
		{"invalid-cross-field.yaml", []string{`:4: alerts.bands.warning: must be greater than bands.info (70)`}},
		{"invalid-duration.yaml", []string{
			`:2: time.tick_interval: cannot parse "fast" as a duration (e.g. "30s", "5m", "1h30m")`,
			`:3: time.idle_advance: cannot parse "10" as a duration (e.g. "30s", "5m", "1h30m")`,
		}},
		{"invalid-type.yaml", []string{
			`:2: limits.max_record_bytes: cannot parse "big" as an integer`,
			`:3: metrics: expected a mapping, got a sequence`,
			`:6: log.level: expected a string, got a sequence`,
			`:9: detectors.latency.enabled: cannot parse "maybe" as a boolean`,
			`:11: baseline.compression: must be a finite number`,
		}},
		{"invalid-duplicate.yaml", []string{
			`:3: time.tick_interval: duplicate key (first defined at line 2)`,
			`:4: time: duplicate key (first defined at line 1)`,
		}},
		{"invalid-glob.yaml", []string{`:2: overrides[0].tool: bad glob "db-[": syntax error in pattern`}},
		{"invalid-override-key.yaml", []string{
			`:4: overrides[0].detectors.latncy: unknown key (did you mean "latency"?)`,
			`:7: overrides[0].detectors.latency.enabeld: unknown key (did you mean "enabled"?)`,
			`:8: overrides[1].detectors: must name at least one detector`,
			`:9: overrides[2]: must set tool and/or agent`,
		}},
		{"invalid-many.yaml", []string{
			`:2: log.level: must be one of debug, info, warn, error`,
			`:3: log.format: must be auto, json or console`,
			`:5: metrics.listen: must be host:port, e.g. "127.0.0.1:9464"`,
			`:6: metrics.path: must start with "/"`,
			`:7: metrics.pth: unknown key (did you mean "path"?)`,
		}},
		{"invalid-links.yaml", []string{
			`:2: alerts.trace_url: unknown placeholder {traceid} (known: {trace_id}, {span_id}, {task_id}, {agent_id}, {tool}, {pattern})`,
			`:4: alerts.runbook_urls.latency: must be an http or https URL, e.g. "https://tempo.example/explore?traceId={trace_id}"`,
			`:5: alerts.runbook_urls.latncy: unknown key (did you mean "latency"?)`,
		}},
		{"invalid-syntax.yaml", []string{`:2: syntax error: did not find expected key`}},
		{"invalid-toplevel.yaml", []string{`:1: expected a mapping of sections at the top level, got a sequence`}},
		{"invalid-multidoc.yaml", []string{`:3: only one YAML document is allowed`}},
		{"invalid-multidoc-syntax.yaml", []string{`:4: syntax error: did not find expected node content`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := "testdata/" + tt.file
			var want strings.Builder
			for i, l := range tt.want {
				if i > 0 {
					want.WriteByte('\n')
				}
				want.WriteString(path + l)
			}
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = nil error", path)
			}
			if c != nil {
				t.Errorf("Load returned a config along with the error")
			}
			if got := err.Error(); got != want.String() {
				t.Errorf("error:\n%s\nwant:\n%s", got, want.String())
			}
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(tt.want) {
				t.Errorf("want *Error with %d problems, got %#v", len(tt.want), err)
			}
			if cerr := Check(path); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check = %v, want the Load error", cerr)
			}
		})
	}
}

// The shipped config.yaml documents every knob with its default. This test
// must stay true as section owners add knobs: a new field needs its
// default in DefaultX() and the same value, with a comment, in config.yaml.
func TestShippedConfigIsDefault(t *testing.T) {
	got, err := Load("../config.yaml")
	if err != nil {
		t.Fatalf("Load(../config.yaml): %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml differs from Default() at: %s", strings.Join(diffPaths(reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem(), ""), "; "))
	}
	if err := Default().Validate().Err(); err != nil {
		t.Errorf("Default() is invalid: %v", err)
	}
}

// Every key of every section appears in config.yaml (DeepEqual alone
// would pass with an undocumented knob, since it keeps its default).
func TestShippedConfigListsEveryKnob(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	d := newDecoder()
	d.decode(doc.Content[0], reflect.ValueOf(Default()).Elem(), "", 1)
	if len(d.probs) > 0 {
		t.Fatalf("decode: %v", d.probs)
	}
	var missing []string
	for _, p := range knobPaths(reflect.ValueOf(Default()).Elem(), "") {
		if _, ok := d.lines[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("config.yaml does not document: %s", strings.Join(missing, ", "))
	}
}

// diffPaths lists the key paths (with both values) where a and b differ.
func diffPaths(a, b reflect.Value, prefix string) []string {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	if a.Type() == detectorsType {
		var out []string
		da, db := a.Addr().Interface().(*Detectors).All(), b.Addr().Interface().(*Detectors).All()
		for i := range da {
			out = append(out, diffPaths(reflect.ValueOf(da[i].Section).Elem(), reflect.ValueOf(db[i].Section).Elem(), joinPath(prefix, da[i].Factory.Pattern()))...)
		}
		if len(out) == 0 {
			out = append(out, prefix+" (params)")
		}
		return out
	}
	t := a.Type()
	if t.Kind() != reflect.Struct || len(structFields(t)) == 0 {
		return []string{fmt.Sprintf("%s (file %v, default %v)", prefix, a.Interface(), b.Interface())}
	}
	var out []string
	for _, f := range structFields(t) {
		out = append(out, diffPaths(a.FieldByIndex(f.index), b.FieldByIndex(f.index), joinPath(prefix, f.key))...)
	}
	if len(out) == 0 { // differs outside the yaml keys (e.g. Params)
		out = append(out, prefix+" (non-yaml fields)")
	}
	return out
}

// knobPaths lists the key paths of v: a struct's keys recursively (an
// empty struct is itself a leaf, so its section must still be present),
// each registered detector's section, and each key of a map that has
// default keys (alerts.runbook_urls: one per pattern).
func knobPaths(v reflect.Value, prefix string) []string {
	t := v.Type()
	switch {
	case t == detectorsType:
		var out []string
		for _, e := range v.Addr().Interface().(*Detectors).All() {
			out = append(out, knobPaths(reflect.ValueOf(e.Section).Elem(), joinPath(prefix, e.Factory.Pattern()))...)
		}
		return out
	case t.Kind() == reflect.Map && v.Len() > 0:
		var out []string
		for _, k := range v.MapKeys() {
			out = append(out, joinPath(prefix, k.String()))
		}
		return out
	case t.Kind() != reflect.Struct || t == nodeType || len(structFields(t)) == 0 ||
		reflect.PointerTo(t).Implements(textUnmarshT) || reflect.PointerTo(t).Implements(unmarshalerT):
		return []string{prefix}
	}
	var out []string
	for _, f := range structFields(t) {
		out = append(out, knobPaths(v.FieldByIndex(f.index), joinPath(prefix, f.key))...)
	}
	return out
}

// paramsOf returns pattern's params in c as *detect.Params[T].
func paramsOf[T any](t *testing.T, c *Config, pattern string) *detect.Params[T] {
	t.Helper()
	e, ok := c.Detectors.Lookup(pattern)
	if !ok {
		t.Fatalf("no detector %q", pattern)
	}
	p, ok := e.Params.(*detect.Params[T])
	if !ok {
		t.Fatalf("%s params are %T", pattern, e.Params)
	}
	return p
}

func TestDecodeOnTopOfDefaults(t *testing.T) {
	c, err := Parse([]byte("time:\n  tick_interval: 1m\nlog: {level: debug}\nmetrics:\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Time.TickInterval = time.Minute
	want.Log.Level = "debug"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	for _, empty := range []string{"", "# only a comment\n", "{}"} {
		c, err := Parse([]byte(empty), "x.yaml")
		if err != nil || !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %v, %v; want Default()", empty, c, err)
		}
	}
}

func TestOverrides(t *testing.T) {
	src := `
detectors:
  latency: {enabled: true}
  frequency: {enabled: false}
overrides:
  - tool: "db-*"
    detectors:
      latency:
        enabled: false
  - agent: "batch-*"
    tool: "fetch_url"
    detectors:
      latency: {enabled: true}
      frequency: {enabled: true}
`
	c, err := Parse([]byte(src), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lat, freq := paramsOf[latency.Config](t, c, "latency"), paramsOf[frequency.Config](t, c, "frequency")
	den := paramsOf[denials.Config](t, c, "denial_spike")
	if len(lat.Rules) != 2 || len(freq.Rules) != 1 || len(den.Rules) != 0 {
		t.Fatalf("rules: latency %d, frequency %d, denial_spike %d; want 2, 1, 0",
			len(lat.Rules), len(freq.Rules), len(den.Rules))
	}
	tests := []struct {
		agent, tool   string
		latency, freq bool
	}{
		{"a1", "db-main", false, false},
		{"", "db-main", false, false}, // tool-level: the tool-only rule applies
		{"a1", "web", true, false},
		{"batch-7", "fetch_url", true, true},
		{"", "fetch_url", true, false}, // agent rules do not apply at tool level
		{"other", "fetch_url", true, false},
	}
	for _, tt := range tests {
		if got := lat.For(tt.agent, tt.tool).Enabled; got != tt.latency {
			t.Errorf("latency.For(%q, %q).Enabled = %v, want %v", tt.agent, tt.tool, got, tt.latency)
		}
		if got := freq.For(tt.agent, tt.tool).Enabled; got != tt.freq {
			t.Errorf("frequency.For(%q, %q).Enabled = %v, want %v", tt.agent, tt.tool, got, tt.freq)
		}
	}
	if e, _ := c.Detectors.Lookup("latency"); !e.Section.On() || !lat.Base.Enabled {
		t.Errorf("override changed the base config")
	}
}

// Every registered detector has a section whose params take it as base,
// and an override on its key lands in its params only.
func TestParamsMatchDetectors(t *testing.T) {
	for _, e := range Default().Detectors.All() {
		key := e.Factory.Pattern()
		if reflect.TypeOf(e.Params.BaseSection()) != reflect.TypeOf(e.Section) ||
			!reflect.DeepEqual(e.Params.BaseSection(), e.Section) {
			t.Errorf("%s: params base %#v, want the section %#v", key, e.Params.BaseSection(), e.Section)
		}
		src := "overrides:\n  - tool: t\n    detectors:\n      " + key + ": {}\n"
		c, err := Parse([]byte(src), "x.yaml")
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, o := range c.Detectors.All() {
			n := reflect.ValueOf(o.Params).Elem().FieldByName("Rules").Len()
			if want := b2i(o.Factory.Pattern() == key); n != want {
				t.Errorf("override on %s: %s has %d rules, want %d", key, o.Factory.Pattern(), n, want)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// testSection stands in for a detector config with several knobs, so the
// override semantics are tested independently of the real detectors.
type testSection struct {
	MinSamples int            `yaml:"min_samples"`
	Quantile   float64        `yaml:"quantile"`
	Window     time.Duration  `yaml:"window"`
	Labels     map[string]int `yaml:"labels"`
	Token      secret.Ref     `yaml:"token"`
}

func (s *testSection) On() bool { return true }

// detectorParams builds params of base with the override rules of key.
func detectorParams(d *decoder, c *Config, key string, base testSection) *detect.Params[testSection] {
	p := detect.NewParams(base)
	d.overrideRules(c, key, &base, p)
	return p
}

func (s *testSection) Validate() validate.Errors {
	var es validate.Errors
	if s.MinSamples < 10 {
		es.Addf("min_samples", "must be >= 10")
	}
	if s.Quantile <= 0 || s.Quantile >= 1 {
		es.Addf("quantile", "must be in (0,1)")
	}
	if s.Window < time.Minute && s.MinSamples > 100 {
		es.Addf("", "window must be >= 1m when min_samples > 100")
	}
	return es
}

func parseOverrides(t *testing.T, src string) (*Config, *decoder) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c := Default()
	d := newDecoder()
	d.decode(doc.Content[0], reflect.ValueOf(c).Elem(), "", 1)
	d.checkOverrides(c)
	return c, d
}

func TestOverrideChangesOnlyNamedKeys(t *testing.T) {
	c, d := parseOverrides(t, `
overrides:
  - tool: "db-*"
    detectors:
      latency:
        quantile: 0.5
        labels: {b: 2}
`)
	base := testSection{MinSamples: 20, Quantile: 0.99, Window: time.Hour, Labels: map[string]int{"a": 1}, Token: secret.Env("TOK")}
	p := detectorParams(d, c, "latency", base)
	if len(d.probs) > 0 {
		t.Fatalf("problems: %v", d.probs)
	}
	want := base
	want.Quantile = 0.5
	want.Labels = map[string]int{"a": 1, "b": 2}
	if got := *p.For("x", "db-main"); !reflect.DeepEqual(got, want) {
		t.Errorf("override config = %+v, want %+v", got, want)
	}
	if got := *p.For("x", "web"); !reflect.DeepEqual(got, base) || len(base.Labels) != 1 {
		t.Errorf("base config = %+v, want unchanged %+v", got, base)
	}
}

func TestOverrideValidation(t *testing.T) {
	src := `overrides:
  - tool: "db-*"
    detectors:
      latency:
        min_samples: 5
        quantile: 2
  - tool: "big"
    detectors:
      latency:
        min_samples: 500
        window: 1s
  - tool: "tok"
    detectors:
      latency:
        token: hunter2
`
	c, d := parseOverrides(t, src)
	detectorParams(d, c, "latency", testSection{MinSamples: 20, Quantile: 0.9, Window: time.Hour})
	got := (&Error{File: "config.yaml", Problems: d.probs}).Error()
	want := `config.yaml:5: overrides[0].detectors.latency.min_samples: must be >= 10
config.yaml:6: overrides[0].detectors.latency.quantile: must be in (0,1)
config.yaml:9: overrides[1].detectors.latency: window must be >= 1m when min_samples > 100
config.yaml:15: overrides[2].detectors.latency.token: must be a file or env reference, not a literal`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// An invalid base is reported once, at the base, not again per rule.
	c, d = parseOverrides(t, src)
	detectorParams(d, c, "latency", testSection{MinSamples: 1, Quantile: 0.9, Window: time.Hour})
	if len(d.probs) != 1 || !strings.Contains(d.probs[0].Msg, "not a literal") {
		t.Errorf("with an invalid base, problems = %v; want only the token error", d.probs)
	}
}

// wrapped uses yaml's func-style hook with a "plain" alias, as STYLE.md
// recommends; the walk must still see unknown keys inside it.
type wrapped struct {
	Limit int `yaml:"limit"`
	set   bool
}

func (w *wrapped) UnmarshalYAML(unmarshal func(any) error) error {
	type plain wrapped
	if err := unmarshal((*plain)(w)); err != nil {
		return err
	}
	if w.Limit > 99 {
		return errors.New("limit too high for wrapped")
	}
	w.set = true
	return nil
}

func TestDecoderTypes(t *testing.T) {
	type section struct {
		Secret  secret.Ref         `yaml:"secret"`
		Wrapped wrapped            `yaml:"wrapped"`
		Ptr     *int               `yaml:"ptr"`
		List    []string           `yaml:"list"`
		Map     map[string]float64 `yaml:"map"`
		U8      uint8              `yaml:"u8"`
		Any     any                `yaml:"any"`
		Inline  struct {
			Deep string `yaml:"deep"`
		} `yaml:",inline"`
	}
	type root struct {
		Sinks struct {
			Webhook section `yaml:"webhook"`
		} `yaml:"sinks"`
	}
	tests := []struct {
		name, src string
		want      string // problems, one per line; "" for none
		check     func(*section) bool
	}{
		{"secret env", "secret: env:HMAC_KEY", "", func(s *section) bool { return s.Secret == secret.Env("HMAC_KEY") }},
		{"secret file", "secret: file:/etc/tw/key", "", func(s *section) bool { return s.Secret.IsFile() && s.Secret.Name() == "/etc/tw/key" }},
		{"secret literal", "secret: s3cr3t", "3: sinks.webhook.secret: must be a file or env reference, not a literal", nil},
		{"secret mapping", "secret: {file: x}", "3: sinks.webhook.secret: expected a string, got a mapping", nil},
		{"wrapped ok", "wrapped: {limit: 5}", "", func(s *section) bool { return s.Wrapped.Limit == 5 && s.Wrapped.set }},
		{"wrapped typo", "wrapped: {limt: 5}", `3: sinks.webhook.wrapped.limt: unknown key (did you mean "limit"?)`, nil},
		{"wrapped own error", "wrapped: {limit: 500}", "3: sinks.webhook.wrapped: limit too high for wrapped", nil},
		{"pointer", "ptr: 7", "", func(s *section) bool { return s.Ptr != nil && *s.Ptr == 7 }},
		{"list", "list: [a, b]", "", func(s *section) bool { return reflect.DeepEqual(s.List, []string{"a", "b"}) }},
		{"list item type", "list: [a, [b]]", "3: sinks.webhook.list[1]: expected a string, got a sequence", nil},
		{"map", "map: {x: 1.5}", "", func(s *section) bool { return s.Map["x"] == 1.5 }},
		{"map dup", "map: {x: 1, x: 2}", "3: sinks.webhook.map.x: duplicate key (first defined at line 3)", nil},
		{"uint range", "u8: 300", `3: sinks.webhook.u8: cannot parse "300" as a non-negative integer`, nil},
		{"any", "any: {a: [1]}", "", func(s *section) bool { return s.Any != nil }},
		{"inline", "deep: x", "", func(s *section) bool { return s.Inline.Deep == "x" }},
		{"alias", "list: &l [a]\n    map: *l", "4: sinks.webhook.map: expected a mapping, got a sequence", nil},
		{"merge key", "<<: {u8: 1}", "3: sinks.webhook: keys must be plain strings (merge keys and complex keys are not supported)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte("sinks:\n  webhook:\n    "+tt.src+"\n"), &doc); err != nil {
				t.Fatal(err)
			}
			var r root
			d := newDecoder()
			d.decode(doc.Content[0], reflect.ValueOf(&r).Elem(), "", 1)
			var got []string
			for _, p := range d.probs {
				got = append(got, strings.TrimPrefix((&Error{File: "f", Problems: []Problem{p}}).Error(), "f:"))
			}
			if g := strings.Join(got, "\n"); g != tt.want {
				t.Fatalf("problems:\n%s\nwant:\n%s", g, tt.want)
			}
			if tt.check != nil && !tt.check(&r.Sinks.Webhook) {
				t.Errorf("decoded %+v", r.Sinks.Webhook)
			}
		})
	}
}

func TestLineOfFallsBackToSection(t *testing.T) {
	d := newDecoder()
	d.lines["alerts"] = 4
	d.lines["alerts.bands"] = 5
	d.lines["overrides[1]"] = 9
	for path, want := range map[string]int{
		"alerts.bands.info":                5,
		"alerts.cooldown":                  4,
		"overrides[1].detectors.latency.x": 9,
		"metrics.listen":                   0,
		"":                                 0,
	} {
		if got := d.lineOf(path); got != want {
			t.Errorf("lineOf(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"enabled", "quantile", "min_samples"}
	for key, want := range map[string]string{"quantil": "quantile", "enabeld": "enabled", "min_sample": "min_samples", "window": "", "q": ""} {
		if got := suggest(key, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	var ce *Error
	if err == nil || errors.As(err, &ce) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want a wrapped not-exist error", err)
	}
}

// The commented-out overrides example in config.yaml, uncommented, is
// valid, and each rule differs from its base only in the keys it names.
func TestShippedOverrideExample(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	in := false
	for l := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(l, "# overrides:"):
			in = true
		case in && !strings.HasPrefix(l, "#"):
			in = false
		}
		if in {
			example = append(example, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
		}
	}
	if len(example) < 3 {
		t.Fatal("config.yaml has no commented-out overrides example")
	}
	c, err := Parse([]byte(strings.Join(example, "")), "example")
	if err != nil {
		t.Fatalf("example does not parse: %v\n%s", err, strings.Join(example, ""))
	}
	if len(c.Overrides) == 0 {
		t.Fatal("example has no overrides")
	}
	// For each detector, rule j comes from the j-th override naming it.
	for _, e := range c.Detectors.All() {
		key := e.Factory.Pattern()
		base := reflect.ValueOf(e.Section).Elem()
		rules := reflect.ValueOf(e.Params).Elem().FieldByName("Rules")
		j := 0
		for i := range c.Overrides {
			_, n := c.Overrides[i].overrideNode(key)
			if n == nil {
				continue
			}
			named := map[string]bool{}
			for k := 0; k < len(n.Content); k += 2 {
				named[n.Content[k].Value] = true
			}
			rule := rules.Index(j).FieldByName("Config")
			j++
			changed := 0
			for _, sf := range structFields(base.Type()) {
				same := reflect.DeepEqual(base.FieldByIndex(sf.index).Interface(), rule.FieldByIndex(sf.index).Interface())
				if !same && !named[sf.key] {
					t.Errorf("overrides[%d].detectors.%s changed %s, which it does not name", i, key, sf.key)
				}
				if !same {
					changed++
				}
			}
			if changed == 0 {
				t.Errorf("overrides[%d].detectors.%s changes nothing", i, key)
			}
		}
		if j != rules.Len() {
			t.Errorf("%s: %d rules, want %d", key, rules.Len(), j)
		}
	}
}

func TestProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	for i := range maxProblems + 5 {
		b.WriteString("unknown_" + strconv.Itoa(i) + ": 1\n")
	}
	_, err := Parse([]byte(b.String()), "f.yaml")
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != maxProblems+1 {
		t.Fatalf("got %v", err)
	}
	if last := ce.Problems[maxProblems]; last.Msg != "... and 5 more problems" || ce.Problems[0].Path != "unknown_0" {
		t.Errorf("first %+v, last %+v", ce.Problems[0], last)
	}
}

// Knobs removed by issue 9 name their replacement instead of a guess.
func TestRemovedKeysNameTheirReplacement(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"detectors:\n  frequency:\n    spike_ratio: 5\n", "detectors.frequency.spike_ratio: removed: a spike is now judged by its probability: use false_alarm_rate"},
		{"detectors:\n  denial_spike:\n    production_score: 40\n", "detectors.denial_spike.production_score: removed: there is no production rule"},
	} {
		_, err := Parse([]byte(tc.src), "config.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}
