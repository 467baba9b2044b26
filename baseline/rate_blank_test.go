package baseline

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// leaves lists every scalar of v (a struct, walked through arrays and
// structs), floats by their bits.
func leaves(v reflect.Value) []reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		var out []reflect.Value
		for i := range v.NumField() {
			out = append(out, leaves(v.Field(i))...)
		}
		return out
	case reflect.Array:
		var out []reflect.Value
		for i := range v.Len() {
			out = append(out, leaves(v.Index(i))...)
		}
		return out
	}
	return []reflect.Value{v}
}

func leafBits(v reflect.Value) uint64 {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(v.Float())
	case reflect.Bool:
		if v.Bool() {
			return 1
		}
		return 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return uint64(v.Int())
	}
	return v.Uint()
}

// sameBits reports whether a and b are equal field by field, floats bit
// for bit.
func sameBits(a, b *Rate) bool {
	la, lb := leaves(reflect.ValueOf(a).Elem()), leaves(reflect.ValueOf(b).Elem())
	for i := range la {
		if leafBits(la[i]) != leafBits(lb[i]) {
			return false
		}
	}
	return true
}

// roundTrips reports whether r is blank and, if so, fails t unless the
// blank form expands to r bit for bit.
func roundTrips(t *testing.T, r *Rate, what string) bool {
	t.Helper()
	var b BlankRate
	if !b.From(r) {
		return false
	}
	var back Rate
	b.Expand(&back)
	if !sameBits(r, &back) {
		t.Fatalf("%s: blank form does not give the Rate back:\n%+v\n%+v", what, *r, back)
	}
	return true
}

// blankHistory is a Rate that counted no event: windows with gaps, armed
// from a borrowed baseline during warm-up and from its own floor after.
func blankHistory(t *testing.T) (*Rate, *RateParams, *SpikeRule) {
	_, rp, s := testRule()
	rng := rand.New(rand.NewPCG(5, 6))
	var tool Rate
	t0 := int64(1_700_000_000)
	feed(&tool, rng, t0, 400, 3, &rp, &s)
	var r Rate
	at := t0
	for i := range 500 {
		r.Roll(at, &rp)
		if r.NeedsArm() {
			r.ArmSpike(&s, &rp, &tool, nil)
		}
		if !roundTrips(t, &r, "window") {
			t.Fatalf("window %d: a Rate without events is not blank: %+v", i, r)
		}
		at += rp.Size * int64(1+rng.IntN(4))
	}
	if !r.Warm(&s) || r.Borrowed || r.Sc[0].Crit == 0 || r.Sc[0].MuSq == 0 {
		t.Fatalf("history did not reach own arming with learned moments: %+v", r.Sc[0])
	}
	return &r, &rp, &s
}

// A Rate that counted no event is blank through warm-up (borrowed
// thresholds), gaps and own arming, and its blank form gives it back bit
// for bit; one event makes it not blank.
func TestBlankRateHistory(t *testing.T) {
	r, rp, _ := blankHistory(t)
	hit := *r
	hit.Hit()
	if roundTrips(t, &hit, "hit") {
		t.Fatal("a Rate that counted an event is blank")
	}
	hit.Roll(hit.Start+rp.Size, rp)
	if roundTrips(t, &hit, "after the event's window") {
		t.Fatal("a Rate that learned an event is blank")
	}
	var zero, back Rate
	var b BlankRate
	b.Expand(&back)
	if !sameBits(&zero, &back) || !roundTrips(t, &zero, "zero") {
		t.Fatal("the zero BlankRate is not the zero Rate")
	}
}

// Every field of Rate is either kept by the blank form or makes a Rate
// not blank: a field added to Rate and forgotten here fails.
func TestBlankRateEveryField(t *testing.T) {
	r0, _, _ := blankHistory(t)
	n := len(leaves(reflect.ValueOf(r0).Elem()))
	for i := range n {
		for _, bump := range []float64{1, -2.5} {
			r := *r0
			f := leaves(reflect.ValueOf(&r).Elem())[i]
			switch f.Kind() {
			case reflect.Float32, reflect.Float64:
				f.SetFloat(f.Float() + bump)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				f.SetInt(f.Int() + int64(bump))
			default:
				f.SetUint(f.Uint() + 1)
			}
			roundTrips(t, &r, "field "+f.Type().String())
		}
	}
}

// Quiet is exactly "Roll and arming change nothing".
func TestBlankRateQuiet(t *testing.T) {
	r0, rp, s := blankHistory(t)
	var b BlankRate
	for _, dt := range []int64{-rp.Size, -1, 0, 1, rp.Size - 1, rp.Size, 3 * rp.Size} {
		for _, armed := range []bool{true, false} {
			r := *r0
			if !armed {
				r.ArmedAt = r.Start - rp.Size
			}
			if !b.From(&r) {
				t.Fatal("not blank")
			}
			before := r
			r.Roll(r.Start+dt, rp)
			if r.NeedsArm() {
				r.ArmSpike(s, rp, nil, nil)
			}
			if q := b.Quiet(before.Start+dt, rp.Size); q != sameBits(&before, &r) {
				t.Errorf("dt %d armed %v: Quiet %v, state unchanged %v", dt, armed, q, !q)
			}
		}
	}
}
