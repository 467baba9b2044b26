package compliance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// complete returns a record carrying every field of the minimum set.
func complete() *record.Record {
	var r record.Record
	r.Reset()
	r.TraceID, r.SpanID, r.AgentID = "task-1", "call-1", "support-agent-prod-01"
	r.Timestamp = time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC)
	r.Tool.Name, r.Tool.Version, r.Tool.TrustLevel = "customer-lookup", "2.3.1", "gold"
	r.Invocation.InputHash, r.Invocation.OutputHash = "sha256:aa", "sha256:bb"
	r.Invocation.DurationMS, r.Invocation.Status = 234, record.StatusSuccess
	r.Invocation.PermissionsUsed = []string{"data_access:read"}
	r.Context.DataClassification, r.Context.Environment = "internal", "production"
	r.RetentionPolicy = "7y-sox"
	return &r
}

func TestMissing(t *testing.T) {
	tests := []struct {
		name  string
		clear func(r *record.Record)
		want  uint16
	}{
		{"complete", func(*record.Record) {}, 0},
		{"trace_id", func(r *record.Record) { r.TraceID = "" }, 1 << FieldTraceID},
		{"span_id", func(r *record.Record) { r.SpanID = "" }, 1 << FieldSpanID},
		{"timestamp", func(r *record.Record) { r.Timestamp = time.Time{} }, 1 << FieldTimestamp},
		{"agent_id", func(r *record.Record) { r.AgentID = "" }, 1 << FieldAgentID},
		{"tool.name", func(r *record.Record) { r.Tool.Name = "" }, 1 << FieldToolName},
		{"tool.version", func(r *record.Record) { r.Tool.Version = "" }, 1 << FieldToolVersion},
		{"tool.trust_level", func(r *record.Record) { r.Tool.TrustLevel = "" }, 1 << FieldTrustLevel},
		{"input_hash", func(r *record.Record) { r.Invocation.InputHash = "" }, 1 << FieldInputHash},
		{"output_hash", func(r *record.Record) { r.Invocation.OutputHash = "" }, 1 << FieldOutputHash},
		{"duration absent", func(r *record.Record) { r.Invocation.DurationMS = record.Absent }, 1 << FieldDuration},
		{"duration 0 is present", func(r *record.Record) { r.Invocation.DurationMS = 0 }, 0},
		{"status", func(r *record.Record) { r.Invocation.Status = "" }, 1 << FieldStatus},
		{"no permissions", func(r *record.Record) { r.Invocation.PermissionsUsed = nil }, 1 << FieldPermissions},
		{"a denial is a permission entry", func(r *record.Record) {
			r.Invocation.PermissionsUsed, r.Invocation.PermissionsDenied = nil, []string{"network:egress"}
		}, 0},
		{"classification", func(r *record.Record) { r.Context.DataClassification = "" }, 1 << FieldClassification},
		{"environment and retention are not in the set", func(r *record.Record) { r.Context.Environment, r.RetentionPolicy = "", "" }, 0},
		{"two fields", func(r *record.Record) { r.Tool.Version, r.Invocation.OutputHash = "", "" }, 1<<FieldToolVersion | 1<<FieldOutputHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := complete()
			tt.clear(r)
			if got := Missing(r); got != tt.want {
				t.Errorf("Missing = %013b, want %013b", got, tt.want)
			}
		})
	}
	if s := Field(NumFields).String(); s != "unknown" {
		t.Errorf("out-of-range field is %q", s)
	}
}

// observeFile decodes testdata/records.jsonl into v.
func observeFile(t *testing.T, v *View) int {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := dec.Decode(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		v.ObserveRecord(&r)
		n++
	}
	return n
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update if intended):\n%s", path, got)
	}
}

// feedChain gives the View chain verdicts and alerts: two producers, one
// with a gap of 3 and an altered record.
func feedChain(v *View) {
	for range 5 {
		v.Chained("runtime-a", true)
	}
	v.Chained("runtime-b", true)
	v.Chained("runtime-b", false)
	v.Finding("runtime-b", KindGap, 3)
	v.Finding("runtime-b", KindAltered, 0)
	for _, a := range []alert.Alert{
		{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: KindGap}},
		{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: KindAltered}},
		{Pattern: ChainPattern, Status: alert.StatusResolved, Details: map[string]any{ChainKindKey: KindAltered}},
	} {
		v.ObserveAlert(&a)
	}
}

