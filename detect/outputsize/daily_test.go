package outputsize

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// Output sizes of a tool with a ±40% daily rhythm (5% noise) after 8 warm
// days: a ×2.5 night trough (01:00–05:00) and a halved afternoon peak are
// found against the hour's level (baseline/rhythm.go), a second agent of
// the tool whose sizes keep no rhythm stays silent (its share β of the
// tool's rhythm is 0), and so does the rhythm itself.
func TestDailyRhythmClasses(t *testing.T) {
	const day = 24 * time.Hour
	rhythm := func(e time.Duration) float64 {
		h := float64(e%day) / float64(time.Hour)
		return 1 + 0.4*math.Sin(2*math.Pi*(h-9)/24)
	}
	for _, c := range []struct {
		name          string
		start, length time.Duration
		k             float64
		want          string
		within        time.Duration
	}{
		{name: "daily rhythm"},
		{name: "night trough ×2.5 for 4 h", start: time.Hour, length: 4 * time.Hour, k: 2.5, want: distdetect.DetailShiftUp, within: time.Hour},
		{name: "afternoon peak ×0.45 for 6 h", start: 12 * time.Hour, length: 6 * time.Hour, k: 0.45, want: distdetect.DetailShiftDown, within: 90 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(3, 3))
			start := 8*day + c.start
			total := start + c.length
			if c.length == 0 {
				total = 10 * day
			}
			// The flat agent's calls interleave with the rhythmic key's.
			var flatFs []detect.Finding
			fs := key(d, "a", "export", 5*time.Minute).Run(int(total/(5*time.Minute)), func(e time.Duration) float64 {
				v := 20e3 * rhythm(e) * (1 + 0.05*rng.NormFloat64())
				if e >= start && e < start+c.length {
					v *= c.k
				}
				flatFs = d.Observe(rec(base.Add(e+time.Minute), "flat", "export", int64(20e3*(1+0.05*rng.NormFloat64()))), flatFs)
				return v
			})
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(start), Anomalous: c.length > 0,
				Want: c.want, Within: c.within, MaxEpisode: 1})
			if len(flatFs) > 0 {
				t.Errorf("the flat agent: %v", detecttest.FindingsJSON(t, flatFs))
			}
		})
	}
}
