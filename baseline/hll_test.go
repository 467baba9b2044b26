package baseline

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

func TestHLLAccuracy(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000, 20000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var h HLL // zero value: default precision
			for i := 0; i < n; i++ {
				h.InsertHash(Hash64("shape-" + strconv.Itoa(i)))
				h.InsertHash(Hash64("shape-" + strconv.Itoa(i))) // duplicates don't count
			}
			got := float64(h.Refresh())
			tol := math.Max(2, 0.05*float64(n))
			if math.Abs(got-float64(n)) > tol {
				t.Fatalf("estimate %v for %d distinct, tolerance %v", got, n, tol)
			}
		})
	}
}

func TestHLLCachedEstimate(t *testing.T) {
	h, err := NewHLL(12)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		h.InsertHash(uint64(i) * 0x9e3779b97f4a7c15)
	}
	if h.Estimate() != 0 || h.Pending() != 50 {
		t.Fatalf("before Refresh: estimate %d pending %d, want 0 and 50", h.Estimate(), h.Pending())
	}
	e := h.Refresh()
	if e < 48 || e > 52 || h.Estimate() != e || h.Pending() != 0 {
		t.Fatalf("after Refresh: estimate %d cached %d pending %d", e, h.Estimate(), h.Pending())
	}
	h.InsertHash(12345)
	if h.Estimate() != e {
		t.Fatalf("Estimate changed without Refresh: %d -> %d", e, h.Estimate())
	}
	h.Reset()
	if h.Estimate() != 0 || h.Refresh() != 0 {
		t.Fatalf("after Reset: estimate %d", h.Estimate())
	}
}

// Alternating inserts and estimates must not grow the sketch without bound
// (the v0.2.x bug): memory stays at or below the dense size.
func TestHLLAlternatingStaysBounded(t *testing.T) {
	h, _ := NewHLL(12)
	for i := 0; i < 20000; i++ {
		h.InsertHash(Hash64(strconv.Itoa(i)))
		if i%7 == 0 {
			h.Refresh()
		}
	}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4096+64 {
		t.Fatalf("encoded sketch is %d bytes, want <= dense size", len(b))
	}
	if e := float64(h.Refresh()); math.Abs(e-20000) > 0.05*20000 {
		t.Fatalf("estimate %v, want ~20000", e)
	}
}

func TestHLLMergeAndRoundTrip(t *testing.T) {
	a, _ := NewHLL(12)
	b, _ := NewHLL(12)
	for i := 0; i < 300; i++ {
		a.InsertHash(Hash64("a" + strconv.Itoa(i)))
		b.InsertHash(Hash64("b" + strconv.Itoa(i)))
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if e := a.Refresh(); e < 580 || e > 620 {
		t.Fatalf("merged estimate %d, want ~600", e)
	}
	enc, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var c HLL
	if err := c.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if c.Estimate() != a.Estimate() {
		t.Fatalf("round trip estimate %d, want %d", c.Estimate(), a.Estimate())
	}
	if err := c.UnmarshalBinary(enc[:3]); err == nil {
		t.Fatal("truncated encoding decoded without error")
	}
	other, _ := NewHLL(14)
	other.InsertHash(1)
	if err := a.Merge(other); !errors.Is(err, hyperloglog.ErrorPrecisionMismatch) {
		t.Fatalf("precision mismatch merge: err %v", err)
	}
}

func TestNewHLLPrecision(t *testing.T) {
	for _, p := range []uint8{3, 19} {
		if _, err := NewHLL(p); !errors.Is(err, hyperloglog.ErrorInvalidPrecision) {
			t.Errorf("precision %d: err %v, want ErrorInvalidPrecision", p, err)
		}
	}
}

func TestHash64(t *testing.T) {
	// Stable across runs: replays must reproduce the same estimates.
	if got := Hash64("json{query:str/sql}"); got != Hash64("json{query:str/sql}") {
		t.Fatal("not deterministic")
	}
	if Hash64("") == Hash64("a") || Hash64("ab") == Hash64("ba") {
		t.Fatal("trivial collision")
	}
	s := "json{limit:num,query:str/sql}"
	if n := testing.AllocsPerRun(100, func() { _ = Hash64(s) }); n != 0 {
		t.Fatalf("Hash64 allocates %v", n)
	}
	// Roughly uniform top bits: 4096 inputs spread over 16 buckets.
	var buckets [16]int
	for i := 0; i < 4096; i++ {
		buckets[Hash64("k"+strconv.Itoa(i))>>60]++
	}
	for i, c := range buckets {
		if c < 180 || c > 340 {
			t.Fatalf("bucket %d has %d of 4096", i, c)
		}
	}
}

func BenchmarkHLLInsertHash(b *testing.B) {
	h, _ := NewHLL(12)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.InsertHash(uint64(i) * 0x9e3779b97f4a7c15)
	}
}

