package baseline

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A loop of identical calls (one input repeated, identical values) is one
// observation for the level test, not n: on a wide key (σ 1) a benign
// loop of 40 calls at 0.25× or 5× the median, alone or interleaved with a
// second task's calls, raises no shift, while the same values from
// distinct inputs (a real shift) still do, and calls without an input
// hash count as distinct.
func TestLevelRepeatedInputs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		factor     float64
		loop       int  // calls of the burst
		distinct   bool // each call of the burst has its own input
		interleave bool // another task's normal calls between the repeats
		noHash     bool // the burst carries no input hash
		shift      bool // a level shift is expected
	}{
		{name: "loop down", factor: 0.25, loop: 40},
		{name: "loop up", factor: 5, loop: 40},
		{name: "loop up interleaved", factor: 12, loop: 40, interleave: true},
		{name: "shift down, distinct inputs", factor: 0.25, loop: 40, distinct: true, shift: true},
		{name: "shift up, distinct inputs", factor: 5, loop: 40, distinct: true, shift: true},
		{name: "no input hash counts", factor: 0.25, loop: 40, noHash: true, shift: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewDigester(25, 24*time.Hour)
			j := Judge{Far: 6, ShiftLn: math.Ln2}
			rng := rand.New(rand.NewPCG(5, 5))
			var d Dist
			at := distBase
			in := uint64(1)
			learn := func(x float64, input uint64) Level {
				v := d.Judge(g, x, &j, 0)
				v.Input = input
				return d.Learn(g, x, at, &v, &j, d.Count() >= 300, true)
			}
			for range 2000 { // a week-old key at one call every 5 min
				in++
				learn(1000*math.Exp(rng.NormFloat64()), in)
				at = at.Add(5 * time.Minute)
			}
			emitted := false
			loopIn := uint64(1 << 40)
			x := 1000 * tc.factor
			for k := range tc.loop {
				input := loopIn
				switch {
				case tc.noHash:
					input = 0
				case tc.distinct:
					input = loopIn + uint64(k)
				}
				// A fixed value for a loop; distinct inputs vary a little.
				v := x
				if tc.distinct || tc.noHash {
					v = x * math.Exp(0.1*rng.NormFloat64())
				}
				emitted = emitted || learn(v, input).Emit
				at = at.Add(30 * time.Second)
				if tc.interleave && k%2 == 1 {
					in++
					emitted = emitted || learn(1000*math.Exp(rng.NormFloat64()), in).Emit
				}
			}
			if emitted != tc.shift {
				t.Fatalf("shift emitted %v, want %v", emitted, tc.shift)
			}
		})
	}
}

func TestLevelRepeatMemory(t *testing.T) {
	var l level
	for _, tc := range []struct {
		in   uint64
		hit  bool
		want [levelInputs]uint64
	}{
		{0, false, [levelInputs]uint64{}},
		{1, false, [levelInputs]uint64{1}},
		{2, false, [levelInputs]uint64{2, 1}},
		{1, true, [levelInputs]uint64{1, 2}},
		{3, false, [levelInputs]uint64{3, 1, 2}},
		{4, false, [levelInputs]uint64{4, 3, 1, 2}},
		{2, true, [levelInputs]uint64{2, 4, 3, 1}},
		{5, false, [levelInputs]uint64{5, 2, 4, 3}}, // 1 falls out
		{1, false, [levelInputs]uint64{1, 5, 2, 4}},
		{0, false, [levelInputs]uint64{1, 5, 2, 4}},
	} {
		if hit := l.repeat(tc.in); hit != tc.hit || l.inputs != tc.want {
			t.Fatalf("repeat(%d) = %v, inputs %v; want %v, %v", tc.in, hit, l.inputs, tc.hit, tc.want)
		}
	}
	if InputKey("") != 0 || InputKey("sha256:ab") == 0 || InputKey("sha256:00112233445566778899aabbccddeeff") == InputKey("sha256:00112233445566778899aabbccddeefe") {
		t.Fatal("InputKey: empty must be 0, others nonzero and distinct")
	}
}

