package baseline

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/influxdata/tdigest"
)

// TestSharedDistMatchesWholeTraffic: a value stream split over three
// Dists (three partitions of one tool) and merged through sketches has
// the quantiles of one Dist fed everything, within the sketch error; the
// local Dist is not changed by being sketched.
func TestSharedDistMatchesWholeTraffic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sigma  float64
		n      int
		skewed bool // partitions see different parts of the distribution
	}{
		{"even", 0.5, 9000, false},
		{"skewed", 0.8, 9000, true},
		{"small", 0.5, 301, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewDigester(25, 24*time.Hour)
			rng := rand.New(rand.NewPCG(3, 4))
			var whole Dist
			parts := make([]Dist, 3)
			vals := make([]float64, 0, tc.n)
			for i := range tc.n {
				v := math.Exp(5 + tc.sigma*rng.NormFloat64())
				at := distBase.Add(time.Duration(i) * time.Second)
				whole.Add(g, v, at)
				p := i % 3
				if tc.skewed {
					p = min(int(math.Log(v)-4), 2)
					p = max(p, 0)
				}
				parts[p].Add(g, v, at)
				vals = append(vals, v)
			}
			slices.Sort(vals)
			before, err := parts[0].MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			others := []DistSketch{parts[1].Sketch(g), parts[2].Sketch(g)}
			sd := SharedDist(g, &parts[0], others)
			after, _ := parts[0].MarshalState(nil)
			if string(before) != string(after) {
				t.Fatal("sketching changed the local Dist")
			}
			got, want := sd.Quantiles(g), whole.Quantiles(g)
			if got.Count != float64(tc.n) {
				t.Fatalf("merged count %v, want %d", got.Count, tc.n)
			}
			if got.Max != vals[len(vals)-1] {
				t.Fatalf("merged max %v, want %v", got.Max, vals[len(vals)-1])
			}
			for _, c := range []struct {
				name      string
				got, want float64
				tol       float64
			}{
				{"p50", got.P50, exactQuantile(vals, 0.5), 0.05},
				{"p90", got.P90, exactQuantile(vals, 0.9), 0.08},
				{"p99", got.P99, exactQuantile(vals, 0.99), 0.15},
				{"p99 vs one Dist", got.P99, want.P99, 0.15},
			} {
				if rel := math.Abs(c.got-c.want) / c.want; rel > c.tol {
					t.Errorf("%s = %.1f, want %.1f (rel err %.3f > %.2f)", c.name, c.got, c.want, rel, c.tol)
				}
			}
			if f := sd.Tail(g); !f.Valid {
				t.Fatal("merged view has no tail")
			}
		})
	}
}

func TestSharedDistEmpty(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	if d := SharedDist(g, nil, nil); d != nil {
		t.Fatalf("empty merge = %+v, want nil", d)
	}
	var local Dist
	if d := SharedDist(g, &local, []DistSketch{{}}); d != nil {
		t.Fatal("merge of empty Dists is not nil")
	}
	var remote Dist
	for i := range 100 {
		remote.Add(g, float64(i+1), distBase)
	}
	d := SharedDist(g, &local, []DistSketch{remote.Sketch(g)})
	if q := d.Quantiles(g); q.Count != 100 || q.Max != 100 {
		t.Fatalf("others only: %+v", q)
	}
}

func TestDistSketchRoundTrip(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	var d Dist
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 1000 {
		d.Add(g, rng.ExpFloat64()*100, distBase.Add(time.Duration(i)*time.Minute))
	}
	s := d.Sketch(g)
	b, err := s.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back DistSketch
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Centroids, s.Centroids) || back.Max != s.Max || back.Count() != 1000 {
		t.Fatalf("round trip differs: %d centroids, max %v", len(back.Centroids), back.Max)
	}
	if len(b) > 1000 {
		t.Errorf("sketch of compression 25 takes %d bytes", len(b))
	}
}

func TestDistSketchRejects(t *testing.T) {
	good := DistSketch{Centroids: nil, Max: 0}
	enc := func(s DistSketch) []byte { b, _ := s.AppendBinary(nil); return b }
	ok := enc(good)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{9}, ok[1:]...)},
		{"truncated", enc(DistSketch{Centroids: []tdigest.Centroid{{Mean: 1, Weight: 2}}, Max: 1})[:12]},
		{"trailing", append(slices.Clone(ok), 0)},
		{"unsorted", enc(DistSketch{Centroids: []tdigest.Centroid{{Mean: 2, Weight: 1}, {Mean: 1, Weight: 1}}, Max: 2})},
		{"zero weight", enc(DistSketch{Centroids: []tdigest.Centroid{{Mean: 2, Weight: 0}}, Max: 2})},
		{"nan mean", enc(DistSketch{Centroids: []tdigest.Centroid{{Mean: math.NaN(), Weight: 1}}, Max: 2})},
		{"max below mean", enc(DistSketch{Centroids: []tdigest.Centroid{{Mean: 3, Weight: 1}}, Max: 2})},
		{"nan max", enc(DistSketch{Max: math.NaN()})},
		{"huge count", append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s DistSketch
			if err := s.UnmarshalBinary(tc.b); err == nil {
				t.Fatalf("accepted %x", tc.b)
			}
		})
	}
}

// FuzzDistSketch: any payload decodes or is refused; what decodes
// re-encodes to the same sketch and merges into a Dist that answers
// quantiles and judges without panicking.
func FuzzDistSketch(f *testing.F) {
	g := NewDigester(25, 24*time.Hour)
	var d Dist
	for i := range 200 {
		d.Add(g, float64(i%37)*3.5, distBase)
	}
	s := d.Sketch(g)
	b, _ := s.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	j := Judge{Far: 6}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s DistSketch
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		b, _ := s.AppendBinary(nil)
		var back DistSketch
		if err := back.UnmarshalBinary(b); err != nil || !slices.Equal(back.Centroids, s.Centroids) || math.Float64bits(back.Max) != math.Float64bits(s.Max) {
			t.Fatalf("re-encoding of %x does not decode to the same sketch (%v)", data, err)
		}
		if sd := SharedDist(g, &d, []DistSketch{s}); sd != nil {
			sd.Quantiles(g)
			sd.Judge(g, 1e6, &j, 0)
		}
	})
}
