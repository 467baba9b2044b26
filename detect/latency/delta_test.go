package latency

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// A base and the deltas after it restore, at every link, the state a full
// snapshot at the same point holds, byte for byte: keys changed, evicted
// at the cap and idle, re-created, across epoch rotations (where a delta
// is refused and a new base starts the chain). The twin detector sees the
// same records and is captured whole at the same points.
func TestDeltaChainRestoresFullState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		perRound int
		rounds   int
	}{
		{"small changes", 15, 40},
		{"hour between links", 180, 30},
		{"many changes", 1500, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newDet(t, crashCfg), newDet(t, crashCfg)
			agents := func(r int) []string { // rotating: keys evicted at the cap and idle, some come back
				return []string{"agent-a", fmt.Sprint("agent-", r%5), fmt.Sprint("agent-x", r%3), "agent-d"}
			}
			sa, sb := crashStream(a, 5, 0, agents(0)), crashStream(b, 5, 0, agents(0))
			var base, order []byte
			var deltas [][]byte
			bases, links, tombs := 0, 0, 0
			for r := range tc.rounds {
				sa.agents, sb.agents = agents(r), agents(r)
				sa.run(tc.perRound)
				sb.run(tc.perRound)
				enc, ok, err := a.CaptureDelta()
				if err != nil {
					t.Fatal(err)
				}
				if ok && base != nil {
					d, err := enc(nil)
					if err != nil {
						t.Fatal(err)
					}
					deltas = append(deltas, d)
					links++
					dd, err := codec.DecodeDelta(d)
					if err != nil {
						t.Fatal(err)
					}
					tombs += len(dd.Keys.Tombs)
				} else {
					st, ord, err := a.CaptureBase()
					if err != nil {
						t.Fatal(err)
					}
					if base, err = st(nil); err != nil {
						t.Fatal(err)
					}
					if order, err = ord(nil); err != nil {
						t.Fatal(err)
					}
					deltas = nil
					bases++
				}
				want := detecttest.MustMarshal(t, b)
				fresh := newDet(t, crashCfg)
				if err := fresh.RestoreChain(base, order, deltas); err != nil {
					t.Fatalf("round %d (%d deltas): %v", r, len(deltas), err)
				}
				if got := detecttest.MustMarshal(t, fresh); !bytes.Equal(got, want) {
					t.Fatalf("round %d: base + %d deltas restore %d bytes, the full snapshot is %d bytes and differs", r, len(deltas), len(got), len(want))
				}
			}
			if links == 0 || tombs == 0 || bases < 2 && tc.perRound*tc.rounds*20 > 24*3600 {
				t.Fatalf("premise: %d bases, %d deltas, %d tombstones", bases, links, tombs)
			}
			t.Logf("%d bases, %d deltas, %d tombstones", bases, links, tombs)
		})
	}
}

// A delta changing only a few keys is far smaller than the base.
func TestDeltaHoldsOnlyChangedKeys(t *testing.T) {
	d := newDet(t, nil)
	s := newStream(d, 3)
	s.agents = make([]string, 200)
	for i := range s.agents {
		s.agents[i] = fmt.Sprint("agent-", i)
	}
	s.run(6000)
	st, _, err := d.CaptureBase()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := st(nil)
	s.agents = s.agents[:2]
	s.run(6) // 6 keys and 3 tools change
	enc, ok, err := d.CaptureDelta()
	if err != nil || !ok {
		t.Fatalf("delta: ok %v, %v", ok, err)
	}
	delta, _ := enc(nil)
	dd, err := codec.DecodeDelta(delta)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dd.Keys.Entries) + len(dd.Tools.Entries); n != 9 || len(delta)*20 > len(base) {
		t.Fatalf("delta of 9 changed keys holds %d entries, %d bytes (base %d)", n, len(delta), len(base))
	}
}

// baseAndDelta runs a crash stream (seed) of `before` records, captures a
// base and its order record, runs `after` more and captures a delta.
func baseAndDelta(t testing.TB, seed uint64, before, after int) (base, order, delta []byte) {
	t.Helper()
	d := newDet(t, crashCfg)
	s := crashStream(d, seed, 0, normalAgents)
	s.run(before)
	st, ord, err := d.CaptureBase()
	if err != nil {
		t.Fatal(err)
	}
	if base, err = st(nil); err != nil {
		t.Fatal(err)
	}
	if order, err = ord(nil); err != nil {
		t.Fatal(err)
	}
	s.run(after)
	enc, ok, err := d.CaptureDelta()
	if !ok || err != nil {
		t.Fatalf("delta: ok %v, %v", ok, err)
	}
	if delta, err = enc(nil); err != nil {
		t.Fatal(err)
	}
	return base, order, delta
}

// A corrupt or foreign delta is refused and leaves the state unchanged.
func TestRestoreChainRejectsBadDelta(t *testing.T) {
	base, order, delta := baseAndDelta(t, 7, 300, 30)
	flipped := bytes.Clone(delta)
	flipped[len(flipped)/2] ^= 1
	emptyOrder := encoding.Seal([]byte{1, 0, 0}) // version 1, no keys, no tools
	for name, tc := range map[string]struct {
		order  []byte
		deltas [][]byte
	}{
		"crc":                    {order, [][]byte{flipped}},
		"truncated":              {order, [][]byte{delta[:len(delta)-5]}},
		"no order":               {nil, [][]byte{delta}},
		"order of another state": {emptyOrder, [][]byte{delta}},
	} {
		t.Run(name, func(t *testing.T) {
			r := newDet(t, crashCfg)
			before := detecttest.MustMarshal(t, r)
			if err := r.RestoreChain(base, tc.order, tc.deltas); err == nil {
				t.Fatal("accepted")
			}
			if after := detecttest.MustMarshal(t, r); !bytes.Equal(before, after) {
				t.Fatal("state changed by a refused chain")
			}
		})
	}
}
