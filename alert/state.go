package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// stateVersion is the record version of the Manager's snapshot. Version
// 1 was gob and is not read (the snapshot container refuses it).
const stateVersion = 2

// ManagerStateV2 is the snapshot record of a Manager: every firing
// fingerprint with its last emitted alert, fold count, cooldown and
// resolve clocks and emission sequence, and the counters. Entries and
// counters are sorted, so equal states encode equally.
//
// Written field by field (internal/encoding), then a CRC-32C:
//
//	uvarint version 2, uvarint count, entries, uvarint count, counters
//	entry:   8 bytes Key, alert, byte Rank, uvarint Seq, time StartsAt,
//	         time LastEmit, time LastSeen, varint Repeats, BE float64 MaxScore
//	alert:   str ID Fingerprint Status Pattern Severity, BE float64 Score,
//	         str AgentID Tool ToolVersion Environment, BE float64 Observed Expected,
//	         str Unit Summary, bool has Details [bytes Details],
//	         time EventTime StartsAt, bool has EndsAt [time EndsAt],
//	         str TraceID SpanID TaskID TraceURL RunbookURL
//	counter: str Pattern Severity, uvarint Emitted Folded Resolved BelowBand Rejected
//
// Times are UTC instants (encoding.Encbuf.PutTime). Alert details are
// stored as their JSON (the wire encoding) and decoded with json.Number,
// so a restored alert re-encodes to the same bytes.
type ManagerStateV2 struct {
	Entries  []EntryV2
	Counters []Counter
}

// EntryV2 is one firing fingerprint.
type EntryV2 struct {
	Key      [8]byte
	Last     AlertV2
	Rank     uint8
	Seq      uint32
	StartsAt time.Time
	LastEmit time.Time
	LastSeen time.Time
	Repeats  int
	MaxScore float64
}

// AlertV2 is an Alert with its details as JSON.
type AlertV2 struct {
	ID, Fingerprint, Status, Pattern, Severity string
	Score                                      float64
	AgentID, Tool, ToolVersion, Environment    string
	Observed, Expected                         float64
	Unit, Summary                              string
	Details                                    []byte // JSON object; nil for no details
	EventTime, StartsAt                        time.Time
	EndsAt                                     *time.Time
	TraceID, SpanID, TaskID                    string
	TraceURL, RunbookURL                       string
}

// Smallest encodings, bounding the counts a record may claim.
const (
	minAlert   = 5 + 8 + 4 + 16 + 2 + 1 + 2 + 1 + 5
	minEntry   = 8 + minAlert + 1 + 1 + 3 + 1 + 8
	minCounter = 2 + 5
)

func (st *ManagerStateV2) put(e *encoding.Encbuf) {
	e.PutUvarint(uint64(len(st.Entries)))
	for i := range st.Entries {
		en := &st.Entries[i]
		e.B = append(e.B, en.Key[:]...)
		en.Last.put(e)
		e.PutByte(en.Rank)
		e.PutUvarint(uint64(en.Seq))
		e.PutTime(en.StartsAt)
		e.PutTime(en.LastEmit)
		e.PutTime(en.LastSeen)
		e.PutVarint(int64(en.Repeats))
		e.PutBEFloat64(en.MaxScore)
	}
	e.PutUvarint(uint64(len(st.Counters)))
	for _, c := range st.Counters {
		e.PutUvarintStr(c.Pattern)
		e.PutUvarintStr(c.Severity)
		for _, n := range [...]uint64{c.Emitted, c.Folded, c.Resolved, c.BelowBand, c.Rejected} {
			e.PutUvarint(n)
		}
	}
}

