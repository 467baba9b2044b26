package record_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
	"github.com/toolwatch/toolwatch/tools/sim/egresssim"
	"github.com/toolwatch/toolwatch/tools/sim/fleet"
)

// simDiff decodes simulated records with the production and the reference
// decoder: every record canonical (AppendJSON), and every 50th also
// indented and re-marshalled through encoding/json (keys sorted, HTML
// characters escaped), which leaves the canonical key order and adds
// whitespace and \u escapes.
type simDiff struct {
	t      *testing.T
	d      *record.Decoder
	ref    *record.RefDecoder
	buf    []byte
	n, bad int
}

func newSimDiff(t *testing.T) *simDiff {
	return &simDiff{t: t, d: record.NewDecoder(record.DefaultLimits()), ref: record.NewRefDecoder(record.DefaultLimits())}
}

func (s *simDiff) record(r *record.Record) {
	s.buf = r.AppendJSON(s.buf[:0])
	if record.SameDecode(s.t, s.d, s.ref, s.buf) != nil {
		s.bad++
	}
	if s.n%50 == 0 {
		var ind bytes.Buffer
		if err := json.Indent(&ind, s.buf, " ", "  "); err != nil {
			s.t.Fatal(err)
		}
		record.SameDecode(s.t, s.d, s.ref, ind.Bytes())
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(s.buf))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			s.t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			s.t.Fatal(err)
		}
		record.SameDecode(s.t, s.d, s.ref, b)
	}
	s.n++
}

func (s *simDiff) done(name string, min int) {
	s.t.Logf("%s: %d records, %d invalid", name, s.n, s.bad)
	if s.n < min {
		s.t.Errorf("%s: %d records, want at least %d", name, s.n, min)
	}
}

// TestDecodeSameAsReferenceSim runs the differential check over the
// simulators' records: the default and realistic profiles (with jitter),
// the fleet with its hash chains and the egress simulation.
func TestDecodeSameAsReferenceSim(t *testing.T) {
	hours := 24 * time.Hour
	if testing.Short() {
		hours = 6 * time.Hour
	}
	for _, cfg := range []sim.Config{
		{Seed: 1, Duration: hours},
		{Seed: 2, Profile: sim.ProfileRealistic, Duration: hours, Jitter: time.Minute},
	} {
		s := newSimDiff(t)
		if err := sim.Generate(cfg, func(r *record.Record, _ sim.Truth) error { s.record(r); return nil }); err != nil {
			t.Fatal(err)
		}
		s.done("sim "+cfg.Profile, 1000)
	}
	s := newSimDiff(t)
	if _, err := fleet.Generate(fleet.Config{Seed: 3, Duration: hours}, func(r *record.Record, _ sim.Truth) error { s.record(r); return nil }); err != nil {
		t.Fatal(err)
	}
	s.done("fleet", 1000)
	s = newSimDiff(t)
	cfg := egresssim.DefaultConfig(4)
	cfg.Days = max(1, int(hours/(24*time.Hour)))
	for _, r := range egresssim.Generate(cfg).Records {
		s.record(r)
	}
	s.done("egresssim", 1000)
}

// BenchmarkDecodeSim decodes the first 12 hours of the default simulation
// (~80,000 canonical records) per iteration: the decoder's share of
// BenchmarkPipeline, small enough to run under callgrind
// (--toggle-collect='*Decoder).Decode').
func BenchmarkDecodeSim(b *testing.B) {
	var lines [][]byte
	err := sim.Generate(sim.Config{Seed: 1, Duration: 12 * time.Hour}, func(r *record.Record, _ sim.Truth) error {
		lines = append(lines, r.AppendJSON(nil))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	d := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			if err := d.Decode(l, &r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/record")
	b.ReportMetric(float64(len(lines)), "records/op")
	b.ReportMetric(0, "ns/op")
}
