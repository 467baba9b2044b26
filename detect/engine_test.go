package detect

import (
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// recorder is a fake detector that remembers what it saw and emits one
// finding per tick, for every agent it has seen, in reverse name order so
// the engine's sorting is exercised.
type recorder struct {
	observed []time.Time
	ticks    []time.Time
	agents   []string
}

func (d *recorder) Pattern() string { return "fake" }

func (d *recorder) Observe(r *record.Record, out []Finding) []Finding {
	d.observed = append(d.observed, r.Timestamp)
	for _, a := range d.agents {
		if a == r.AgentID {
			return out
		}
	}
	d.agents = append(d.agents, r.AgentID)
	return out
}

func (d *recorder) Tick(wm time.Time, out []Finding) []Finding {
	d.ticks = append(d.ticks, wm)
	for i := len(d.agents) - 1; i >= 0; i-- {
		out = append(out, Finding{Pattern: "fake", AgentID: d.agents[i], EventTime: wm})
	}
	return out
}

var base = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

func rec(agent string, ts time.Time) *record.Record {
	return &record.Record{AgentID: agent, Timestamp: ts, Tool: record.Tool{Name: "t"}}
}

func testConfig() TimeConfig {
	c := DefaultTimeConfig()
	c.AllowedLateness = 30 * time.Second
	c.TickInterval = 10 * time.Second
	c.MaxClockSkew = 5 * time.Minute
	return c
}

func TestEngineOutcomes(t *testing.T) {
	wall := base.Add(time.Hour)
	tests := []struct {
		name string
		ts   time.Time
		want record.Outcome
	}{
		{"first record", base, record.Applied},
		{"in order", base.Add(40 * time.Second), record.Applied},
		{"late but within lateness", base.Add(15 * time.Second), record.Applied},
		{"older than watermark", base.Add(9 * time.Second), record.Late},
		{"exactly at watermark", base.Add(10 * time.Second), record.Applied},
		{"within skew of wall clock", wall.Add(4 * time.Minute), record.Applied},
		{"beyond skew of wall clock", wall.Add(6 * time.Minute), record.Invalid},
	}
	d := &recorder{}
	e := NewEngine(testConfig(), func() time.Time { return wall }, d)
	for _, tc := range tests {
		_, v := e.Process(rec("a", tc.ts), nil)
		if v != tc.want {
			t.Errorf("%s: outcome %v, want %v", tc.name, v, tc.want)
		}
	}
	applied, late, future := e.Counts()
	if applied != 5 || late != 1 || future != 1 {
		t.Errorf("counts = %d/%d/%d, want 5/1/1", applied, late, future)
	}
	if len(d.observed) != 5 {
		t.Errorf("detector observed %d records, want 5", len(d.observed))
	}
}

func TestEngineSkewLimitFollowsWallClock(t *testing.T) {
	wall := base
	e := NewEngine(testConfig(), func() time.Time { return wall }, &recorder{})
	ts := base.Add(time.Hour)
	if _, v := e.Process(rec("a", ts), nil); v != record.Invalid {
		t.Fatalf("outcome %v before the wall clock moved, want invalid (future)", v)
	}
	wall = base.Add(58 * time.Minute) // the record is now within 5m skew
	if _, v := e.Process(rec("a", ts), nil); v != record.Applied {
		t.Fatalf("outcome %v after the wall clock moved, want applied", v)
	}
}

func TestEngineTicksOnWatermarkAndSorts(t *testing.T) {
	d := &recorder{}
	e := NewEngine(testConfig(), func() time.Time { return base.Add(24 * time.Hour) }, d)
	var out []Finding
	for i := 0; i <= 60; i++ {
		agent := "a"
		if i%2 == 1 {
			agent = "b"
		}
		out, _ = e.Process(rec(agent, base.Add(time.Duration(i)*time.Second)), out)
	}
	// The watermark runs from -30s to 30s (newest minus 30s lateness);
	// a tick is due at every 10s boundary it crosses: -20s .. 30s.
	if len(d.ticks) != 6 {
		t.Fatalf("ticks = %v, want 6", d.ticks)
	}
	for i, wm := range d.ticks {
		if want := base.Add(time.Duration(10*(i-2)) * time.Second); !wm.Equal(want) {
			t.Errorf("tick %d at %v, want %v", i, wm, want)
		}
	}
	if len(out) != 12 {
		t.Fatalf("got %d findings, want 12", len(out))
	}
	for i := 0; i < len(out); i += 2 {
		if out[i].AgentID != "a" || out[i+1].AgentID != "b" {
			t.Errorf("tick findings not sorted: %q, %q", out[i].AgentID, out[i+1].AgentID)
		}
	}
	if e.Watermark() != base.Add(30*time.Second) {
		t.Errorf("watermark %v", e.Watermark())
	}
}

func TestEngineAdvanceClosesQuietWindows(t *testing.T) {
	d := &recorder{}
	e := NewEngine(testConfig(), func() time.Time { return base }, d)
	e.Process(rec("a", base), nil)
	if len(d.ticks) != 0 {
		t.Fatalf("ticked on first record")
	}
	// No traffic for 5 minutes; the wall clock moves the watermark.
	out := e.Advance(base.Add(5*time.Minute), nil)
	if _, ok := e.Ticked(); !ok || len(d.ticks) != 1 {
		t.Fatalf("Advance did not tick (ticks %v)", d.ticks)
	}
	if want := base.Add(5*time.Minute - 60*time.Second); !d.ticks[0].Equal(want) {
		t.Errorf("advance ticked at %v, want %v", d.ticks[0], want)
	}
	if len(out) != 1 || out[0].AgentID != "a" {
		t.Errorf("findings %+v", out)
	}
	// A record stamped before the advanced watermark is late.
	if _, v := e.Process(rec("a", base.Add(time.Minute)), nil); v != record.Late {
		t.Errorf("record behind the advanced watermark: %v, want late", v)
	}
	// Advance to an earlier wall time does nothing.
	e.Advance(base.Add(time.Minute), nil)
	if _, ok := e.Ticked(); ok {
		t.Errorf("Advance backwards ticked")
	}
}

func TestEngineFlush(t *testing.T) {
	d := &recorder{}
	e := NewEngine(testConfig(), func() time.Time { return base.Add(time.Hour) }, d)
	if out := e.Flush(nil); len(out) != 0 || len(d.ticks) != 0 {
		t.Fatalf("flush of an empty engine ticked")
	}
	e.Process(rec("a", base.Add(time.Minute)), nil)
	e.Flush(nil)
	if len(d.ticks) != 1 || !d.ticks[0].Equal(base.Add(time.Minute)) {
		t.Errorf("flush ticks %v, want one at the newest event time", d.ticks)
	}
}

func TestEngineStateRoundTrip(t *testing.T) {
	wall := func() time.Time { return base.Add(10 * time.Minute) }
	// Jittered records: some late, one from the future, crossing many ticks.
	var recs []*record.Record
	for i := range 400 {
		ts := base.Add(time.Duration(i)*1500*time.Millisecond + time.Duration(i%7)*time.Second)
		if i%50 == 49 {
			ts = ts.Add(-time.Minute) // late
		}
		if i == 301 {
			ts = base.Add(time.Hour) // future
		}
		recs = append(recs, rec([]string{"a", "b", "c"}[i%3], ts))
	}
	for _, cut := range []int{0, 1, 37, 200, 399} {
		da := &recorder{}
		a := NewEngine(testConfig(), wall, da)
		for _, r := range recs[:cut] {
			a.Process(r, nil)
		}
		enc, err := a.MarshalState([]byte{0xff})
		if err != nil || enc[0] != 0xff || len(enc) != 1+engineStateLen {
			t.Fatalf("cut %d: marshal %d bytes, %v", cut, len(enc), err)
		}
		db := &recorder{}
		b := NewEngine(testConfig(), wall, db)
		b.Process(rec("x", base.Add(9*time.Minute)), nil) // replaced by the restore
		if err := b.UnmarshalState(enc[1:]); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if re, _ := b.MarshalState(nil); string(re) != string(enc[1:]) {
			t.Fatalf("cut %d: re-encoding differs", cut)
		}
		if !a.Watermark().Equal(b.Watermark()) {
			t.Fatalf("cut %d: watermark %v, restored %v", cut, a.Watermark(), b.Watermark())
		}
		ticksBefore := len(da.ticks)
		for i, r := range recs[cut:] {
			_, va := a.Process(r, nil)
			_, vb := b.Process(r, nil)
			if va != vb {
				t.Fatalf("cut %d: record %d verdict %v, restored %v", cut, cut+i, va, vb)
			}
		}
		a.Flush(nil)
		b.Flush(nil)
		ta, tb := da.ticks[ticksBefore:], db.ticks
		if len(ta) != len(tb) || len(ta) == 0 {
			t.Fatalf("cut %d: %d ticks, restored %d", cut, len(ta), len(tb))
		}
		for i := range ta {
			if !ta[i].Equal(tb[i]) {
				t.Fatalf("cut %d: tick %d at %v, restored %v", cut, i, ta[i], tb[i])
			}
		}
		ap, al, af := a.Counts()
		bp, bl, bf := b.Counts()
		if ap != bp || al != bl || af != bf || al == 0 || (cut <= 301 && af != 1) {
			t.Fatalf("cut %d: counts %d/%d/%d, restored %d/%d/%d", cut, ap, al, af, bp, bl, bf)
		}
	}
}

func TestEngineStateCorrupt(t *testing.T) {
	wall := func() time.Time { return base.Add(time.Hour) }
	src := NewEngine(testConfig(), wall)
	for i := range 100 {
		src.Process(rec("a", base.Add(time.Duration(i)*time.Second)), nil)
	}
	good, _ := src.MarshalState(nil)
	zero, _ := NewEngine(testConfig(), wall).MarshalState(nil)

	e := NewEngine(testConfig(), wall)
	e.Process(rec("a", base.Add(30*time.Minute)), nil)
	before, _ := e.MarshalState(nil)
	mod := func(src []byte, f func(b []byte)) []byte { // re-sealed: the decoder's checks are reached
		b := append([]byte(nil), src[:len(src)-4]...)
		f(b)
		return encoding.Seal(b)
	}
	cases := map[string][]byte{
		"empty":          nil,
		"short":          good[:len(good)-1],
		"long":           append(append([]byte(nil), good...), 0),
		"version":        mod(good, func(b []byte) { b[0] = 9 }),
		"flag":           mod(good, func(b []byte) { b[1] = 2 }),
		"nanos":          mod(good, func(b []byte) { b[10], b[11], b[12], b[13] = 0xff, 0xff, 0xff, 0xff }),
		"bit flip":       append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1),
		"gob era":        mod(good, func(b []byte) { b[0] = 1 }),
		"zero with time": mod(zero, func(b []byte) { b[3] = 1 }),
		"half zero":      mod(good, func(b []byte) { copy(b[14:27], make([]byte, 13)) }),
	}
	for name, data := range cases {
		if err := e.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		}
		if after, _ := e.MarshalState(nil); string(after) != string(before) {
			t.Fatalf("%s: failed restore changed the engine", name)
		}
	}
	// The zero state restores to an engine that has seen nothing.
	if err := e.UnmarshalState(zero); err != nil || !e.Watermark().IsZero() {
		t.Fatalf("zero state: %v, watermark %v", err, e.Watermark())
	}
}

// FuzzEngineState: arbitrary bytes never panic UnmarshalState, and what it
// accepts re-encodes to the same bytes.
func FuzzEngineState(f *testing.F) {
	e := NewEngine(testConfig(), func() time.Time { return base })
	zero, _ := e.MarshalState(nil)
	e.Process(rec("a", base), nil)
	e.Process(rec("a", base.Add(time.Minute)), nil)
	one, _ := e.MarshalState(nil)
	f.Add(zero[:len(zero)-4])
	f.Add(one[:len(one)-4])
	f.Fuzz(func(t *testing.T, data []byte) {
		e := NewEngine(testConfig(), func() time.Time { return base })
		data = encoding.Seal(data) // reach the decoder behind the checksum
		if e.UnmarshalState(data) != nil {
			return
		}
		if re, _ := e.MarshalState(nil); string(re) != string(data) {
			t.Fatalf("accepted %x re-encodes as %x", data, re)
		}
		e.Process(rec("a", base), nil)
		e.Flush(nil)
	})
}
