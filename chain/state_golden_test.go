package chain_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
	"github.com/toolwatch/toolwatch/record"
)

func goldenParams() chain.Params {
	p := chain.DefaultParams()
	p.History, p.CheckpointEvery = 8, 8
	return p
}

// goldenState defines testdata/chain_integrity-state.v*.bin: producer
// rt-1 (agent-a) sends seqs 1..40 one second apart, signing every 5th up
// to seq 20 (so missing_checkpoint is raised at 29), with 31-32 lost: 33..40
// are pending, within the gap grace. Producer rt-2 (agent-b) sends seqs
// 1..10 and redelivers seq 9; then agent-b sends an unchained record
// (stopped_chaining). rt-2 never signs: missing_checkpoint at 9. The watermark trails the newest record by 30 s.
func goldenState(t testing.TB) *chain.Verifier {
	v := chain.NewVerifier(goldenParams(), chain.Keys{"k1": chaintest.PublicKey(1)})
	a := &chaintest.Stream{Producer: "rt-1", Agent: "agent-a", Tool: "search", KeyID: "k1",
		Key: chaintest.Key(1), CheckpointEvery: 5, Start: t0, Step: time.Second}
	b := &chaintest.Stream{Producer: "rt-2", Agent: "agent-b", Tool: "fetch", Start: t0, Step: time.Second}
	var rs []*record.Record
	for i := range 40 {
		r := a.Next()
		if i >= 20 {
			r.Chain.KeyID = ""
		}
		if i != 30 && i != 31 {
			rs = append(rs, r)
		}
		if i < 10 {
			rs = append(rs, b.Next())
		}
	}
	rs = append(rs, rs[17], chaintest.Base("agent-b", "fetch", t0.Add(41*time.Second), 99)) // rt-2 seq 9 again
	var out []chain.Issue
	for i, r := range rs {
		out = v.Observe(r, int64(i+1), out)
		out = v.Tick(r.Timestamp.Add(-30*time.Second), out)
	}
	if got := kinds(out); !slices.Equal(got, []string{"missing_checkpoint rt-2 9", "missing_checkpoint rt-1 29", "stopped_chaining  0"}) {
		t.Fatalf("golden stream raised %v", got)
	}
	return v
}

