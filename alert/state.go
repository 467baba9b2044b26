package alert

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// stateVersion is the version of the Manager's snapshot encoding.
const stateVersion = 1

// ManagerStateV1 is the snapshot of a Manager: every firing fingerprint
// with its last emitted alert, fold count, cooldown and resolve clocks and
// emission sequence, and the counters. Entries and counters are sorted, so
// equal states encode equally.
//
// Encoding: gob of this struct followed by the CRC-32C of the gob bytes,
// big-endian. Alert details are stored as their JSON (the wire encoding)
// and decoded with json.Number, so a restored alert re-encodes to the same
// bytes.
type ManagerStateV1 struct {
	Version  int
	Entries  []EntryV1
	Counters []Counter
}

// EntryV1 is one firing fingerprint.
type EntryV1 struct {
	Key      [8]byte
	Last     AlertV1
	Rank     uint8
	Seq      uint32
	StartsAt time.Time
	LastEmit time.Time
	LastSeen time.Time
	Repeats  int
	MaxScore float64
}

// AlertV1 is an Alert with its details as JSON.
type AlertV1 struct {
	ID, Fingerprint, Status, Pattern, Severity string
	Score                                      float64
	AgentID, Tool, ToolVersion, Environment    string
	Observed, Expected                         float64
	Unit, Summary                              string
	Details                                    []byte // JSON object; nil for no details
	EventTime, StartsAt                        time.Time
	EndsAt                                     *time.Time
	TraceID, SpanID, TaskID                    string
	TraceURL, RunbookURL                       string // added later; gob leaves them empty in older states
}

func alertDTO(a *Alert) AlertV1 {
	v := AlertV1{ID: a.ID, Fingerprint: a.Fingerprint, Status: a.Status, Pattern: a.Pattern, Severity: a.Severity,
		Score: a.Score, AgentID: a.AgentID, Tool: a.Tool, ToolVersion: a.ToolVersion, Environment: a.Environment,
		Observed: a.Observed, Expected: a.Expected, Unit: a.Unit, Summary: a.Summary,
		EventTime: a.EventTime, StartsAt: a.StartsAt, EndsAt: a.EndsAt, TraceID: a.TraceID, SpanID: a.SpanID, TaskID: a.TaskID,
		TraceURL: a.TraceURL, RunbookURL: a.RunbookURL}
	if a.Details != nil {
		v.Details = appendMap(nil, a.Details)
	}
	return v
}

func (v *AlertV1) alert() (Alert, error) {
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

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt state")

// MarshalState appends the Manager's complete state to b (detect.State).
// The configuration is not part of it.
func (m *Manager) MarshalState(b []byte) ([]byte, error) {
	st := ManagerStateV1{Version: stateVersion, Entries: make([]EntryV1, 0, len(m.firing)), Counters: make([]Counter, 0, len(m.counts))}
	for _, e := range m.firing {
		st.Entries = append(st.Entries, EntryV1{Key: e.key, Last: alertDTO(&e.last), Rank: e.rank, Seq: e.seq,
			StartsAt: e.startsAt, LastEmit: e.lastEmit, LastSeen: e.lastSeen, Repeats: e.repeats, MaxScore: e.maxScore})
	}
	slices.SortFunc(st.Entries, func(a, b EntryV1) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	st.Counters = m.Counters(st.Counters)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&st); err != nil {
		return b, fmt.Errorf("alert manager state: %w", err)
	}
	b = append(b, buf.Bytes()...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(buf.Bytes(), crcTable)), nil
}

// UnmarshalState replaces the Manager's firing alerts and counters with
// the decoded ones (detect.State); the configuration in use is kept. On
// error the Manager is unchanged.
func (m *Manager) UnmarshalState(data []byte) error {
	if len(data) < 5 {
		return fmt.Errorf("alert manager state: %d bytes: %w", len(data), errCorrupt)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return fmt.Errorf("alert manager state: checksum mismatch: %w", errCorrupt)
	}
	var st ManagerStateV1
	r := bytes.NewReader(body)
	if err := gob.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("alert manager state: %w", err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("alert manager state: %d trailing bytes: %w", r.Len(), errCorrupt)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("alert manager state: version %d, want %d", st.Version, stateVersion)
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
