package frequency

import (
	"math"
	"math/rand/v2"
	"testing"
)

// nbDraw draws NB(mu, k) as a gamma-mixed Poisson (k = 0: Poisson).
func nbDraw(r *rand.Rand, mu, k float64) int {
	lam := mu
	if k > 0 {
		lam = gammaDraw(r, 1/k) * k * mu
	}
	return poissonDraw(r, lam)
}

// clusterDraw draws a compound Poisson count: clusters at rate lam, each
// of a geometric number of calls with mean size (the task-clustered keys
// of the simulator and of REALISM.md; not the NB's logarithmic clusters).
func clusterDraw(r *rand.Rand, lam, size float64) int {
	n := 0
	for c := poissonDraw(r, lam); c > 0; c-- {
		n++
		for r.Float64() >= 1/size {
			n++
		}
	}
	return n
}

func poissonDraw(r *rand.Rand, lam float64) int {
	if lam > 50 {
		return max(0, int(math.Round(lam+math.Sqrt(lam)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lam), 0, 1.0
	for {
		if p *= r.Float64(); p <= l {
			return k
		}
		k++
	}
}

// gammaDraw is Marsaglia–Tsang (shape a, scale 1).
func gammaDraw(r *rand.Rand, a float64) float64 {
	if a < 1 {
		return gammaDraw(r, a+1) * math.Pow(r.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := r.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

// riseRun feeds windows drawn by draw to a key's statistic judged against
// NB(mu, k) and returns the alarms (R reaching 1/far) and the windows of
// the last alarm's episode.
func riseRun(seed uint64, windows int, mu, k, far float64, draw func(r *rand.Rand) int) (alarms int) {
	r := rand.New(rand.NewPCG(seed, 7))
	ks := &keyState{t: &tuned{riseLogA: -math.Log(far)}}
	m := newRiseModel(mu, k)
	ms := riseModels{m, m}
	for range windows {
		x := float64(draw(r))
		l := ms.llr(x)
		if float64(ks.rise.l)+l >= ks.t.riseLogA {
			alarms++
			ks.riseEnd()
			continue
		}
		ks.riseAdd(x, l, mu)
	}
	return alarms
}

// The alarm level keeps its promise on event-time streams of normal
// windows: at most false_alarm_rate alarms per window (the mean run length
// to a false alarm is at least 1/false_alarm_rate), measured at a level
// where that is observable (1e-3 over 300,000 windows: at most 300), for
// Poisson keys, negative-binomial keys and task-clustered keys whose
// clusters are geometric (the model's k fitted from their variance, as a
// key's baseline does).
func TestRiseFalseAlarmRate(t *testing.T) {
	const far, windows = 1e-3, 300000
	tests := []struct {
		name  string
		mu, k float64
		draw  func(r *rand.Rand) int
	}{
		{"poisson 1/window", 1, 0, func(r *rand.Rand) int { return poissonDraw(r, 1) }},
		{"poisson 12/window", 12, 0, func(r *rand.Rand) int { return poissonDraw(r, 12) }},
		{"nb 2.5, index 3.5", 2.5, 1, func(r *rand.Rand) int { return nbDraw(r, 2.5, 1) }},
		{"nb 13, index 12", 13, 11.0 / 13, func(r *rand.Rand) int { return nbDraw(r, 13, 11.0/13) }},
		// geometric clusters of mean 2 at 1.25/window: mean 2.5, variance
		// 2.5·(2·2−1) = 7.5, k = (7.5−2.5)/2.5² = 0.8.
		{"task clusters of 2", 2.5, 0.8, func(r *rand.Rand) int { return clusterDraw(r, 1.25, 2) }},
		// clusters of mean 8 at 0.5/window: mean 4, variance 60, k = 3.5.
		{"task clusters of 8", 4, 3.5, func(r *rand.Rand) int { return clusterDraw(r, 0.5, 8) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alarms := riseRun(1, windows, tc.mu, tc.k, far, tc.draw)
			t.Logf("%d alarms in %d windows (budget %.0f)", alarms, windows, far*windows)
			if float64(alarms) > far*windows {
				t.Errorf("%d false alarms in %d windows: more than false_alarm_rate %g allows", alarms, windows, far)
			}
		})
	}
}

// The test finds what it is for: windows running at several times their
// expectation alarm within a few windows; a single x40 burst of a
// clustered key does not (its evidence grows with the log of the count).
func TestRiseDetects(t *testing.T) {
	const far = 1e-6
	tests := []struct {
		name     string
		mu, k    float64
		counts   []int
		alarmsAt int // window index of the alarm, -1 none
	}{
		{"x8 on a poisson key", 1, 0, []int{1, 0, 2, 8, 8, 8, 8, 8, 8}, 4},
		{"x6 on a clustered key", 2.5, 1.5, []int{2, 3, 15, 15, 15, 15, 15, 15, 15, 15}, 7},
		{"at expectation", 2.5, 1.5, []int{2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3}, -1},
		{"one x40 burst", 2.5, 1.5, []int{2, 3, 100, 2, 3, 2}, -1},
		{"empty", 2.5, 1.5, []int{0, 0, 0, 0, 0, 0}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks := &keyState{t: &tuned{riseLogA: -math.Log(far)}}
			m := newRiseModel(tc.mu, tc.k)
			ms := riseModels{m, m}
			got := -1
			for i, x := range tc.counts {
				l := ms.llr(float64(x))
				if float64(ks.rise.l)+l >= ks.t.riseLogA {
					got = i
					break
				}
				ks.riseAdd(float64(x), l, tc.mu)
			}
			if got != tc.alarmsAt {
				t.Errorf("alarm at window %d, want %d (statistic %.2f)", got, tc.alarmsAt, ks.rise.l)
			}
		})
	}
}

// The likelihood ratio: Poisson as the limit of small dispersion, zero at
// the break-even count, increasing in the count.
func TestRiseLLR(t *testing.T) {
	p, nb := newRiseModel(3, 0), newRiseModel(3, 1e-5)
	for _, x := range []float64{0, 1, 3, 10, 40} {
		if a, b := p.llr(x), nb.llr(x); math.Abs(a-b) > 1e-3*math.Max(1, math.Abs(a)) {
			t.Errorf("x=%g: poisson %.6f, nb k=1e-5 %.6f", x, a, b)
		}
	}
	if got, want := p.llr(0), -3*3.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("poisson llr(0) = %v, want %v", got, want)
	}
	for _, m := range []riseModel{p, newRiseModel(2.5, 1.5), newRiseModel(0.01, 50)} {
		for x := 0.0; x < 200; x++ {
			if m.llr(x+1) <= m.llr(x) {
				t.Fatalf("llr not increasing at %g: %+v", x, m)
			}
		}
	}
}

// idleBack restores the level a key went idle at only after a quiet of a
// day or more (default half_life 72h: a day decays the level to 0.794 of
// it); a night or a sparse key's gap leaves the open deficit fading with
// the level.
func TestIdleBack(t *testing.T) {
	cfg := DefaultConfig()
	tn := newTuned(&cfg)
	day := float32(tn.idleDay)
	tests := []struct {
		name          string
		lvl, def, lv  float32
		back          bool
		wantDef, want float32 // deficit and lvl after
	}{
		{name: "active window", lvl: 2, def: 0.5, lv: 2.1, wantDef: 0.5, want: 2.1},
		{name: "back after 36h", lvl: 2, lv: 2 * day * day * 0.9, back: true, wantDef: 2 - 2*day*day*0.9, want: 2 * day * day * 0.9},
		{name: "back after a day, open deficit kept", lvl: 2, def: 0.5, lv: 1.5, back: true, wantDef: 1, want: 1.5},
		{name: "back after a night: no restore", lvl: 2, lv: 1.8, back: true, wantDef: 0, want: 1.8},
		{name: "night fades the open deficit", lvl: 2, def: 0.5, lv: 1.8, back: true, wantDef: 0.45, want: 1.8},
		{name: "first window", lvl: 0, lv: 0, back: true, wantDef: 0, want: 0},
		{name: "negligible deficit dropped", lvl: 2, def: 0.0005, lv: 1.9, back: true, wantDef: 0, want: 1.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks := keyState{t: tn, idle: idleState{lvl: tc.lvl, def: tc.def}}
			ks.idleBack(tc.lv, tc.back)
			if math.Abs(float64(ks.idle.def-tc.wantDef)) > 1e-5 || ks.idle.lvl != tc.want {
				t.Errorf("idle %+v, want def %v lvl %v", ks.idle, tc.wantDef, tc.want)
			}
		})
	}
	if day < 0.79 || day > 0.8 {
		t.Errorf("a day's decay at half_life 72h: %v, want 0.794", day)
	}
}
