package outputsize

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// Output sizes scattering wider about an unchanged median (a tool that
// now returns truncated and bloated pages alike) raise one spread_shift;
// the same key at its usual scatter raises none (the statistic is
// baseline's, tested in detect/latency TestSpreadClasses).
func TestSpreadShift(t *testing.T) {
	const warm = 3*24*time.Hour + 9*time.Hour
	for _, c := range []struct {
		name   string
		k      float64 // σ factor from 9:00 for 3 h
		want   string
		within time.Duration
	}{
		{name: "σ 0.2 ×3 for 3 h, 1/min", k: 3, want: distdetect.DetailSpread, within: 30 * time.Minute},
		{name: "σ 0.2 unchanged, 1/min", k: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(5, 5))
			fs := key(d, "a", "pages", time.Minute).Run(int((warm+3*time.Hour)/time.Minute), func(e time.Duration) float64 {
				s := 0.2
				if e >= warm {
					s *= c.k
				}
				return 20e3 * math.Exp(s*rng.NormFloat64())
			})
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(warm), Anomalous: c.want != "", MaxPerDay: 0,
				Want: c.want, Within: c.within, MaxEpisode: 2})
			for _, f := range fs {
				if c.want == "" && (f.Detail == distdetect.DetailSpread || f.Detail == distdetect.DetailDensity) {
					t.Errorf("unchanged key: %s at %s", f.Detail, f.EventTime.Format("01-02 15:04"))
				}
			}
		})
	}
}