func marshal(t testing.TB, v *chain.Verifier) []byte {
	t.Helper()
	b, err := v.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The golden records decode to the stream's producers, pending records,
// history and agents, restore, and re-encode byte for byte.
func TestStateGolden(t *testing.T) {
	enctest.Golden{
		Name: "chain_integrity-state", Versions: chain.StateDecoders.Versions(), Current: chain.StateVersion,
		Build: func(t testing.TB) []byte { return marshal(t, goldenState(t)) },
		Restore: func(t testing.TB, _ uint64, data []byte) []byte {
			st, _, err := chain.StateDecoders.Decode("chain state", data)
			if err != nil {
				t.Fatal(err)
			}
			if want := (chain.Stats{Records: 50, Unchained: 1, Chained: 49, Accepted: 40, Duplicates: 1, CheckpointsValid: 4}); st.Stats != want {
				t.Errorf("stats %+v, want %+v", st.Stats, want)
			}
			if len(st.Producers) != 2 || st.Producers[0].Name != "rt-1" || st.Producers[1].Name != "rt-2" {
				t.Fatalf("producers %+v", st.Producers)
			}
			p1, p2 := &st.Producers[0], &st.Producers[1]
			if p1.Next != 31 || !p1.HeadKnown || p1.LastCkpt != 20 || !p1.CkptDue || !p1.CkptAt.Equal(t0.Add(20*time.Second)) ||
				p1.LastSeen != t0.Add(40*time.Second).Unix() {
				t.Errorf("rt-1: next %d head known %v, checkpoint %d at %v due %v, last seen %d",
					p1.Next, p1.HeadKnown, p1.LastCkpt, p1.CkptAt, p1.CkptDue, p1.LastSeen)
			}
			if len(p1.Pending) != 8 || p1.Pending[0].Seq != 33 || p1.Pending[7].Seq != 40 || !p1.Pending[0].OK || p1.Pending[0].Ckpt ||
				p1.Pending[0].Agent != "agent-a" || p1.Pending[0].Span != "span-agent-a-33" || !p1.Pending[0].Time.Equal(t0.Add(33*time.Second)) {
				t.Errorf("rt-1 pending %+v", p1.Pending)
			}
			if len(p1.History) != 8 || len(p2.History) != 8 || len(p2.Pending) != 0 || p2.Next != 11 || p2.LastCkpt != 0 || !p2.CkptDue {
				t.Errorf("rt-1 history %d, rt-2 history %d pending %d next %d", len(p1.History), len(p2.History), len(p2.Pending), p2.Next)
			}
			for _, h := range p1.History {
				if h.Seq < 23 || h.Seq > 30 || !h.OK || h.Hash == [32]byte{} {
					t.Errorf("rt-1 remembers %+v", h)
				}
			}
			if fmt.Sprint(st.Agents) != "[{agent-a 1774274440 false} {agent-b 1774274410 true}]" {
				t.Errorf("agents %v", st.Agents)
			}
			v := chain.NewVerifier(goldenParams(), chain.Keys{"k1": chaintest.PublicKey(1)})
			if err := v.UnmarshalState(data); err != nil {
				t.Fatal(err)
			}
			if v.Producers() != 2 || v.Stats() != st.Stats {
				t.Errorf("restored %d producers, stats %+v", v.Producers(), v.Stats())
			}
			return marshal(t, v)
		},
	}.Run(t, *update)
}

// seal builds a record of version v around st's fields.
func seal(v uint64, fields []byte) []byte {
	var e encoding.Encbuf
	e.PutUvarint(v)
	e.B = append(e.B, fields...)
	return encoding.Seal(e.Get())
}

// Every truncation, a flipped bit, a wrong version and values that cannot
// be right are errors and leave the verifier as it was.
func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	v := goldenState(t)
	good := marshal(t, v)
	body := good[:len(good)-4]
	for n := range len(good) {
		if err := v.UnmarshalState(good[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	for n := 1; n < len(body); n++ { // a truncated record with a valid checksum
		if err := v.UnmarshalState(encoding.Seal(body[:n])); !errors.Is(err, encoding.ErrTruncated) && !errors.Is(err, encoding.ErrInvalid) {
			t.Fatalf("sealed body truncated to %d of %d bytes: %v", n, len(body), err)
		}
	}
	// Crafted records: stats zero, then producers and agents.
	stats := make([]byte, 11)
	producer := func(name string, next, lastCkpt int64, hist []int64, pending []int64) []byte {
		var e encoding.Encbuf
		e.PutUvarintStr(name)
		e.PutVarint(1)
		e.PutVarint(next)
		e.B = append(e.B, make([]byte, 32)...)
		e.PutBool(true)
		e.PutVarint(lastCkpt)
		e.PutTime(t0)
		e.PutBool(false)
		e.PutUvarint(uint64(len(hist)))
		for _, s := range hist {
			e.PutVarint(s)
			e.B = append(e.B, make([]byte, 32)...)
			e.PutBool(true)
			e.PutVarint(0)
		}
		e.PutUvarint(uint64(len(pending)))
		for _, s := range pending {
			e.PutVarint(s)
			e.B = append(e.B, make([]byte, 64)...)
			e.PutBool(true)
			e.PutBool(false)
			e.PutVarint(0)
			e.PutTime(t0)
			e.B = append(e.B, make([]byte, 7)...)
		}
		return e.Get()
	}
	rec := func(v uint64, producers ...[]byte) []byte {
		b := append(bytes.Clone(stats), byte(len(producers)))
		for _, p := range producers {
			b = append(b, p...)
		}
		return seal(v, append(b, 0))
	}
	if err := chain.NewVerifier(goldenParams(), nil).UnmarshalState(rec(1, producer("p", 5, 2, []int64{3, 4}, []int64{7}))); err != nil {
		t.Fatalf("well-formed crafted record rejected: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0x04
	for name, data := range map[string][]byte{
		"flipped bit":       flipped,
		"garbage":           []byte("garbage garbage"),
		"version 2":         rec(2),
		"trailing byte":     encoding.Seal(append(bytes.Clone(body), 0)),
		"huge count":        seal(1, append(bytes.Clone(stats), 0xff, 0xff, 0xff, 0xff, 0x0f)),
		"duplicate":         rec(1, producer("p", 5, 2, nil, nil), producer("p", 5, 2, nil, nil)),
		"empty name":        rec(1, producer("", 5, 2, nil, nil)),
		"checkpoint ahead":  rec(1, producer("p", 5, 5, nil, nil)),
		"negative next":     rec(1, producer("p", -1, 0, nil, nil)),
		"history ahead":     rec(1, producer("p", 5, 2, []int64{5}, nil)),
		"history seq 0":     rec(1, producer("p", 5, 2, []int64{0}, nil)),
		"pending behind":    rec(1, producer("p", 5, 2, nil, []int64{5})),
		"pending unordered": rec(1, producer("p", 5, 2, nil, []int64{8, 7})),
		"pending, no chain": rec(1, producer("p", 0, 0, nil, []int64{3})),
		"bad bool":          seal(1, append(bytes.Clone(stats), 0, 1, 1, 'a', 0, 2)),
	} {
		if err := v.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if got := marshal(t, v); !bytes.Equal(got, good) {
			t.Fatalf("%s: state changed by a failed restore", name)
		}
	}
}

// CaptureState copies: the verifier keeps running (pending records drain
// in place, history slots are overwritten) and the encoder still writes
// the state of the capture.
func TestCaptureIsACopy(t *testing.T) {
	v := goldenState(t)
	want := marshal(t, v)
	enc := v.CaptureState()
	a := &chaintest.Stream{Producer: "rt-1", Agent: "agent-a", Tool: "search", KeyID: "k1",
		Key: chaintest.Key(1), CheckpointEvery: 5, Start: t0, Step: time.Second}
	var out []chain.Issue
	for i := range 50 {
		r := a.Next()
		if i >= 30 && i < 32 { // the lost seqs arrive: 31..40 drain, 41..50 follow
			out = v.Observe(r, 0, out)
		}
		if i >= 40 {
			out = v.Observe(r, 0, out)
		}
	}
	if got := enc(nil); !bytes.Equal(got, want) {
		t.Fatal("the captured state changed with the verifier")
	}
	if bytes.Equal(marshal(t, v), want) {
		t.Fatal("the verifier did not change: the check above was vacuous")
	}
}
