package chain

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"

	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)

// testConfig has key k1 (chaintest.Key(1)) in a PEM file.
func testConfig(t testing.TB) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k1.pem")
	if err := os.WriteFile(path, core.MarshalPublicKeyPEM(chaintest.PublicKey(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Keys = map[string]string{"k1": path}
	if es := c.Validate(); len(es) > 0 {
		t.Fatal(es.Err())
	}
	return c
}

func newDetector(t testing.TB, c Config) *Detector {
	t.Helper()
	d, err := Factory.Build(detect.NewParams(c), baseline.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func stream(n int) []*record.Record {
	s := &chaintest.Stream{Producer: "rt-1", Agent: "agent-a", Tool: "search", KeyID: "k1",
		Key: chaintest.Key(1), CheckpointEvery: 5, Start: t0, Step: time.Second}
	rs := make([]*record.Record, n)
	for i := range rs {
		rs[i] = s.Next()
	}
	return rs
}

// process runs rs through an engine (default time config: 30s lateness,
// 10s ticks) over det, flushing at the end.
func process(det detect.Detector, rs []*record.Record) []detect.Finding {
	e := detect.NewEngine(detect.DefaultTimeConfig(), func() time.Time { return t0.Add(24 * time.Hour) }, det)
	var out []detect.Finding
	for _, r := range rs {
		out, _ = e.Process(r, out)
	}
	out = e.Advance(t0.Add(24*time.Hour), out)
	return out
}

// TestFindings: each tampering raises exactly one finding of its kind
// naming producer and seq; redeliveries and in-lateness reordering none.
func TestFindings(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(rs []*record.Record) []*record.Record
		detail    string
		seq       int64
		score     float64
		inSummary string
	}{
		{"clean", func(rs []*record.Record) []*record.Record { return rs }, "", 0, 0, ""},
		{"at-least-once redeliveries", func(rs []*record.Record) []*record.Record {
			return slices.Insert(rs, 20, rs[19], rs[18], rs[19], rs[5])
		}, "", 0, 0, ""},
		{"reordered within lateness", func(rs []*record.Record) []*record.Record {
			rs[10], rs[14] = rs[14], rs[10]
			return rs
		}, "", 0, 0, ""},
		{"altered after signing", func(rs []*record.Record) []*record.Record {
			c := rs[9].Clone()
			c.Invocation.OutputBytes++
			rs[9] = c
			return rs
		}, core.Altered, 10, 100, "rt-1: record seq 10 was altered"},
		{"deleted record", func(rs []*record.Record) []*record.Record {
			return slices.Delete(rs, 40, 41)
		}, core.Gap, 41, 90, "rt-1: record seq 41 is missing"},
		{"duplicated sequence", func(rs []*record.Record) []*record.Record {
			f := rs[30].Clone()
			f.Invocation.Status = record.StatusError
			f.Chain.KeyID = ""
			f.Chain.Hash, _ = core.Hash(f, nil)
			return slices.Insert(rs, 33, f)
		}, core.Fork, 31, 100, "rt-1: fork at seq 31"},
		{"reordered pair beyond lateness", func(rs []*record.Record) []*record.Record {
			r := rs[50]
			return slices.Insert(slices.Delete(rs, 50, 51), 95, r) // 45s late
		}, core.Gap, 51, 90, "rt-1: record seq 51 is missing"},
		{"forged checkpoint", func(rs []*record.Record) []*record.Record {
			f := rs[59].Clone()
			core.Link(f, "rt-1", 60, rs[58].Chain.Hash, "k1", chaintest.Key(2), nil)
			rs[59] = f
			return rs
		}, core.BadSignature, 60, 100, "rt-1: checkpoint at seq 60 has a bad signature (key k1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := process(newDetector(t, testConfig(t)), tt.edit(stream(120)))
			if tt.detail == "" {
				if len(out) != 0 {
					t.Fatalf("findings %v", detecttest.FindingsJSON(t, out))
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("%d findings, want 1: %v", len(out), detecttest.FindingsJSON(t, out))
			}
			f := out[0]
			if f.Pattern != Pattern || f.Detail != tt.detail || f.Score != tt.score ||
				f.Details[compliance.ChainKindKey] != tt.detail || f.Details["producer"] != "rt-1" || f.Details["seq"] != tt.seq ||
				!strings.Contains(f.Summary, tt.inSummary) || f.AgentID != "agent-a" || f.Tool != "search" {
				t.Fatalf("finding %v", detecttest.FindingsJSON(t, out))
			}
		})
	}
}

// TestRestore: a detector restored from a snapshot mid-stream (a gap
// pending) raises exactly the findings of the uninterrupted one, and the
// records re-applied after the restart raise none.
func TestRestore(t *testing.T) {
	c := testConfig(t)
	rs := slices.Delete(stream(200), 100, 102)
	s := &detecttest.Splitter{T: t, Cut: t0.Add(103 * time.Second), A: newDetector(t, c),
		New: func() detecttest.Detector { return newDetector(t, c) }}
	process(s, rs)
	a, b := detecttest.FindingsJSON(t, s.OutA), detecttest.FindingsJSON(t, s.OutB)
	if len(a) != 1 || !slices.Equal(a, b) || !strings.Contains(a[0], `"Detail":"gap"`) {
		t.Fatalf("uninterrupted %v\nrestored %v", a, b)
	}

	// A restart re-applies the records since the snapshot: no findings.
	d := newDetector(t, c)
	process(d, rs[:150])
	snap, _ := d.MarshalState(nil)
	d2 := newDetector(t, c)
	if err := d2.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	if out := process(d2, rs[140:]); len(out) != 0 {
		t.Fatalf("re-applied records raised %v", detecttest.FindingsJSON(t, out))
	}
}

func TestConfigKeys(t *testing.T) {
	c := DefaultConfig()
	c.Keys = map[string]string{"k": filepath.Join(t.TempDir(), "missing.pem")}
	es := c.Validate()
	if len(es) != 1 || !strings.HasPrefix(es[0].Path, "keys.k") {
		t.Fatalf("errors %v", es)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	c.Keys = map[string]string{"k": bad}
	if es := c.Validate(); len(es) != 1 {
		t.Fatalf("errors %v", es)
	}
	d := DefaultConfig()
	d.MaxPending, d.History, d.GapGrace = 0, 0, -1
	if es := d.Validate(); len(es) != 3 {
		t.Fatalf("errors %v", es)
	}
}

// TestReloadKeys: a reload with a new key verifies its checkpoints and keeps
// the chain state.
func TestReloadKeys(t *testing.T) {
	d := newDetector(t, DefaultConfig()) // no keys
	rs := stream(10)
	out := process(d, rs[:5])
	if len(out) != 1 || out[0].Detail != core.UnknownKey {
		t.Fatalf("findings %v", detecttest.FindingsJSON(t, out))
	}
	Factory.SetParams(d, detect.NewParams(testConfig(t)))
	if out := process(d, rs[5:]); len(out) != 0 {
		t.Fatalf("after reload %v", detecttest.FindingsJSON(t, out))
	}
}

// TestDefaultsValidate: the defaults are valid and validating them leaves
// them equal to DefaultConfig (the config package compares the shipped
// file, decoded and validated, with the defaults).
func TestDefaultsValidate(t *testing.T) {
	c := DefaultConfig()
	if es := c.Validate(); len(es) > 0 {
		t.Fatal(es.Err())
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("validated defaults differ: %+v", c)
	}
	if !c.On() {
		t.Fatal("disabled by default")
	}
}

// TestReportChain: the detector feeds the compliance view one verdict per
// chained record and one count per finding; an altered record, the record
// after a deleted one (its link cannot be checked) and a fork are
// unverified, redeliveries are not counted again, and the finding kinds
// are the compliance view's.
func TestReportChain(t *testing.T) {
	for _, k := range []string{core.Gap, core.Fork, core.Altered, core.PrevMismatch, core.BadSignature,
		core.UnknownKey, core.MissingCheckpoint, core.StoppedChaining} {
		if !slices.Contains(compliance.ChainKinds, k) {
			t.Errorf("kind %q is not a compliance.ChainKinds label", k)
		}
	}
	rs := stream(100)
	alt := rs[9].Clone()
	alt.Invocation.OutputBytes++
	rs[9] = alt
	fork := rs[30].Clone()
	fork.Invocation.Status = record.StatusError
	fork.Chain.KeyID = ""
	fork.Chain.Hash, _ = core.Hash(fork, nil)
	rs = slices.Insert(rs, 33, fork)
	rs = slices.Insert(rs, 21, rs[20], rs[19]) // redeliveries
	rs = slices.Delete(rs, 62, 63)             // seq 60

	v := compliance.New(prometheus.NewRegistry(), compliance.Config{})
	d := newDetector(t, testConfig(t))
	if n := compliance.Attach(v, []detect.Detector{d}); n != 1 {
		t.Fatalf("attached %d", n)
	}
	out := process(d, rs)
	kinds := map[string]int{}
	for _, f := range out {
		kinds[f.Detail]++
	}
	if want := map[string]int{core.Altered: 1, core.Fork: 1, core.Gap: 1}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("findings %v", detecttest.FindingsJSON(t, out))
	}
	c := v.Summary().Chain
	// 99 records of the chain + the fork; altered, fork and seq 61 unverified.
	if c.Records != 100 || c.Verified != 97 || len(c.Producers) != 1 {
		t.Fatalf("chain summary %+v", c)
	}
	p := c.Producers[0]
	if p.Producer != "rt-1" || p.Gaps != 1 || p.Missing != 1 || p.Tamper != 2 {
		t.Fatalf("producer %+v", p)
	}
}

// TestReportChainNoAlloc: reporting verdicts costs no allocation per
// in-order record of a known producer.
func TestReportChainNoAlloc(t *testing.T) {
	v := compliance.New(prometheus.NewRegistry(), compliance.Config{})
	d := newDetector(t, DefaultConfig())
	d.ReportChainTo(v)
	s := &chaintest.Stream{Producer: "rt-1", Agent: "agent-a", Tool: "search", Start: t0, Step: time.Second}
	rs := make([]*record.Record, 1300)
	for i := range rs {
		rs[i] = s.Next()
	}
	var out []detect.Finding
	for _, r := range rs[:200] {
		out = d.Observe(r, out[:0])
	}
	i := 200
	allocs := testing.AllocsPerRun(1000, func() {
		out = d.Observe(rs[i], out[:0])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record", allocs)
	}
	if c := v.Summary().Chain; c.Records != uint64(i) || c.Verified != uint64(i) {
		t.Fatalf("chain summary %+v", c)
	}
}