// TestGolden pins the counts of a file of records covering every field,
// classification and environment case: the status-page Summary and the
// Prometheus exposition, which must agree.
func TestGolden(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	v := New(reg, Config{})
	if n := observeFile(t, v); n != 17 {
		t.Fatalf("%d records in testdata, want 17", n)
	}
	feedChain(v)
	s := v.Summary()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.json", append(b, '\n'))

	var expo bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			expo.WriteString(mf.GetName())
			for _, l := range m.GetLabel() {
				expo.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			expo.WriteString(" " + formatFloat(m.GetCounter().GetValue()) + "\n")
		}
	}
	golden(t, "metrics.txt", expo.Bytes())

	// Cross-check the two views.
	if got := testutil.ToFloat64(v.records[0]) + testutil.ToFloat64(v.records[1]) + testutil.ToFloat64(v.records[2]) +
		testutil.ToFloat64(v.records[3]) + testutil.ToFloat64(v.records[4]) + testutil.ToFloat64(v.records[5]); got != float64(s.Records) {
		t.Errorf("exported records %v, summary %d", got, s.Records)
	}
	if s.Records != 17 || s.Complete != 10 {
		t.Errorf("records %d complete %d, want 17 and 10", s.Records, s.Complete)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestLabelCaps(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	v := New(reg, Config{MaxRetentionPolicies: 2, MaxProducers: 1})
	r := complete()
	for _, p := range []string{"a", "b", "c", "a", "", "other", "none", "\xff", "d"} {
		r.RetentionPolicy = p
		v.ObserveRecord(r)
	}
	s := v.Summary()
	want := []Count{{"none", 1}, {"a", 2}, {"b", 1}, {"other", 5}}
	if got, _ := json.Marshal(s.RetentionPolicies); string(got) != mustJSON(want) {
		t.Errorf("retention %s, want %s", got, mustJSON(want))
	}
	if got := testutil.ToFloat64(v.retOver); got != 5 {
		t.Errorf("retention overflow %v, want 5", got)
	}
	v.Chained("p1", true)
	v.Chained("p2", true)
	v.Finding("p3", KindFork, 0)
	v.Chained("", false)
	if got := testutil.ToFloat64(v.chain.overflow); got != 3 {
		t.Errorf("producer overflow %v, want 3", got)
	}
	ps := v.Summary().Chain.Producers
	if len(ps) != 2 || ps[0].Producer != "p1" || ps[1].Producer != "other" || ps[1].Records != 2 || ps[1].Tamper != 1 {
		t.Errorf("producers %+v", ps)
	}
	if n := testutil.CollectAndCount(v.retVec); n != 4 {
		t.Errorf("%d retention series, want 4 (none, a, b, other)", n)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestExactAcrossRuns: a run that restarts and re-applies the records a
// previous run processed (flagged as such) counts only the new ones, so
// the two runs together count each record once, as one run would.
func TestExactAcrossRuns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	run := func(v *View, from, to, processedUpTo int) {
		dec := record.NewDecoder(record.DefaultLimits())
		var r record.Record
		for i := from; i < to; i++ {
			if err := dec.Decode(lines[i], &r); err != nil {
				t.Fatal(err)
			}
			v.SetProcessed(i < processedUpTo)
			v.ObserveRecord(&r)
			v.Chained("runtime-a", i%3 != 0)
			if i%5 == 0 {
				v.Finding("runtime-a", KindGap, 2)
				v.ObserveAlert(&alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: KindGap}})
			}
			v.SetProcessed(false)
		}
	}
	one := New(nil, Config{})
	run(one, 0, len(lines), 0)

	// The first run applies 11 records; the second restarts from a
	// snapshot at 6 (or rebuilds from 0) and sees 0..10 as processed.
	for _, from := range []int{6, 0} {
		first, second := New(nil, Config{}), New(nil, Config{})
		run(first, 0, 11, 0)
		run(second, from, len(lines), 11)
		if got, want := mustJSON(sum(first.Summary(), second.Summary())), mustJSON(one.Summary()); got != want {
			t.Errorf("resume at %d: two runs counted\n%s\none run\n%s", from, got, want)
		}
	}
}

// sum adds two summaries of the same label sets.
func sum(a, b Summary) Summary {
	a.Records += b.Records
	a.Complete += b.Complete
	add := func(x, y []Count) {
		for i := range x {
			x[i].N += y[i].N
		}
	}
	add(a.MissingFields, b.MissingFields)
	add(a.Classifications, b.Classifications)
	byLabel := map[string]uint64{}
	for _, c := range append(a.RetentionPolicies[1:], b.RetentionPolicies[1:]...) {
		byLabel[c.Label] += c.N
	}
	ret := []Count{{NoneLabel, a.RetentionPolicies[0].N + b.RetentionPolicies[0].N}}
	var rest []Count
	for l, n := range byLabel {
		rest = append(rest, Count{l, n})
	}
	sortCounts(rest)
	a.RetentionPolicies = append(ret, rest...)
	envs := map[string]EnvCount{}
	for _, e := range append(a.Environments, b.Environments...) {
		x := envs[e.Environment]
		x.Environment, x.Records, x.Complete = e.Environment, x.Records+e.Records, x.Complete+e.Complete
		envs[e.Environment] = x
	}
	a.Environments = a.Environments[:0]
	for _, name := range environments {
		if e, ok := envs[name]; ok {
			a.Environments = append(a.Environments, e)
		}
	}
	a.Chain.Records += b.Chain.Records
	a.Chain.Verified += b.Chain.Verified
	add(a.Chain.Alerts, b.Chain.Alerts)
	p, q := &a.Chain.Producers[0], b.Chain.Producers[0]
	p.Records, p.Verified, p.Gaps, p.Missing, p.Tamper = p.Records+q.Records, p.Verified+q.Verified, p.Gaps+q.Gaps, p.Missing+q.Missing, p.Tamper+q.Tamper
	add(p.Findings, q.Findings)
	return a
}

