package chain

import (
	"slices"
	"testing"
	"time"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

// FuzzChainFields feeds records with arbitrary chain fields (decoded from
// JSON, so only what the decoder accepts) in arbitrary order through the
// detector: it must never panic, stall or grow its state past its bounds.
func FuzzChainFields(f *testing.F) {
	rs := stream(12)
	var seed []byte
	for _, r := range rs {
		seed = append(seed, r.AppendJSON(nil)...)
		seed = append(seed, '\n')
	}
	f.Add(seed)
	f.Add([]byte(`{"trace_id":"t","span_id":"s","timestamp":"2026-03-23T14:00:01Z","agent_id":"a","tool":{"name":"n"},"invocation":{"duration_ms":1,"status":"success"},"chain":{"producer":"p","seq":9007199254740991,"prev":"` +
		"00000000000000000000000000000000000000000000000000000000000000ff" + `","hash":"` +
		"ff00000000000000000000000000000000000000000000000000000000000000" + `","checkpoint":{"key_id":"k1","sig":"` +
		"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" + `"}}}` + "\n" +
		`{"trace_id":"t","span_id":"s","timestamp":"2026-03-23T14:00:00Z","agent_id":"a","tool":{"name":"n"},"invocation":{"duration_ms":1,"status":"success"}}`))
	c := DefaultConfig()
	c.MaxPending, c.History, c.MaxProducers, c.CheckpointEvery = 4, 4, 3, 2
	c.keys = core.Keys{"k1": chaintest.PublicKey(1)}
	dec := record.NewDecoder(record.DefaultLimits())
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDetector(t, c)
		var r record.Record
		var out []detect.Finding
		n := 0
		for line := range splitLines(data) {
			if dec.Decode(line, &r) != nil {
				continue
			}
			n++
			out = d.Observe(&r, out[:0])
			out = d.Tick(r.Timestamp.Add(-time.Duration(n)*time.Second), out)
			for i := range out {
				if out[i].Pattern != Pattern || scores[out[i].Detail] == 0 || out[i].Summary == "" {
					t.Fatalf("bad finding %+v", out[i])
				}
			}
		}
		d.Tick(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), out[:0])
		if live, _, _ := d.KeyStats(); live > c.MaxProducers {
			t.Fatalf("%d producers, cap %d", live, c.MaxProducers)
		}
		snap, err := d.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := newDetector(t, c).UnmarshalState(snap); err != nil {
			t.Fatalf("own snapshot rejected: %v", err)
		}
	})
}

func splitLines(data []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			i := 0
			for i < len(data) && data[i] != '\n' {
				i++
			}
			if !yield(data[:i]) {
				return
			}
			if i < len(data) {
				i++
			}
			data = data[i:]
		}
	}
}

// FuzzUnmarshalState: arbitrary snapshots must not panic, must leave the
// state unchanged on error and re-encode stably on success. The seed holds
// every part of the record (chain.StateV1): remembered hashes, records
// pending behind a gap (13-14 lost, no tick) and a stopped agent.
func FuzzUnmarshalState(f *testing.F) {
	c := DefaultConfig()
	d := newDetector(f, c)
	for _, r := range slices.Delete(stream(30), 12, 14) {
		d.Observe(r, nil)
	}
	d.Observe(chaintest.Base("agent-a", "search", t0.Add(time.Minute), 99), nil)
	if s := d.v.Stats(); s.Unchained != 1 || s.Accepted != 12 {
		f.Fatalf("seed state %+v", s)
	}
	good, err := d.MarshalState(nil)
	if err != nil {
		f.Fatal(err)
	}
	empty, _ := newDetector(f, c).MarshalState(nil)
	detecttest.FuzzUnmarshalState(f, func(t testing.TB) detecttest.Detector { return newDetector(t, c) }, good, empty)
}
