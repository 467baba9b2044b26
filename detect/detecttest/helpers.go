package detecttest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/internal/validate"
	"github.com/toolwatch/toolwatch/record"
)

// MustMarshal returns d's snapshot.
func MustMarshal(t testing.TB, d detect.State) []byte {
	t.Helper()
	b, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Restore restores data into d, failing t on error, and returns d's
// snapshot taken right after (golden files: the re-encoding must equal
// the file).
func Restore(t testing.TB, d detect.State, data []byte) []byte {
	t.Helper()
	if err := d.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	return MustMarshal(t, d)
}

// EncodeFindings returns fs as JSON, for byte comparison.
func EncodeFindings(t testing.TB, fs []detect.Finding) []byte {
	t.Helper()
	b, err := json.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden compares got with testdata/findings.golden, first rewriting the
// file with got when update is set.
func Golden(t testing.TB, got []byte, update bool) {
	t.Helper()
	path := filepath.Join("testdata", "findings.golden")
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("findings differ from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// WantFieldError checks that es is empty (path "") or holds exactly one
// error, at path.
func WantFieldError(t testing.TB, es validate.Errors, path string) {
	t.Helper()
	if path == "" {
		if len(es) != 0 {
			t.Fatalf("unexpected errors %v", es)
		}
		return
	}
	if len(es) != 1 || es[0].Path != path {
		t.Fatalf("errors %v, want one at %s", es, path)
	}
}

// Corruptions returns the damaged copies of the snapshot good every
// detector must reject (empty, truncated, one byte short, a flipped bit,
// garbage, a trailing byte under a valid checksum) together with the
// detector's own crafted cases.
func Corruptions(good []byte, crafted map[string][]byte) map[string][]byte {
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	cases := map[string][]byte{
		"empty":         nil,
		"truncated":     good[:len(good)/2],
		"one short":     good[:len(good)-1],
		"bit flip":      flipped,
		"garbage":       []byte("not a snapshot at all"),
		"trailing byte": encoding.Seal(append(bytes.Clone(good[:len(good)-4]), 0)),
	}
	for name, data := range crafted {
		cases[name] = data
	}
	return cases
}

// Sealed is a snapshot record of version v whose body put writes, with its
// CRC-32C: a detector's crafted cases for Corruptions.
func Sealed(v uint64, put func(*encoding.Encbuf)) []byte {
	return encoding.AppendRecord(nil, v, 0, put)
}

// RejectsCorrupt checks that d, whose snapshot is before, accepts the
// well-formed snapshot wellFormed, and that each of cases fails to restore
// and leaves d's state unchanged.
func RejectsCorrupt(t testing.TB, d detect.State, before, wellFormed []byte, cases map[string][]byte) {
	t.Helper()
	if err := d.UnmarshalState(wellFormed); err != nil {
		t.Fatalf("well-formed crafted state rejected: %v", err)
	}
	if err := d.UnmarshalState(before); err != nil {
		t.Fatal(err)
	}
	for name, data := range cases {
		if err := d.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		}
		if after := MustMarshal(t, d); !bytes.Equal(after, before) {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
}

// BenchObserve is a benchmark loop of d.Observe over records taken in
// turn from rs (a power-of-two length), reporting allocations.
func BenchObserve(b *testing.B, d detect.Detector, rs []*record.Record) {
	out := make([]detect.Finding, 0, 4)
	mask := len(rs) - 1
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out = d.Observe(rs[i&mask], out[:0])
		i++
	}
}

// ObserveAllocs returns the average allocations of d.Observe over runs
// records taken in turn from rs (a power-of-two length), from rs[start].
func ObserveAllocs(runs int, d detect.Detector, rs []*record.Record, start int) float64 {
	out := make([]detect.Finding, 0, 4)
	i, mask := start, len(rs)-1
	return testing.AllocsPerRun(runs, func() {
		out = d.Observe(rs[i&mask], out[:0])
		i++
	})
}

// Key drives one (agent, tool) key of a distribution detector in event
// time: one record per Step from Start, a Tick every minute of event time.
type Key struct {
	D     detect.Detector
	Rec   func(ts time.Time, v float64) *record.Record // builds the record for value v
	Start time.Time
	Step  time.Duration
	i     int
	tick  time.Time
}

// Now is the event time of the next record.
func (k *Key) Now() time.Time { return k.Start.Add(time.Duration(k.i) * k.Step) }

// Run sends n records with values gen(elapsed) and returns the findings.
func (k *Key) Run(n int, gen func(elapsed time.Duration) float64) []detect.Finding {
	var all, out []detect.Finding
	for range n {
		ts := k.Now()
		out = k.D.Observe(k.Rec(ts, gen(ts.Sub(k.Start))), out[:0])
		all = append(all, out...)
		if ts.Sub(k.tick) >= time.Minute {
			k.tick = ts
			out = k.D.Tick(ts, out[:0])
			all = append(all, out...)
		}
		k.i++
	}
	return all
}

// MaxPerDay is the largest number of findings scoring at least minScore
// in one UTC day, and that day.
func MaxPerDay(fs []detect.Finding, minScore float64) (n int, day string) {
	per := map[string]int{}
	for _, f := range fs {
		if f.Score >= minScore {
			d := f.EventTime.UTC().Format("2006-01-02")
			per[d]++
			if per[d] > n {
				n, day = per[d], d
			}
		}
	}
	return n, day
}

// First returns the first finding with detail, or nil.
func First(fs []detect.Finding, detail string) *detect.Finding {
	for i := range fs {
		if fs[i].Detail == detail {
			return &fs[i]
		}
	}
	return nil
}

// New validates cfg and builds a detector of it (no overrides) with mk,
// failing t on a config error.
func New[C any, PC interface {
	*C
	Validate() validate.Errors
}, D any](t testing.TB, cfg C, b baseline.Config, mk func(*detect.Params[C], baseline.Config) D) D {
	t.Helper()
	if es := PC(&cfg).Validate(); len(es) > 0 {
		t.Fatalf("config invalid: %v", es)
	}
	return mk(detect.NewParams(cfg), b)
}

// Record is a complete record of agent calling tool at ts (success,
// production, every optional number absent), for tests to vary.
func Record(ts time.Time, agent, tool string) *record.Record {
	return &record.Record{
		TraceID: "trace-1", SpanID: "span-1", Timestamp: ts, AgentID: agent,
		Tool:                 record.Tool{Name: tool, Version: "1.0.0", VerificationScore: record.Absent},
		Invocation:           record.Invocation{Status: record.StatusSuccess, OutputBytes: record.Absent, InputBytes: record.Absent},
		Context:              record.Context{TaskID: "task-1", Environment: "production"},
		DataSubjectsAffected: record.Absent,
	}
}

// Episode is what a metric-series class test expects of a key's findings:
// the anomaly starts at Start (Anomalous false: the whole run is normal);
// before it at most MaxPerDay findings scoring ≥ 40 on any day; from it on
// a Want finding within Within (Want "": none required) and at most
// MaxEpisode findings in all.
type Episode struct {
	Start      time.Time
	Anomalous  bool
	MaxPerDay  int
	Want       string
	Within     time.Duration
	MaxEpisode int
}

// CheckEpisode fails t where fs does not meet e.
func CheckEpisode(t testing.TB, fs []detect.Finding, e Episode) {
	t.Helper()
	var before, during []detect.Finding
	for _, f := range fs {
		if f.EventTime.Before(e.Start) || !e.Anomalous {
			before = append(before, f)
		} else {
			during = append(during, f)
		}
	}
	if n, day := MaxPerDay(before, 40); n > e.MaxPerDay {
		t.Errorf("%d findings on %s before the anomaly, want ≤ %d", n, day, e.MaxPerDay)
	}
	if e.Want != "" {
		f := First(during, e.Want)
		if f == nil {
			t.Fatalf("no %s finding; during the anomaly: %v", e.Want, FindingsJSON(t, during))
		}
		if d := f.EventTime.Sub(e.Start); d > e.Within {
			t.Errorf("%s after %v, want within %v", e.Want, d, e.Within)
		}
	}
	if len(during) > e.MaxEpisode {
		t.Errorf("%d findings during the anomaly, want ≤ %d: %v", len(during), e.MaxEpisode, FindingsJSON(t, during))
	}
}
