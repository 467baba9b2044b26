package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Usable's memory: usable from need on, until the count falls below half.
func TestDistUsable(t *testing.T) {
	for _, c := range []struct {
		name   string
		counts []float64
		want   []bool
	}{
		{"young", []float64{0, 150, 199}, []bool{false, false, false}},
		{"reaches need", []float64{150, 200, 250}, []bool{false, true, true}},
		{"lapses, keeps half", []float64{200, 199, 120, 100, 150}, []bool{true, true, true, true, true}},
		{"falls below half, waits for need", []float64{200, 99, 150, 199, 200}, []bool{true, false, false, false, true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d Dist
			for i, n := range c.counts {
				if got := d.Usable(n, 200); got != c.want[i] {
					t.Errorf("count %v (step %d): usable %v, want %v", n, i, got, c.want[i])
				}
			}
			d.Reset()
			if d.Usable(150, 200) {
				t.Error("usable after Reset")
			}
		})
	}
}

// A lapsed Dist (Verdict.Lapsed, Learn's ready false) learns its level
// test (a shift becomes its long run) but reports nothing; a young one
// (neither) does not run the level test at all.
func TestLearnLapsed(t *testing.T) {
	g := NewDigester(25, 7*24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	for _, lapsed := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(3, 3))
		d := new(Dist)
		reported := 0
		for i := range 2000 {
			at := distBase.Add(time.Duration(i) * 5 * time.Minute)
			x := 100 * math.Exp(0.2*rng.NormFloat64())
			if i >= 1500 {
				x *= 5 // a shift while the Dist is not ready
			}
			v := d.Judge(g, x, &j, 0)
			v.Input = uint64(i + 1)
			ready := i < 1500
			v.Lapsed = lapsed && !ready
			if l := d.Learn(g, x, at, &v, &j, ready, true); !ready && (l.Emit || l.Ready || l.Drift) {
				reported++
			}
		}
		if reported > 0 {
			t.Errorf("lapsed %v: %d levels reported while not ready", lapsed, reported)
		}
		lv := d.tail.lv
		// The long run learned the shifted values only if lapsed.
		if learned := lv != nil && lv.lm > 0.5*math.Log(5); learned != lapsed {
			t.Errorf("lapsed %v: long run %.2f (ln 5 = %.2f)", lapsed, lv.lm, math.Log(5))
		}
	}
}
