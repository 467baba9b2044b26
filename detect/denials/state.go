package denials

import (
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/keydelta"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// stateVersion is the record version this package writes. Versions 1
// and 2 were gob and are not read (the snapshot container refuses them);
// version 3 (no Used, UsedAt) is upgraded with empty used sets, version
// 4 (rates without Quiet: baseline.Rate GetStateNoQuiet) with no quiet
// windows and no retry to fold, version 5 (no CallAt, Call) with no retry
// to fold.
const stateVersion = 6

// StateV4 (the name kept from version 4) is the snapshot record of a
// denial Detector, written field by field in the order declared
// (internal/encoding; Rate as in baseline/rate_state.go), then a CRC-32C:
//
//	uvarint version 6, varint Ticked, varint TickedAt, uvarint Overflow,
//	uvarint KeysRejected KeysEvicted ToolsRejected ToolsEvicted,
//	uvarint count, Keys; uvarint count, Tools
//	key:  str Agent, str Tool, varint LastSeen, varint Size, 3 × varint Scales, Rate,
//	      varint CallAt, BE64 Call (only when CallAt is not 0)
//	tool: str Tool, varint LastSeen, varint Size, 3 × varint Scales, Rate,
//	      uvarint Calls, uvarint count, Types (BE64 each),
//	      uvarint count, Actions (BE64 each), varint Since,
//	      uvarint count, Used (BE64 each), varint UsedAt
//
// Keys and tools are in their store's recency order
// (baseline.Store.RangeSeen), so equal states encode equally and a restore
// evicts as the original would.
// Per-key configs are resolved from the restoring detector's params; a key
// whose window or scales differ from those it was counted in has its rate
// baseline reset, as SetParams does.
type StateV4 struct {
	Ticked        int64
	TickedAt      int64 // watermark of the last tick (keys roll lazily)
	Overflow      uint64
	KeysRejected  uint64
	KeysEvicted   uint64
	ToolsRejected uint64
	ToolsEvicted  uint64
	Keys          []KeyV4
	Tools         []ToolV4
}

// KeyV4 is one (agent, tool) key.
type KeyV4 struct {
	Agent, Tool string
	LastSeen    int64                   // store idle clock, unix seconds
	Size        int64                   // window of Rate, seconds
	Scales      [baseline.MaxScales]int // windows per scale of Rate
	Rate        baseline.Rate
	// CallAt and Call: the last denied call counted (unix seconds;
	// fingerprint), whose verbatim retries fold into it; 0 none.
	CallAt int64
	Call   uint64
}

// ToolV4 is one tool's state: its rate over all agents and its seen sets
// (hashes, in insertion order).
type ToolV4 struct {
	Tool     string
	LastSeen int64
	Size     int64
	Scales   [baseline.MaxScales]int
	Rate     baseline.Rate
	Calls    uint64
	Types    []uint64
	Actions  []uint64
	Since    int64
	Used     []uint64 // hashes of permissions its successful calls used
	UsedAt   int64    // window start of the last learning of Used
}

// Smallest encodings, bounding the counts a record may claim.
const (
	minRate = 2 + 24*8 + 24 + 4 + 1 + 72 + 1 + 3*(9*4+2) + 9 + 8
	minKey  = 1 + 1 + 1 + 1 + 3 + minRate
	minTool = 1 + 1 + 1 + 3 + minRate + 1 + 1 + 1 + 1
)

func (st *StateV4) put(e *encoding.Encbuf) {
	e.PutVarint(st.Ticked)
	e.PutVarint(st.TickedAt)
	e.PutUvarint(st.Overflow)
	for _, n := range [...]uint64{st.KeysRejected, st.KeysEvicted, st.ToolsRejected, st.ToolsEvicted} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Keys)))
	for i := range st.Keys {
		k := &st.Keys[i]
		e.PutUvarintStr(k.Agent)
		e.PutUvarintStr(k.Tool)
		e.PutVarint(k.LastSeen)
		ratedetect.PutWindow(e, k.Size, &k.Scales)
		k.Rate.PutState(e)
		e.PutVarint(k.CallAt)
		if k.CallAt != 0 {
			e.PutBE64(k.Call)
		}
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		t := &st.Tools[i]
		e.PutUvarintStr(t.Tool)
		e.PutVarint(t.LastSeen)
		ratedetect.PutWindow(e, t.Size, &t.Scales)
		t.Rate.PutState(e)
		e.PutUvarint(t.Calls)
		for _, hs := range [...][]uint64{t.Types, t.Actions} {
			e.PutUvarint(uint64(len(hs)))
			for _, h := range hs {
				e.PutBE64(h)
			}
		}
		e.PutVarint(t.Since)
		e.PutUvarint(uint64(len(t.Used)))
		for _, h := range t.Used {
			e.PutBE64(h)
		}
		e.PutVarint(t.UsedAt)
	}
}

