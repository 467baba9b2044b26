package baseline

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// The PWM fit recovers the scale of exponential log excesses (a Pareto
// tail in raw values), inflated by 1 + 1/√n, with ξ clamped at 0; with
// too few excesses the fallback through p90/p99 is used.
func TestFitTail(t *testing.T) {
	q := Quantiles{P10: 10, P50: 100, P90: 300, P99: math.Expm1(8), Count: 5000, Folded: 5000}
	lnU := LogValue(q.P99)
	for _, tc := range []struct {
		name      string
		n         int
		gen       func(r *rand.Rand) float64 // excess
		wantSigma float64
		fallback  bool
	}{
		{"exponential σ0.5", 32, func(r *rand.Rand) float64 { return 0.5 * r.ExpFloat64() }, 0.5 * (1 + 1/math.Sqrt(32)), false},
		{"exponential σ1.2", 32, func(r *rand.Rand) float64 { return 1.2 * r.ExpFloat64() }, 1.2 * (1 + 1/math.Sqrt(32)), false},
		{"too few", 15, func(r *rand.Rand) float64 { return r.ExpFloat64() }, (lnU - LogValue(300)) / math.Ln10, true},
	} {
		var sum float64
		const runs = 200
		for seed := range uint64(runs) {
			r := rand.New(rand.NewPCG(seed, 1))
			ring := make([]float32, tc.n)
			for i := range ring {
				ring[i] = float32(lnU + tc.gen(r))
			}
			f := fitTail(q, ring)
			if f.Fallback != tc.fallback || !f.Valid || f.Xi < 0 || f.Xi > 0.5 {
				t.Fatalf("%s: fit %+v", tc.name, f)
			}
			sum += f.Sigma
		}
		if got := sum / runs; math.Abs(got-tc.wantSigma) > 0.1*tc.wantSigma {
			t.Errorf("%s: mean σ %.3f, want ≈ %.3f", tc.name, got, tc.wantSigma)
		}
	}
}

func TestTailDecadesQuantileInverse(t *testing.T) {
	for _, f := range []TailFit{
		{LnU: 5, Zeta: 0.01, Sigma: 0.4, Valid: true},
		{LnU: 2, Zeta: 0.01, Sigma: 1.3, Xi: 0.3, Valid: true},
	} {
		if d := f.Decades(f.LnU); d != 0 {
			t.Errorf("%+v: decades at u %v, want 0", f, d)
		}
		prev := 0.0
		for _, l := range []float64{2.5, 4, 6, 8, 12, 40} {
			y := f.Quantile(l)
			if got := f.Decades(y); math.Abs(got-l) > 1e-9 {
				t.Errorf("%+v: Decades(Quantile(%v)) = %v", f, l, got)
			}
			if y <= prev {
				t.Errorf("%+v: quantile not increasing at %v", f, l)
			}
			prev = y
		}
	}
}

// A restored Dist with a tail and level state judges and learns bit for
// bit like the original.
func TestTailStateRoundTrip(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, Floor: 0, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(3, 3))
	var d Dist
	feed := func(d *Dist, from, n int, rng *rand.Rand) []Verdict {
		var vs []Verdict
		for i := from; i < from+n; i++ {
			x := 100 * math.Exp(rng.NormFloat64())
			v := d.Judge(g, x, &j, 0)
			d.Learn(g, x, distBase.Add(time.Duration(i)*time.Minute), &v, &j, d.Count() >= 200, true)
			vs = append(vs, v)
		}
		return vs
	}
	feed(&d, 0, 5000, rng)
	if d.tail.n != tailRing || !d.tail.lv.anchorSet || d.tail.lv.lw == 0 {
		t.Fatalf("premise: tail state not exercised: n=%d anchor=%v", d.tail.n, d.tail.lv.anchorSet)
	}
	enc, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	var r Dist
	if err := r.UnmarshalState(enc); err != nil {
		t.Fatal(err)
	}
	a := feed(&d, 5000, 3000, rand.New(rand.NewPCG(4, 4)))
	b := feed(&r, 5000, 3000, rand.New(rand.NewPCG(4, 4)))
	if !slices.Equal(a, b) {
		t.Fatal("restored Dist judges differently")
	}
}

// A young Dist (judged, not yet ready, no exceedance) holds no tail ring
// and no level memory, also after a snapshot round trip, which re-encodes
// byte for byte; both appear when first written.
func TestTailMemoryLazy(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, Floor: 0, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	var d Dist
	learn := func(i int, x float64) {
		v := d.Judge(g, x, &j, 0)
		d.Learn(g, x, distBase.Add(time.Duration(i)*time.Minute), &v, &j, d.Count() >= 200, true)
	}
	for i := range 40 {
		learn(i, 100) // constant: nothing exceeds p99
	}
	if d.tail.ring != nil || d.tail.lv != nil || !d.tail.fit.Valid {
		t.Fatalf("young Dist: ring %v level %v fit valid %v", d.tail.ring != nil, d.tail.lv != nil, d.tail.fit.Valid)
	}
	enc, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	var r Dist
	if err := r.UnmarshalState(enc); err != nil {
		t.Fatal(err)
	}
	again, _ := r.MarshalState(nil)
	if r.tail.ring != nil || r.tail.lv != nil || !slices.Equal(enc, again) {
		t.Fatal("restored young Dist allocated its tail memory or re-encodes differently")
	}
	learn(40, 1e6)
	if d.tail.ring == nil || d.tail.n != 1 {
		t.Fatal("an exceedance did not enter the ring")
	}
	for i := 41; i < 260; i++ {
		learn(i, 100)
	}
	if d.tail.lv == nil || d.tail.lv.lw == 0 {
		t.Fatal("a ready Dist has no level memory")
	}
}

// level.zero sees every field: a field added to level and forgotten there
// would make a restored level with only that field set read as nil.
func TestLevelZeroEveryField(t *testing.T) {
	var l level
	if !l.zero() {
		t.Fatal("zero level")
	}
	fs := leaves(reflect.ValueOf(&l).Elem())
	for i := range fs {
		l = level{}
		f := leaves(reflect.ValueOf(&l).Elem())[i]
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem() // unexported
		switch f.Kind() {
		case reflect.Float64, reflect.Float32:
			f.SetFloat(math.Copysign(0, -1)) // −0: nonzero bits
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(1)
		default:
			f.SetUint(1)
		}
		if l.zero() {
			t.Errorf("level field %d (%s) not seen by zero", i, f.Type())
		}
	}
}

// The level test stays quiet on stationary noise and reports a sustained
// 3× shift with its size.
func TestLevelShiftTest(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(5, 5))
	var d Dist
	step := func(i int, m float64) Level {
		x := m * math.Exp(0.5*rng.NormFloat64())
		v := d.Judge(g, x, &j, 0)
		return d.Learn(g, x, distBase.Add(time.Duration(i)*time.Minute), &v, &j, d.Count() >= 200, true)
	}
	for i := range 3 * 1440 {
		if lv := step(i, 100); lv.Emit {
			t.Fatalf("shift reported on stationary noise at minute %d: %+v", i, lv)
		}
	}
	for i := range 30 {
		if lv := step(3*1440+i, 300); lv.Emit {
			if lv.ShiftLn < math.Ln2*shiftReach || lv.ShiftLn > math.Log(3.5) || lv.Decades < 6 {
				t.Fatalf("shift %+v", lv)
			}
			return
		}
	}
	t.Fatal("3× shift not reported within 30 minutes")
}