func (a *AlertV2) put(e *encoding.Encbuf) {
	for _, s := range [...]string{a.ID, a.Fingerprint, a.Status, a.Pattern, a.Severity} {
		e.PutUvarintStr(s)
	}
	e.PutBEFloat64(a.Score)
	for _, s := range [...]string{a.AgentID, a.Tool, a.ToolVersion, a.Environment} {
		e.PutUvarintStr(s)
	}
	e.PutBEFloat64(a.Observed)
	e.PutBEFloat64(a.Expected)
	e.PutUvarintStr(a.Unit)
	e.PutUvarintStr(a.Summary)
	e.PutBool(a.Details != nil)
	if a.Details != nil {
		e.PutUvarintBytes(a.Details)
	}
	e.PutTime(a.EventTime)
	e.PutTime(a.StartsAt)
	e.PutBool(a.EndsAt != nil)
	if a.EndsAt != nil {
		e.PutTime(*a.EndsAt)
	}
	for _, s := range [...]string{a.TraceID, a.SpanID, a.TaskID, a.TraceURL, a.RunbookURL} {
		e.PutUvarintStr(s)
	}
}

func getAlertV2(d *encoding.Decbuf) AlertV2 {
	var a AlertV2
	for _, s := range [...]*string{&a.ID, &a.Fingerprint, &a.Status, &a.Pattern, &a.Severity} {
		*s = d.UvarintStr()
	}
	a.Score = d.BEFloat64()
	for _, s := range [...]*string{&a.AgentID, &a.Tool, &a.ToolVersion, &a.Environment} {
		*s = d.UvarintStr()
	}
	a.Observed, a.Expected = d.BEFloat64(), d.BEFloat64()
	a.Unit, a.Summary = d.UvarintStr(), d.UvarintStr()
	if d.Bool() {
		a.Details = bytes.Clone(d.UvarintBytes())
		if a.Details == nil {
			a.Details = []byte{}
		}
	}
	a.EventTime, a.StartsAt = d.Time(), d.Time()
	if d.Bool() {
		t := d.Time()
		a.EndsAt = &t
	}
	for _, s := range [...]*string{&a.TraceID, &a.SpanID, &a.TaskID, &a.TraceURL, &a.RunbookURL} {
		*s = d.UvarintStr()
	}
	return a
}

