package baseline

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/influxdata/tdigest"
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

// walkAll is what unpackAll was: the unpacker's walk, centroid by centroid.
func walkAll(b []byte) []centroid {
	var cs []centroid
	for u := (unpacker{b: b}); u.more(); {
		cs = append(cs, u.next())
	}
	return cs
}

// randomCentroids returns n centroids with means spread over every float32
// magnitude (sorted or not) and weights of every varint length.
func randomCentroids(rng *rand.Rand, n int, sorted bool) []centroid {
	cs := make([]centroid, n)
	for i := range cs {
		m := math.Float32frombits(rng.Uint32())
		if m != m {
			m = float32(rng.NormFloat64())
		}
		cs[i] = centroid{m, rng.Uint32() >> rng.UintN(32)}
	}
	if sorted {
		slices.SortFunc(cs, func(a, b centroid) int { return cmp.Compare(a.mean, b.mean) })
	}
	return cs
}

// TestUnpackAllMatchesWalk: the one-loop decode yields the unpacker's
// centroids bit for bit, appending to what dst holds.
func TestUnpackAllMatchesWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	for round := range 3000 {
		cs := randomCentroids(rng, rng.IntN(60), round%2 == 0)
		b, _ := packLists(cs, nil)
		want := walkAll(b)
		got := unpackAll([]centroid{{1, 2}}, b)
		if len(got) != len(want)+1 || got[0] != (centroid{1, 2}) {
			t.Fatalf("round %d: %d centroids, want %d after the first", round, len(got), len(want))
		}
		for i, c := range want {
			if math.Float32bits(got[i+1].mean) != math.Float32bits(c.mean) || got[i+1].weight != c.weight {
				t.Fatalf("round %d: centroid %d is %v, want %v", round, i, got[i+1], c)
			}
		}
	}
}

// TestPackFoldMatchesPacker: packFold writes the bytes a packer adding
// f32 means and uint32 weights writes, after what b holds.
func TestPackFoldMatchesPacker(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 2))
	for round := range 3000 {
		n := rng.IntN(60)
		tds := make([]tdigest.Centroid, n)
		for i := range tds {
			m := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(80)-40))
			if i%7 == 3 {
				m = 1e39 // beyond float32: f32 clamps
			}
			tds[i] = tdigest.Centroid{Mean: m, Weight: float64(rng.Uint32() >> rng.UintN(32))}
		}
		p := packer{b: make([]byte, 0, n*maxPacked)}
		for _, c := range tds {
			p.add(centroid{f32(c.Mean), uint32(c.Weight)})
		}
		got := packFold([]byte{0xAB}, tds)
		if len(got) != len(p.b)+1 || got[0] != 0xAB || !bytes.Equal(got[1:], p.b) {
			t.Fatalf("round %d: packed % x, want ab % x", round, got, p.b)
		}
	}
}

// TestSortRawMatchesSlices: sortRaw leaves exactly what slices.Sort
// leaves, bit for bit, on values with ties, both zeros and extremes.
func TestSortRawMatchesSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	negZero := float32(math.Copysign(0, -1))
	gens := []func() float32{
		func() float32 { return float32(rng.ExpFloat64() * 100) },
		func() float32 { return float32(rng.IntN(4)) },
		func() float32 { return [...]float32{0, negZero, 1, -1}[rng.IntN(4)] },
		func() float32 { return float32(rng.NormFloat64() * 1e38) },
		func() float32 {
			if f := math.Float32frombits(rng.Uint32()); f == f {
				return f
			}
			return float32(math.Inf(1))
		},
	}
	for round := range 20000 {
		gen := gens[round%len(gens)]
		raw := make([]float32, 1+rng.IntN(distBuf))
		for i := range raw {
			raw[i] = gen()
		}
		if round%10 == 0 {
			slices.Sort(raw)
			if round%20 == 0 {
				slices.Reverse(raw)
			}
		}
		want := slices.Clone(raw)
		slices.Sort(want)
		sortRaw(raw)
		for i := range raw {
			if math.Float32bits(raw[i]) != math.Float32bits(want[i]) {
				t.Fatalf("round %d: value %d is %v, want %v (%v)", round, i, raw[i], want[i], want)
			}
		}
	}
}
