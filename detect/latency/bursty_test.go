package latency

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// A bursty tool (20 minutes at 5× its median every 1, 2 or 6 hours, one
// call a minute) is not an alert storm: once its bursts are routine the
// peak guard keeps level shifts quiet, at most 3 findings in any day.
func TestBurstyToolNoStorm(t *testing.T) {
	for _, every := range []time.Duration{time.Hour, 2 * time.Hour, 6 * time.Hour} {
		d := newDet(t, nil)
		rng := rand.New(rand.NewPCG(1, 2))
		k := key(d, "a", "bursty", time.Minute)
		fs := k.Run(5*1440, func(e time.Duration) float64 {
			m := 200.0
			if e%every < 20*time.Minute {
				m *= 5
			}
			return m * math.Exp(0.5*rng.NormFloat64())
		})
		n, day := detecttest.MaxPerDay(fs, 40)
		t.Logf("bursts every %v: %d findings in 5 days, most in a day %d (%s)", every, len(fs), n, day)
		if n > 3 {
			t.Errorf("bursts every %v: %d findings on %s, want ≤ 3", every, n, day)
		}
	}
}