func TestProcessedCountsNothing(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	v := New(reg, Config{})
	v.SetProcessed(true)
	v.ObserveRecord(complete())
	v.Chained("p", true)
	v.Finding("p", KindFork, 0)
	v.ObserveAlert(&alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: KindFork}})
	s := v.Summary()
	if s.Records != 0 || s.Chain.Records != 0 || len(s.Chain.Producers) != 0 || s.Chain.Alerts[1].N != 0 {
		t.Errorf("a processed message was counted: %+v", s)
	}
	if got := testutil.ToFloat64(v.records[0]); got != 0 {
		t.Errorf("exported %v records", got)
	}
}

// fakeChain stands in for the chain-integrity detector.
type fakeChain struct{ stats ChainStats }

func (f *fakeChain) ReportChainTo(s ChainStats) { f.stats = s }

func TestAttach(t *testing.T) {
	v := New(nil, Config{})
	chain := &fakeChain{}
	ds := []any{"not a detector", chain, 3}
	if n := Attach(v, ds); n != 1 || chain.stats != ChainStats(v) {
		t.Fatalf("attached %d, stats %v", n, chain.stats)
	}
	chain.stats.Chained("runtime-a", true)
	if s := v.Summary().Chain; s.Records != 1 || s.Verified != 1 {
		t.Errorf("chain summary %+v", s)
	}
}

func TestObserveAlert(t *testing.T) {
	tests := []struct {
		name string
		a    alert.Alert
		kind string // "" = not counted
	}{
		{"gap", alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: "gap"}}, "gap"},
		{"stopped", alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: "stopped_chaining", "producer": "x"}}, "stopped_chaining"},
		{"unknown kind", alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: "cosmic_ray"}}, "other"},
		{"kind not a string", alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: 3.0}}, "other"},
		{"no details", alert.Alert{Pattern: ChainPattern, Status: alert.StatusFiring}, "other"},
		{"resolved", alert.Alert{Pattern: ChainPattern, Status: alert.StatusResolved, Details: map[string]any{ChainKindKey: "gap"}}, ""},
		{"other pattern", alert.Alert{Pattern: detect.PatternLatency, Status: alert.StatusFiring, Details: map[string]any{ChainKindKey: "gap"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(nil, Config{})
			v.ObserveAlert(&tt.a)
			var total uint64
			for i, c := range v.Summary().Chain.Alerts {
				total += c.N
				if c.Label == tt.kind && c.N != 1 {
					t.Errorf("kind %s counted %d", c.Label, c.N)
				}
				if got := testutil.ToFloat64(v.chain.alerts[i]); got != float64(c.N) {
					t.Errorf("kind %s: exported %v, summary %d", c.Label, got, c.N)
				}
			}
			if want := map[bool]uint64{true: 0, false: 1}[tt.kind == ""]; total != want {
				t.Errorf("%d alerts counted, want %d", total, want)
			}
		})
	}
}

// The per-record path allocates nothing once labels exist (the benchmarks
// below report the same; this makes it a failing test).
func TestObserveNoAlloc(t *testing.T) {
	v := New(prometheus.NewRegistry(), Config{})
	r := complete()
	partial := complete()
	partial.Tool.Version, partial.Context.DataClassification = "", ""
	v.ObserveRecord(r)
	v.Chained("runtime-a", true)
	if n := testing.AllocsPerRun(100, func() {
		v.ObserveRecord(r)
		v.ObserveRecord(partial)
		v.Chained("runtime-a", true)
	}); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}

func BenchmarkObserveRecord(b *testing.B) {
	v := New(prometheus.NewRegistry(), Config{})
	r := complete()
	partial := complete()
	partial.Tool.Version, partial.RetentionPolicy = "", ""
	recs := []*record.Record{r, r, r, partial}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.ObserveRecord(recs[i&3])
	}
}

func BenchmarkChained(b *testing.B) {
	v := New(prometheus.NewRegistry(), Config{})
	b.ReportAllocs()
	for b.Loop() {
		v.Chained("runtime-a", true)
	}
}