func getHashes(d *encoding.Decbuf) []uint64 {
	n := d.Count(8)
	if n == 0 {
		return nil
	}
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = d.BE64()
	}
	return hs
}

func getStateV3(d *encoding.Decbuf) StateV4 { return getState(d, 3) }
func getStateV4(d *encoding.Decbuf) StateV4 { return getState(d, 4) }
func getStateV5(d *encoding.Decbuf) StateV4 { return getState(d, 5) }
func getStateV6(d *encoding.Decbuf) StateV4 { return getState(d, 6) }

// getState reads a version 3 to 6 record (version 3 has no used sets:
// learned again from the next successful calls; versions before 6 have no
// last denied call, so no retry to fold).
func getState(d *encoding.Decbuf, version int) StateV4 {
	used, calls := version >= 4, version >= 6
	st := StateV4{Ticked: d.Varint(), TickedAt: d.Varint(), Overflow: d.Uvarint()}
	for _, n := range [...]*uint64{&st.KeysRejected, &st.KeysEvicted, &st.ToolsRejected, &st.ToolsEvicted} {
		*n = d.Uvarint()
	}
	st.Keys = make([]KeyV4, d.Count(minKey))
	for i := range st.Keys {
		if d.Err() != nil {
			break
		}
		k := &st.Keys[i]
		k.Agent, k.Tool, k.LastSeen = d.UvarintStr(), d.UvarintStr(), d.Varint()
		ratedetect.GetWindow(d, &k.Size, &k.Scales)
		k.Rate.GetStateOf(d, version >= 5)
		if calls {
			if k.CallAt = d.Varint(); k.CallAt != 0 {
				k.Call = d.BE64()
			}
		}
	}
	st.Tools = make([]ToolV4, d.Count(minTool))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		t := &st.Tools[i]
		t.Tool, t.LastSeen = d.UvarintStr(), d.Varint()
		ratedetect.GetWindow(d, &t.Size, &t.Scales)
		t.Rate.GetStateOf(d, version >= 5)
		t.Calls = d.Uvarint()
		t.Types = getHashes(d)
		t.Actions = getHashes(d)
		t.Since = d.Varint()
		if used {
			t.Used = getHashes(d)
			t.UsedAt = d.Varint()
		}
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[StateV4]{3: getStateV3, 4: getStateV4, 5: getStateV5, 6: getStateV6}

// encode writes st as the current version.
func (st *StateV4) encode(b []byte) []byte {
	return encoding.AppendRecord(b, stateVersion, len(st.Keys)*(minKey+64)+len(st.Tools)*(minTool+64), st.put)
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) { return detect.MarshalCaptured(d, b) }

// CaptureState implements detect.Capturer. The (agent, tool) keys, by far
// the most, are captured copy-on-write (baseline.Capture): each is copied
// by the consumer when it next touches the key or by the Encoder for the
// rest. Tools (few) are copied here.
func (d *Detector) CaptureState() (detect.Encoder, error) {
	st, c, _ := d.capture(false)
	return func(b []byte) ([]byte, error) {
		st.Keys = c.Finish()
		return st.encode(b), nil
	}, nil
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	st, _, err := stateDecoders.Decode("denial state", data)
	if err != nil {
		return err
	}
	return d.restore(&st)
}

// restore replaces d's state with st; on error d is unchanged.
func (d *Detector) restore(st *StateV4) error {
	keys, tools := d.keys.Empty(), d.tools.Empty()
	for i := range st.Keys {
		k := &st.Keys[i]
		bk := baseline.Key{Agent: k.Agent, Tool: k.Tool}
		if keys.Peek(bk) != nil {
			return fmt.Errorf("denial state: duplicate key %q/%q", k.Agent, k.Tool)
		}
		if err := k.Rate.Check(); err != nil {
			return fmt.Errorf("denial state: key %q/%q: %w", k.Agent, k.Tool, err)
		}
		ks := keys.Put(bk, k.LastSeen, keyState{gen: d.tn.Stamp()})
		ks.t = d.tn.For(k.Agent, k.Tool)
		if ratedetect.SameWindow(&ks.t.rp, k.Size, k.Scales) {
			ks.setRate(&k.Rate)
		}
		if k.CallAt != 0 {
			ks.materialise()
			ks.full.call, ks.full.callAt = k.Call, k.CallAt
		}
	}
	for i := range st.Tools {
		t := &st.Tools[i]
		bk := baseline.Key{Tool: t.Tool}
		if tools.Peek(bk) != nil {
			return fmt.Errorf("denial state: duplicate tool %q", t.Tool)
		}
		if err := t.Rate.Check(); err != nil {
			return fmt.Errorf("denial state: tool %q: %w", t.Tool, err)
		}
		ts := tools.Put(bk, t.LastSeen, toolState{rate: t.Rate, calls: t.Calls, types: t.Types, actions: t.Actions, since: t.Since,
			used: t.Used, usedAt: t.UsedAt, gen: d.tn.Stamp()})
		ts.t = d.tn.For("", t.Tool)
		if !ratedetect.SameWindow(&ts.t.rp, t.Size, t.Scales) {
			ts.rate = baseline.Rate{}
		}
	}
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	d.keys, d.tools, d.ticked, d.tickedAt, d.overflow = keys, tools, st.Ticked, st.TickedAt, st.Overflow
	d.tn.Swept()
	return nil
}

// Incremental snapshots (detect.DeltaCapturer, framed by package
// keydelta): a delta is a StateV4 record holding only the (agent, tool)
// keys accessed since the previous capture, with everything else (tools,
// counters, tick) whole, plus the tombstones of the keys evicted since and
// each changed key's recency position. A key's record is copied as it is
// (keys roll lazily, the capture does not settle them), so a key not
// accessed since the previous capture encodes as it did then.

// capture starts a capture of d; delta selects a delta capture (ok false
// when d's keys were not captured since they were built or restored).
func (d *Detector) capture(delta bool) (st *StateV4, c *baseline.StoreCapture[baseline.Key, keyState, KeyV4], ok bool) {
	cp := func(_ bool, k baseline.Key, seen int64, ks *keyState) KeyV4 {
		kv := KeyV4{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size, Scales: ks.t.rp.N, Rate: ks.rate()}
		if ks.full != nil {
			kv.CallAt, kv.Call = ks.full.callAt, ks.full.call
		}
		return kv
	}
	if delta {
		if c, ok = baseline.CaptureDelta(d.keys, cp); !ok {
			return nil, nil, false
		}
	} else {
		c = baseline.Capture(d.keys, cp)
	}
	st = &StateV4{Ticked: d.ticked, TickedAt: d.tickedAt, Overflow: d.overflow, Tools: make([]ToolV4, 0, d.tools.Len())}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV4{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, Scales: ts.t.rp.N, Rate: ts.rate, Calls: ts.calls,
			Types: slices.Clone(ts.types), Actions: slices.Clone(ts.actions), Since: ts.since,
			Used: slices.Clone(ts.used), UsedAt: ts.usedAt})
		return true
	})
	return st, c, true
}

