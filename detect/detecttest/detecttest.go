// Package detecttest is test support for the detectors' tests: stand-in
// detectors that crash and restore mid-stream (Splitter) or run a hook at
// every event time (Hooked); findings as JSON and the golden-file check;
// a driver of one key in event time (Key) and finding counts per day;
// snapshot helpers (MustMarshal, the corrupt-snapshot probe, the
// UnmarshalState fuzz target); config error checks; the allocation probe
// of Observe and the memory-per-key benchmark.
package detecttest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"runtime"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Detector is a detector with snapshots.
type Detector interface {
	detect.Detector
	detect.State
}

// Splitter stands in for the detector of a stream: at the first record or
// tick at or after Cut it snapshots A into a fresh detector B (a simulated
// crash and restart, checking that B re-encodes A's snapshot exactly) and
// from then on feeds both, collecting the findings of each in OutA, OutB.
type Splitter struct {
	T          testing.TB
	Cut        time.Time
	A, B       Detector // B is nil until the cut
	New        func() Detector
	OutA, OutB []detect.Finding
}

// Pattern implements detect.Detector.
func (s *Splitter) Pattern() string { return s.A.Pattern() }

func (s *Splitter) maybeCut(ts time.Time) {
	if s.B != nil || ts.Before(s.Cut) {
		return
	}
	data, err := s.A.MarshalState(nil)
	if err != nil {
		s.T.Fatalf("marshal: %v", err)
	}
	s.B = s.New()
	if err := s.B.UnmarshalState(data); err != nil {
		s.T.Fatalf("unmarshal: %v", err)
	}
	again, err := s.B.MarshalState(nil)
	if err != nil {
		s.T.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		s.T.Fatal("restored state marshals differently")
	}
}

// Observe implements detect.Detector.
func (s *Splitter) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	s.maybeCut(r.Timestamp)
	if s.B == nil {
		return s.A.Observe(r, out)
	}
	s.OutA = s.A.Observe(r, s.OutA)
	s.OutB = s.B.Observe(r, s.OutB)
	return out
}

// Tick implements detect.Detector.
func (s *Splitter) Tick(wm time.Time, out []detect.Finding) []detect.Finding {
	s.maybeCut(wm)
	if s.B == nil {
		return s.A.Tick(wm, out)
	}
	s.OutA = s.A.Tick(wm, s.OutA)
	s.OutB = s.B.Tick(wm, s.OutB)
	return out
}

// Hooked wraps a detector with a hook called with every event time (record
// timestamp or watermark) before the detector sees it.
type Hooked struct {
	detect.Detector
	Hook func(time.Time)
}

// Observe implements detect.Detector.
func (h *Hooked) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	h.Hook(r.Timestamp)
	return h.Detector.Observe(r, out)
}

// Tick implements detect.Detector.
func (h *Hooked) Tick(wm time.Time, out []detect.Finding) []detect.Finding {
	h.Hook(wm)
	return h.Detector.Tick(wm, out)
}

// FindingsJSON returns each finding as JSON.
func FindingsJSON(t testing.TB, fs []detect.Finding) []string {
	t.Helper()
	out := make([]string, len(fs))
	for i := range fs {
		b, err := json.Marshal(&fs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// FuzzUnmarshalState feeds arbitrary record bodies (with a valid CRC-32C, so
// the decoder and the validation behind it are reached) to the
// UnmarshalState of fresh detectors from mk: it must not panic; on error
// the state is unchanged; on success the restored state re-encodes
// stably. The corpus is seeded with the body and the first half of good
// (a real snapshot) and the body of empty (an empty one).
func FuzzUnmarshalState(f *testing.F, mk func(testing.TB) Detector, good, empty []byte) {
	f.Add(good[:len(good)-4])
	f.Add(good[:len(good)/2])
	f.Add(empty[:len(empty)-4])
	table := crc32.MakeTable(crc32.Castagnoli)
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, table))
		d := mk(t)
		before, _ := d.MarshalState(nil)
		if err := d.UnmarshalState(data); err != nil {
			if after, _ := d.MarshalState(nil); !bytes.Equal(before, after) {
				t.Fatal("failed restore changed the state")
			}
			return
		}
		enc, err := d.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		d2 := mk(t)
		if err := d2.UnmarshalState(enc); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if enc2, _ := d2.MarshalState(nil); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

// MemoryPerKey reports the heap bytes per key of the detector fill builds
// with keys (agent, tool) keys.
func MemoryPerKey(b *testing.B, keys int, fill func() detect.Detector) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := fill()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(keys), "bytes/key")
		runtime.KeepAlive(d)
	}
}

// BytesPerKey is MemoryPerKey for one record of each of 10000 agents of
// tool at ts, on a detector from mk.
func BytesPerKey(b *testing.B, mk func() detect.Detector, tool string, ts time.Time) {
	const n = 10000
	MemoryPerKey(b, n, func() detect.Detector {
		d := mk()
		r := record.Record{Timestamp: ts, Tool: record.Tool{Name: tool}}
		for i := range n {
			r.AgentID = fmt.Sprintf("agent-%05d", i)
			d.Observe(&r, nil)
		}
		return d
	})
}
