package detect

import (
	"sort"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// Engine routes records to detectors in event time. The watermark is the
// newest event time seen minus the allowed lateness; whenever it crosses a
// tick boundary every detector is ticked, so windows close and idle keys are
// evicted even for keys that went quiet.
type Engine struct {
	cfg       TimeConfig
	detectors []Detector
	wall      func() time.Time

	maxEvent  time.Time // newest event time applied (or advanced to)
	nextTick  time.Time // watermark at which the next tick is due
	skewLimit time.Time // cached wall clock + max skew; refreshed lazily

	applied, late, future uint64
	ticked                bool
	tickedAt              time.Time
}

// NewEngine returns an engine over detectors. wall is the wall clock, used
// only to reject records from the future; it is read when a record lies
// beyond the cached limit and on Advance, not per record.
func NewEngine(cfg TimeConfig, wall func() time.Time, detectors ...Detector) *Engine {
	e := &Engine{cfg: cfg, detectors: detectors, wall: wall}
	e.skewLimit = wall().Add(cfg.MaxClockSkew)
	return e
}

// SetTimeConfig swaps the time configuration (hot reload).
func (e *Engine) SetTimeConfig(cfg TimeConfig) {
	e.cfg = cfg
	e.skewLimit = e.wall().Add(cfg.MaxClockSkew)
}

// Detectors returns the engine's detectors, in routing order.
func (e *Engine) Detectors() []Detector { return e.detectors }

// Watermark is the event time before which no record is applied any more.
func (e *Engine) Watermark() time.Time {
	if e.maxEvent.IsZero() {
		return time.Time{}
	}
	return e.maxEvent.Add(-e.cfg.AllowedLateness)
}

// Ticked reports whether the last Process, Advance or Flush call ticked the
// detectors, and at which watermark, so callers can tick time-driven state
// of their own (alert resolves) at the same event time.
func (e *Engine) Ticked() (time.Time, bool) { return e.tickedAt, e.ticked }

// Counts returns the records applied, late and rejected as future so far.
func (e *Engine) Counts() (applied, late, future uint64) { return e.applied, e.late, e.future }

// Process applies one valid record and appends the detectors' findings
// (including those of windows closed by the advancing watermark) to out.
// A record stamped more than max_clock_skew ahead of the wall clock is
// record.Invalid (counted as future); one older than the watermark Late.
func (e *Engine) Process(r *record.Record, out []Finding) ([]Finding, record.Outcome) {
	e.ticked = false
	ts := r.Timestamp
	if ts.After(e.skewLimit) {
		e.skewLimit = e.wall().Add(e.cfg.MaxClockSkew)
		if ts.After(e.skewLimit) {
			e.future++
			return out, record.Invalid
		}
	}
	if !e.maxEvent.IsZero() && ts.Before(e.maxEvent.Add(-e.cfg.AllowedLateness)) {
		e.late++
		return out, record.Late
	}
	if ts.After(e.maxEvent) {
		out = e.advanceTo(ts, out)
	}
	for _, d := range e.detectors {
		out = d.Observe(r, out)
	}
	e.applied++
	return out, record.Applied
}

// Advance moves event time forward on the wall clock when the consumer is
// caught up and idle, so windows close and alerts resolve when traffic
// stops. now − allowed lateness becomes the newest event time, so records
// stamped up to the allowed lateness behind the wall clock still count.
func (e *Engine) Advance(now time.Time, out []Finding) []Finding {
	e.ticked = false
	e.skewLimit = now.Add(e.cfg.MaxClockSkew)
	if t := now.Add(-e.cfg.AllowedLateness); t.After(e.maxEvent) {
		out = e.advanceTo(t, out)
	}
	return out
}

// Flush ticks the detectors at the newest event time seen, as if the
// allowed lateness had elapsed with no further records (end of a replay).
func (e *Engine) Flush(out []Finding) []Finding {
	e.ticked = false
	if e.maxEvent.IsZero() {
		return out
	}
	return e.tick(e.maxEvent, out)
}

func (e *Engine) advanceTo(t time.Time, out []Finding) []Finding {
	e.maxEvent = t
	wm := t.Add(-e.cfg.AllowedLateness)
	if e.nextTick.IsZero() {
		e.nextTick = wm.Truncate(e.cfg.TickInterval).Add(e.cfg.TickInterval)
		return out
	}
	if wm.Before(e.nextTick) {
		return out
	}
	out = e.tick(wm, out)
	e.nextTick = wm.Truncate(e.cfg.TickInterval).Add(e.cfg.TickInterval)
	return out
}

// tick ticks every detector at wm. Findings of one tick are sorted so that
// map iteration inside a detector can never change the output order.
func (e *Engine) tick(wm time.Time, out []Finding) []Finding {
	start := len(out)
	for _, d := range e.detectors {
		out = d.Tick(wm, out)
	}
	if seg := out[start:]; len(seg) > 1 {
		sort.SliceStable(seg, func(i, j int) bool { return findingLess(&seg[i], &seg[j]) })
	}
	e.ticked = true
	e.tickedAt = wm
	return out
}

func findingLess(a, b *Finding) bool {
	if !a.EventTime.Equal(b.EventTime) {
		return a.EventTime.Before(b.EventTime)
	}
	if a.Pattern != b.Pattern {
		return a.Pattern < b.Pattern
	}
	if a.Tool != b.Tool {
		return a.Tool < b.Tool
	}
	if a.AgentID != b.AgentID {
		return a.AgentID < b.AgentID
	}
	return a.Detail < b.Detail
}

// Engine state record (version 2; version 1 was the same layout
// little-endian and is not read), fixed 51 bytes and a CRC-32C
// (internal/encoding):
//
//	u8 version | maxEvent | nextTick | BE64 applied, late, future
//
// with each time as u8 set (0: zero time) | BE64 unix seconds | BE32 nanos.
// Only event-time state is kept: the skew limit follows the wall clock and
// the detectors' state is saved separately.
const (
	engineStateVersion = 2
	engineStateLen     = 1 + 2*13 + 3*8 + 4
)

var _ State = (*Engine)(nil)

// engineRecord is the decoded engine state.
type engineRecord struct {
	maxEvent, nextTick    time.Time
	applied, late, future uint64
}

// engineDecoders reads every record version this build restores.
var engineDecoders = encoding.Decoders[engineRecord]{2: getEngineV2}

// MarshalState implements State for the engine's own event-time state
// (newest event time, next tick, counters), not its detectors'.
func (e *Engine) MarshalState(b []byte) ([]byte, error) {
	enc := encoding.Encbuf{B: b}
	enc.PutByte(engineStateVersion)
	for _, t := range [...]time.Time{e.maxEvent, e.nextTick} {
		if t.IsZero() {
			enc.B = append(enc.B, make([]byte, 13)...)
			continue
		}
		enc.PutByte(1)
		enc.PutBE64(uint64(t.Unix()))
		enc.PutBE32(uint32(t.Nanosecond()))
	}
	for _, n := range [...]uint64{e.applied, e.late, e.future} {
		enc.PutBE64(n)
	}
	enc.PutCRC32(len(b))
	return enc.Get(), nil
}

func getEngineV2(d *encoding.Decbuf) engineRecord {
	var ts [2]time.Time
	for i := range ts {
		set, sec, nsec := d.Byte(), int64(d.BE64()), d.BE32()
		if set == 1 && nsec < 1e9 {
			ts[i] = time.Unix(sec, int64(nsec)).UTC()
		}
		if (set == 0 && (sec != 0 || nsec != 0)) || (set != 0 && ts[i].IsZero()) {
			d.Fail("engine state: time %d", i)
		}
	}
	if ts[0].IsZero() != ts[1].IsZero() {
		d.Fail("engine state: tick schedule without event time")
	}
	return engineRecord{maxEvent: ts[0], nextTick: ts[1], applied: d.BE64(), late: d.BE64(), future: d.BE64()}
}

// UnmarshalState implements State. On error the engine is unchanged. The
// restored times are in UTC.
func (e *Engine) UnmarshalState(data []byte) error {
	r, _, err := engineDecoders.Decode("engine state", data)
	if err != nil {
		return err
	}
	e.maxEvent, e.nextTick = r.maxEvent, r.nextTick
	e.applied, e.late, e.future = r.applied, r.late, r.future
	e.ticked, e.tickedAt = false, time.Time{}
	return nil
}