func BenchmarkHLLRefresh(b *testing.B) {
	for _, n := range []int{10, 100000} {
		b.Run("distinct="+strconv.Itoa(n), func(b *testing.B) {
			h, _ := NewHLL(12)
			for i := 0; i < n; i++ {
				h.InsertHash(Hash64(strconv.Itoa(i)))
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.InsertHash(uint64(i)) // make it dirty so Refresh computes
				h.Refresh()
			}
		})
	}
}

// BenchmarkHLLMemory reports heap bytes per sketch holding 8 distinct values
// (the typical per-tool shape vocabulary): sparse sketches stay small.
func BenchmarkHLLMemory(b *testing.B) {
	const n = 1000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		hs := make([]*HLL, n)
		for i := range hs {
			hs[i], _ = NewHLL(12)
			for j := 0; j < 8; j++ {
				hs[i].InsertHash(Hash64(strconv.Itoa(i*8 + j)))
			}
			hs[i].Refresh()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/sketch")
		runtime.KeepAlive(hs)
	}
}

func TestHLLStateRoundTrip(t *testing.T) {
	fill := func(h *HLL, from, to int) {
		for i := from; i < to; i++ {
			h.InsertHash(Hash64("v" + strconv.Itoa(i)))
		}
	}
	tests := []struct {
		name  string
		build func() *HLL
	}{
		{"zero value", func() *HLL { return &HLL{} }},
		{"sparse with pending inserts", func() *HLL { h, _ := NewHLL(12); fill(h, 0, 20); h.Refresh(); fill(h, 20, 35); return h }},
		{"dense", func() *HLL { h, _ := NewHLL(12); fill(h, 0, 20000); h.Refresh(); fill(h, 20000, 20010); return h }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.build()
			enc, err := a.MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			var b HLL
			if err := b.UnmarshalState(enc); err != nil {
				t.Fatal(err)
			}
			// The cached estimate and its staleness survive.
			if b.Estimate() != a.Estimate() || b.Pending() != a.Pending() {
				t.Fatalf("restored est %d pending %d, want %d %d", b.Estimate(), b.Pending(), a.Estimate(), a.Pending())
			}
			// Re-encoding is byte-identical (the tmp set is written sorted).
			enc2, err := b.MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, enc2) {
				t.Fatal("re-encoded state differs")
			}
			// Both continue identically.
			fill(a, 50000, 50300)
			fill(&b, 50000, 50300)
			if ra, rb := a.Refresh(), b.Refresh(); ra != rb {
				t.Fatalf("after more inserts: %d vs %d", ra, rb)
			}
		})
	}
}

func TestHLLStateCorruptLeavesStateUnchanged(t *testing.T) {
	a, _ := NewHLL(12)
	for i := 0; i < 40; i++ {
		a.InsertHash(Hash64(strconv.Itoa(i)))
	}
	enc, err := a.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewHLL(12)
	b.InsertHash(1)
	b.Refresh()
	want, _ := b.MarshalState(nil)
	bad := [][]byte{nil, enc[:2], enc[:5], enc[:len(enc)-3], append([]byte{2}, enc[1:]...), append(slices.Clone(enc[:3]), 0xff)}
	for i, data := range bad {
		if err := b.UnmarshalState(data); err == nil {
			t.Fatalf("case %d decoded without error", i)
		}
		got, _ := b.MarshalState(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d changed the state", i)
		}
	}
}

// FuzzHLLUnmarshalState: arbitrary input must not panic; on error the HLL
// is unchanged; on success it re-encodes stably and keeps working.
func FuzzHLLUnmarshalState(f *testing.F) {
	for _, n := range []int{0, 30, 5000} {
		h, _ := NewHLL(10)
		for i := 0; i < n; i++ {
			h.InsertHash(Hash64(strconv.Itoa(i)))
		}
		enc, _ := h.MarshalState(nil)
		f.Add(enc)
	}
	zero, _ := (&HLL{}).MarshalState(nil)
	f.Add(zero)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _ := NewHLL(10)
		h.InsertHash(42)
		before, _ := h.MarshalState(nil)
		if err := h.UnmarshalState(data); err != nil {
			if after, _ := h.MarshalState(nil); !bytes.Equal(before, after) {
				t.Fatal("failed decode changed the state")
			}
			return
		}
		enc, err := h.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		var h2 HLL
		if err := h2.UnmarshalState(enc); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if enc2, _ := h2.MarshalState(nil); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
		h2.InsertHash(7)
		h2.Refresh()
	})
}
