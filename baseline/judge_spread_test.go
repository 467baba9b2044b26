package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

// The spread and density memory costs 16 bytes a level memory (its flags
// sit in padding): 208 bytes before it (192 plus the daily rhythm's share
// and pointer); the burst memory 32 more (the 256-byte size class).
func TestSpreadMemorySize(t *testing.T) {
	if n := unsafe.Sizeof(level{}); n > 208+16+32 {
		t.Errorf("level memory %d bytes, want ≤ 256", n)
	}
}

// Where the key follows a learned daily rhythm, spread and density are
// measured from the hour's level, as the level test is: a key with a
// strong rhythm (e^±1 over the day, σ 0.15 noise, one value a minute,
// learning its own rhythm like a tool) raises neither for 9 days, and σ ×3
// for 3 h around the rhythm's peak (05:00–08:00 on day 9, where the day's
// level lies e^0.7–e^1 above the 24 h mean) is a spread_shift within an
// hour. Without the rhythm (the test before the daily level, β 0) the
// peak's local level lies beyond half the shift reach from the 24 h mean
// (the burst is not tested) and the rhythm's swing in the long-run
// variance makes its scatter look usual (ratio ≤ 1): the control case
// shows what the hour's level buys.
func TestSpreadAgainstHour(t *testing.T) {
	const day = 24 * time.Hour
	burst0, burst1 := 9*day+5*time.Hour, 9*day+8*time.Hour
	for _, c := range []struct {
		name          string
		rhythm, burst bool
		wantSpread    bool
	}{
		{"rhythm learned, no burst", true, false, false},
		{"rhythm learned, burst at the peak", true, true, true},
		{"no rhythm (control), burst at the peak", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewDigester(25, 7*24*time.Hour)
			j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
			rng := rand.New(rand.NewPCG(3, 3))
			var d Dist
			found := time.Duration(-1)
			hourly := false
			for e := time.Duration(0); e < 10*day; e += time.Minute {
				h := float64(e%day) / float64(time.Hour)
				in := c.burst && e >= burst0 && e < burst1
				sd := 0.15
				if in {
					sd *= 3
				}
				x := 250 * math.Exp(math.Sin(2*math.Pi*h/24)+sd*rng.NormFloat64())
				v := d.Judge(g, x, &j, 0)
				if c.rhythm {
					v.LearnRhythm, v.Rhythm = true, d.Rhythm()
				}
				lv := d.Learn(g, x, distBase.Add(e), &v, &j, d.Count() >= 200, true)
				if in {
					hourly = hourly || lv.Hourly
				}
				switch {
				case in && lv.Disp.Spread && found < 0:
					found = e - burst0
				case !in && (lv.Disp.Spread || lv.Disp.Density):
					t.Errorf("%s outside the burst at day %d %02d:%02d (spread ratio %.2f, spikes %.1f of %.1f)",
						map[bool]string{true: "spread_shift", false: "spike_density"}[lv.Disp.Spread],
						e/day, e%day/time.Hour, e%time.Hour/time.Minute, lv.Disp.SpreadRatio, lv.Disp.Spikes, lv.Disp.SpikesExpected)
				}
			}
			if c.burst && hourly != c.rhythm {
				t.Fatalf("premise: level test against the hour %v during the burst, want %v", hourly, c.rhythm)
			}
			switch {
			case c.wantSpread && (found < 0 || found > time.Hour):
				t.Errorf("burst at the peak: spread_shift after %v, want within 1h", found)
			case !c.wantSpread && found >= 0:
				t.Errorf("spread_shift %v into the burst, want none", found)
			}
			t.Logf("spread_shift %v into the burst", found)
		})
	}
}
