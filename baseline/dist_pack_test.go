package baseline

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// samePacked packs cs and checks that it unpacks to exactly cs, bit for
// bit, and counts len(cs) centroids.
func samePacked(t *testing.T, name string, cs []centroid) []byte {
	t.Helper()
	b, np := packLists(cs, nil)
	if int(np) != len(b) {
		t.Fatalf("%s: prev is %d of %d bytes", name, np, len(b))
	}
	back := unpackAll(nil, b)
	if len(back) != len(cs) || countPacked(b) != len(cs) {
		t.Fatalf("%s: %d centroids back (counted %d), want %d", name, len(back), countPacked(b), len(cs))
	}
	for i, c := range cs {
		if math.Float32bits(back[i].mean) != math.Float32bits(c.mean) || back[i].weight != c.weight {
			t.Fatalf("%s: centroid %d is %v, want %v", name, i, back[i], c)
		}
	}
	return b
}

func TestPackRoundTrip(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	for _, tc := range []struct {
		name string
		cs   []centroid
	}{
		{"empty", nil},
		{"one", []centroid{{123.5, 1}}},
		{"zeros", []centroid{{0, 7}, {0, 1}, {negZero, 2}, {0, 3}}},
		{"negatives", []centroid{{-1e30, 1}, {-5, 2}, {-0.25, 3}, {negZero, 4}, {0, 5}, {1e-45, 6}, {3, 7}}},
		{"extremes", []centroid{{-math.MaxFloat32, 1}, {math.MaxFloat32, math.MaxUint32}, {math.SmallestNonzeroFloat32, 1 << 31}}},
		{"non-finite", []centroid{{nan, 1}, {float32(math.Inf(1)), 2}, {float32(math.Inf(-1)), 3}, {1, 4}}},
		{"unsorted", []centroid{{9, 1}, {1, 1}, {8, 1}, {-7, 1}}},
		{"equal means", []centroid{{42, math.MaxUint32}, {42, math.MaxUint32}, {42, 5}}},
	} {
		samePacked(t, tc.name, tc.cs)
	}
}

// centroidKey orders float32 values as floats (−0 and +0 apart, which
// only costs bytes) and is inverted by centroidMean.
func TestCentroidKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		a, b := math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32())
		if a != a || b != b {
			continue
		}
		ka, kb := centroidKey(a), centroidKey(b)
		if a < b && ka >= kb || a > b && ka <= kb {
			t.Fatalf("key(%v) = %#x, key(%v) = %#x: order lost", a, ka, b, kb)
		}
		if math.Float32bits(centroidMean(ka)) != math.Float32bits(a) {
			t.Fatalf("mean(key(%v)) = %v", a, centroidMean(ka))
		}
	}
}

// A mature digest of log-normal values packs in at most 6 bytes a
// centroid (8 unpacked), 4–5 for the narrower bodies.
func TestPackedSize(t *testing.T) {
	g := NewDigester(25, time.Hour)
	for _, tc := range []struct {
		sigma     float64
		round     bool
		perEpoch  int
		maxPerCen float64
	}{{0.5, false, 2000, 5}, {1, false, 100000, 6}, {2, true, 5000, 6}, {0.8, true, 5000, 5.5}} {
		rng := rand.New(rand.NewPCG(3, uint64(tc.perEpoch)))
		var d Dist
		for e := range 3 {
			for i := range tc.perEpoch {
				v := math.Exp(5 + tc.sigma*rng.NormFloat64())
				if tc.round {
					v = math.Round(v)
				}
				d.Add(g, v, distBase.Add(time.Duration(e)*time.Hour+time.Duration(i)*time.Hour/time.Duration(tc.perEpoch)))
			}
		}
		prev, cur := d.lists()
		per := float64(len(d.cs)) / float64(len(prev)+len(cur))
		t.Logf("σ %.1f, %d a epoch: %d+%d centroids in %d bytes (%.2f each)", tc.sigma, tc.perEpoch, len(prev), len(cur), len(d.cs), per)
		if len(prev) < 25 || per > tc.maxPerCen {
			t.Errorf("σ %.1f: %d centroids take %.2f bytes each, want at most %.1f", tc.sigma, len(prev)+len(cur), per, tc.maxPerCen)
		}
	}
}

// FuzzPack: any centroid list (8 bytes each: mean bits, weight) packs and
// unpacks to itself.
func FuzzPack(f *testing.F) {
	f.Add([]byte{0x42, 0xc8, 0, 0, 0, 0, 0, 1, 0x42, 0xca, 0, 0, 0, 0, 0, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var cs []centroid
		for ; len(data) >= 8; data = data[8:] {
			cs = append(cs, centroid{math.Float32frombits(binary.BigEndian.Uint32(data)), binary.BigEndian.Uint32(data[4:])})
		}
		samePacked(t, "fuzz", cs)
	})
}