// The recent inputs (state version 5 on), the spread memory (version 7),
// the step runs (version 9) and the burst memory (version 10) survive a
// snapshot; a version 9 state decodes with an empty burst memory, a
// version 8 or 7 state (without the step runs) with none under way, a version 6
// state (without the spread memory) with it empty, a version 4 state
// (without the inputs) with none.
func TestDistStateLevelInputs(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2}
	var d Dist
	at := distBase
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 600 {
		x := 100 * math.Exp(0.5*rng.NormFloat64())
		v := d.Judge(g, x, &j, 0)
		v.Input = uint64(i%7 + 1)
		d.Learn(g, x, at, &v, &j, d.Count() >= 300, true)
		at = at.Add(time.Minute)
	}
	if d.tail.lv == nil || d.tail.lv.inputs[levelInputs-1] == 0 {
		t.Fatal("premise: level memory with recent inputs")
	}
	enc, _ := d.MarshalState(nil)
	var r Dist
	if err := r.UnmarshalState(enc); err != nil {
		t.Fatal(err)
	}
	if r.tail.lv.inputs != d.tail.lv.inputs {
		t.Fatalf("restored inputs %v, want %v", r.tail.lv.inputs, d.tail.lv.inputs)
	}
	if r.tail.lv.stepN != d.tail.lv.stepN || r.tail.lv.stepS != d.tail.lv.stepS {
		t.Fatalf("restored step runs %v %v, want %v %v", r.tail.lv.stepN, r.tail.lv.stepS, d.tail.lv.stepN, d.tail.lv.stepS)
	}
	// Version 9: no burst block (varint last, 5 float32), read empty.
	burstBlock := len(binary.AppendVarint(nil, d.tail.lv.bu.last)) + 20
	v9 := slices.Clone(enc[:len(enc)-burstBlock])
	v9[0] = 9
	var o9 Dist
	if err := o9.UnmarshalState(v9); err != nil {
		t.Fatalf("version 9 state: %v", err)
	}
	if o9.tail.lv.bu != (burstMem{}) || o9.tail.lv.sp != d.tail.lv.sp || o9.tail.lv.stepN != d.tail.lv.stepN || o9.tail.lv.stepS != d.tail.lv.stepS || o9.tail.lv.spFlags&^(spBurst|spBurstEp) != d.tail.lv.spFlags&^(spBurst|spBurstEp) {
		t.Fatalf("version 9 state restored burst %+v spread %+v steps %v %v", o9.tail.lv.bu, o9.tail.lv.sp, o9.tail.lv.stepN, o9.tail.lv.stepS)
	}
	if r.tail.lv.bu != d.tail.lv.bu || r.tail.lv.bu.w == 0 {
		t.Fatalf("restored burst memory %+v, want %+v (in use)", r.tail.lv.bu, d.tail.lv.bu)
	}
	// Version 8: no step runs either (2 × (u16, f32); no rhythm here, so no
	// early levels), read with none under way. Version 7 is the same
	// without the usable flag (not set here: ready is the plain count).
	if enc[1]&distFlagUsable != 0 {
		t.Fatal("premise: not usable")
	}
	const stepBlock = 12
	v8 := slices.Clone(v9[:len(v9)-stepBlock])
	v8[0] = 8
	v7 := slices.Clone(v8)
	v7[0] = 7
	for _, old := range [][]byte{v8, v7} {
		var o Dist
		if err := o.UnmarshalState(old); err != nil {
			t.Fatalf("version %d state: %v", old[0], err)
		}
		if o.tail.lv.stepN != ([2]uint16{}) || o.tail.lv.stepS != ([2]float32{}) || o.tail.lv.sp != d.tail.lv.sp || o.tail.lv.bu != (burstMem{}) {
			t.Fatalf("version %d state restored step runs %v %v burst %+v", old[0], o.tail.lv.stepN, o.tail.lv.stepS, o.tail.lv.bu)
		}
	}
	// Version 6: also no spread block (a flags byte, 4 float32), read empty.
	const spreadBlock = 17
	v6 := slices.Clone(v7[:len(v7)-spreadBlock])
	v6[0] = 6
	var o6 Dist
	if err := o6.UnmarshalState(v6); err != nil {
		t.Fatalf("version 6 state: %v", err)
	}
	if o6.tail.lv.sp != (spreadMem{}) || o6.tail.lv.spFlags != 0 || o6.tail.lv.inputs != d.tail.lv.inputs {
		t.Fatalf("version 6 state restored spread %+v flags %d inputs %v", o6.tail.lv.sp, o6.tail.lv.spFlags, o6.tail.lv.inputs)
	}
	if r.tail.lv.sp != d.tail.lv.sp || r.tail.lv.sp.dw == 0 {
		t.Fatalf("restored spread memory %+v, want %+v (in use)", r.tail.lv.sp, d.tail.lv.sp)
	}
	// Version 5: also no rhythm share and rhythm (f32 rr rd, u8 hourly, u8
	// rhythm present: 10 bytes, all zero here).
	if !bytes.Equal(v6[len(v6)-10:], make([]byte, 10)) {
		t.Fatalf("premise: no rhythm, trailing bytes %x", v6[len(v6)-10:])
	}
	enc = slices.Clone(v6[:len(v6)-10])
	enc[0] = 5
	// Version 4: no input block.
	old := slices.Clone(enc[:len(enc)-1-8*levelInputs])
	old[0] = 4
	var o Dist
	if err := o.UnmarshalState(old); err != nil {
		t.Fatalf("version 4 state: %v", err)
	}
	if o.tail.lv.inputs != ([levelInputs]uint64{}) || o.tail.lv.lm != d.tail.lv.lm {
		t.Fatalf("version 4 state restored inputs %v, long mean %v (want none, %v)", o.tail.lv.inputs, o.tail.lv.lm, d.tail.lv.lm)
	}
	// A zero input or too many are malformed.
	for _, bad := range [][]byte{
		append(slices.Clone(enc[:len(enc)-1-8*levelInputs]), 1, 0, 0, 0, 0, 0, 0, 0, 0),
		append(slices.Clone(enc[:len(enc)-1-8*levelInputs]), levelInputs+1),
		enc[:len(enc)-3],
		append(slices.Clone(enc), make([]byte, 10)...),         // version 5 with a rhythm block
		append(slices.Clone(v6), make([]byte, spreadBlock)...), // version 6 with a spread block
		append(slices.Clone(v7), make([]byte, stepBlock)...),   // version 7 with step runs
		append(slices.Clone(v8), make([]byte, stepBlock)...),   // version 8 with step runs
	} {
		if err := new(Dist).UnmarshalState(bad); err == nil {
			t.Fatalf("malformed input block %x accepted", bad[len(bad)-9:])
		}
	}
}