// CaptureBase implements detect.DeltaCapturer: CaptureState, and the
// order record of its keys (call state first).
func (d *Detector) CaptureBase() (state, order detect.Encoder, err error) {
	st, c, _ := d.capture(false)
	var seqs []int64
	done := false
	state = func(b []byte) ([]byte, error) {
		st.Keys, seqs = c.FinishSeq()
		done = true
		return st.encode(b), nil
	}
	order = func(b []byte) ([]byte, error) {
		if !done {
			return b, fmt.Errorf("denial state: order encoded before the state")
		}
		return keydelta.EncodeOrder(b, seqs), nil
	}
	return state, order, nil
}

// CaptureDelta implements detect.DeltaCapturer.
func (d *Detector) CaptureDelta() (detect.Encoder, bool, error) {
	st, c, ok := d.capture(true)
	if !ok {
		return nil, false, nil
	}
	tombs := c.Tombstones()
	return func(b []byte) ([]byte, error) {
		var seqs []int64
		st.Keys, seqs = c.FinishSeq()
		return keydelta.Encode(b, &keydelta.Delta{State: st.encode(nil), Tombs: tombs, Seqs: seqs}), nil
	}, true, nil
}

// RestoreChain implements detect.DeltaCapturer.
func (d *Detector) RestoreChain(base, order []byte, deltas [][]byte) error {
	st, _, err := stateDecoders.Decode("denial state", base)
	if err != nil {
		return err
	}
	if len(deltas) == 0 {
		return d.restore(&st)
	}
	seqs, err := keydelta.DecodeOrder("denial state", order)
	if err != nil {
		return err
	}
	keyOf := func(k *KeyV4) baseline.Key { return baseline.Key{Agent: k.Agent, Tool: k.Tool} }
	ch, err := baseline.NewChain(st.Keys, seqs, keyOf)
	if err != nil {
		return fmt.Errorf("denial state: %w", err)
	}
	for i, data := range deltas {
		dd, err := keydelta.Decode("denial state", data)
		if err != nil {
			return fmt.Errorf("delta %d: %w", i+1, err)
		}
		if st, _, err = stateDecoders.Decode("denial state delta", dd.State); err != nil {
			return fmt.Errorf("delta %d: %w", i+1, err)
		}
		if err := ch.Apply(dd.Tombs, st.Keys, dd.Seqs); err != nil {
			return fmt.Errorf("denial state delta %d: %w", i+1, err)
		}
	}
	if st.Keys, _, err = ch.Result(); err != nil {
		return fmt.Errorf("denial state: %w", err)
	}
	return d.restore(&st)
}

var (
	_ detect.State         = (*Detector)(nil)
	_ detect.Capturer      = (*Detector)(nil)
	_ detect.DeltaCapturer = (*Detector)(nil)
)