func getManagerStateV2(d *encoding.Decbuf) ManagerStateV2 {
	var st ManagerStateV2
	st.Entries = make([]EntryV2, d.Count(minEntry))
	for i := range st.Entries {
		if d.Err() != nil {
			break
		}
		en := &st.Entries[i]
		for j := range en.Key {
			en.Key[j] = d.Byte()
		}
		en.Last = getAlertV2(d)
		en.Rank, en.Seq = d.Byte(), d.Uvarint32()
		en.StartsAt, en.LastEmit, en.LastSeen = d.Time(), d.Time(), d.Time()
		en.Repeats, en.MaxScore = d.Int(), d.BEFloat64()
	}
	st.Counters = make([]Counter, d.Count(minCounter))
	for i := range st.Counters {
		c := &st.Counters[i]
		c.Pattern, c.Severity = d.UvarintStr(), d.UvarintStr()
		for _, n := range [...]*uint64{&c.Emitted, &c.Folded, &c.Resolved, &c.BelowBand, &c.Rejected} {
			*n = d.Uvarint()
		}
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[ManagerStateV2]{2: getManagerStateV2}

// encode writes st as the current version.
func (st *ManagerStateV2) encode(b []byte) []byte {
	e := encoding.Encbuf{B: b}
	e.PutUvarint(stateVersion)
	st.put(&e)
	e.PutCRC32(len(b))
	return e.Get()
}

func alertDTO(a *Alert) AlertV2 {
	v := AlertV2{ID: a.ID, Fingerprint: a.Fingerprint, Status: a.Status, Pattern: a.Pattern, Severity: a.Severity,
		Score: a.Score, AgentID: a.AgentID, Tool: a.Tool, ToolVersion: a.ToolVersion, Environment: a.Environment,
		Observed: a.Observed, Expected: a.Expected, Unit: a.Unit, Summary: a.Summary,
		EventTime: a.EventTime, StartsAt: a.StartsAt, EndsAt: a.EndsAt, TraceID: a.TraceID, SpanID: a.SpanID, TaskID: a.TaskID,
		TraceURL: a.TraceURL, RunbookURL: a.RunbookURL}
	if a.Details != nil {
		v.Details = appendMap(nil, a.Details)
	}
	if a.EndsAt != nil { // a copy: the capture must not alias the live alert
		t := *a.EndsAt
		v.EndsAt = &t
	}
	return v
}

func (v *AlertV2) alert() (Alert, error) {
	a := Alert{ID: v.ID, Fingerprint: v.Fingerprint, Status: v.Status, Pattern: v.Pattern, Severity: v.Severity,
		Score: v.Score, AgentID: v.AgentID, Tool: v.Tool, ToolVersion: v.ToolVersion, Environment: v.Environment,
		Observed: v.Observed, Expected: v.Expected, Unit: v.Unit, Summary: v.Summary,
		EventTime: v.EventTime, StartsAt: v.StartsAt, EndsAt: v.EndsAt, TraceID: v.TraceID, SpanID: v.SpanID, TaskID: v.TaskID,
		TraceURL: v.TraceURL, RunbookURL: v.RunbookURL}
	if v.Details != nil {
		dec := json.NewDecoder(bytes.NewReader(v.Details))
		dec.UseNumber()
		if err := dec.Decode(&a.Details); err != nil {
			return a, fmt.Errorf("details of %s: %w", v.Fingerprint, err)
		}
		if dec.More() {
			return a, fmt.Errorf("details of %s: trailing data", v.Fingerprint)
		}
	}
	return a, nil
}

// MarshalState appends the Manager's complete state to b (detect.State).
// The configuration is not part of it.
func (m *Manager) MarshalState(b []byte) ([]byte, error) {
	enc, err := m.CaptureState()
	if err != nil {
		return b, err
	}
	return enc(b)
}

// CaptureState copies the firing alerts and counters (detect.Capturer);
// the returned func writes them, on any goroutine.
func (m *Manager) CaptureState() (func(b []byte) ([]byte, error), error) {
	st := &ManagerStateV2{Entries: make([]EntryV2, 0, len(m.firing)), Counters: make([]Counter, 0, len(m.counts))}
	for _, e := range m.firing {
		st.Entries = append(st.Entries, EntryV2{Key: e.key, Last: alertDTO(&e.last), Rank: e.rank, Seq: e.seq,
			StartsAt: e.startsAt, LastEmit: e.lastEmit, LastSeen: e.lastSeen, Repeats: e.repeats, MaxScore: e.maxScore})
	}
	st.Counters = m.Counters(st.Counters)
	return func(b []byte) ([]byte, error) {
		slices.SortFunc(st.Entries, func(a, b EntryV2) int { return bytes.Compare(a.Key[:], b.Key[:]) })
		return st.encode(b), nil
	}, nil
}

// UnmarshalState replaces the Manager's firing alerts and counters with
// the decoded ones (detect.State); the configuration in use is kept. On
// error the Manager is unchanged.
func (m *Manager) UnmarshalState(data []byte) error {
	st, _, err := stateDecoders.Decode("alert manager state", data)
	if err != nil {
		return err
	}
	firing := make(map[fpKey]*entry, len(st.Entries))
	for i := range st.Entries {
		ev := &st.Entries[i]
		k := fpKey(ev.Key)
		if firing[k] != nil {
			return fmt.Errorf("alert manager state: duplicate fingerprint %s", k)
		}
		if ev.Rank == rankNone || int(ev.Rank) >= len(severityNames) {
			return fmt.Errorf("alert manager state: fingerprint %s: severity rank %d", k, ev.Rank)
		}
		last, err := ev.Last.alert()
		if err != nil {
			return fmt.Errorf("alert manager state: %w", err)
		}
		firing[k] = &entry{key: k, fp: k.String(), last: last, rank: ev.Rank, seq: ev.Seq, startsAt: ev.StartsAt,
			lastEmit: ev.LastEmit, lastSeen: ev.LastSeen, repeats: ev.Repeats, maxScore: ev.MaxScore}
	}
	counts := make(map[countKey]*Counter, len(st.Counters))
	for i := range st.Counters {
		c := st.Counters[i]
		k := countKey{c.Pattern, rankOf(c.Severity)}
		if severityNames[k.rank] != c.Severity || counts[k] != nil {
			return fmt.Errorf("alert manager state: bad or duplicate counter %s/%s", c.Pattern, c.Severity)
		}
		counts[k] = &c
	}
	m.firing, m.counts = firing, counts
	return nil
}
