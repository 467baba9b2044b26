package chain

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCaptureState is the snapshot of a full verifier: 10,000
// producers (max_producers) with their 64 remembered hashes (history) and
// 4 pending records each, and as many agents. "capture" is the pause on
// the consumer (detect.Capturer of chain_integrity), "encode" the write
// that runs off it.
func BenchmarkCaptureState(b *testing.B) {
	p := DefaultParams()
	v := NewVerifier(p, nil)
	t0 := time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)
	for i := range p.MaxProducers {
		pr := producer{next: 1000, headKnown: true, lastCkpt: 990, ckptAt: t0, history: make([]hist, p.History)}
		for s := int64(1000 - p.History); s < 1000; s++ {
			pr.history[s%int64(p.History)] = hist{seq: s, hash: [32]byte{byte(s), byte(i)}, ok: true}
		}
		for s := int64(1001); s <= 1004; s++ {
			pr.pending = append(pr.pending, entry{seq: s, ok: true, ts: t0, id: ident{"agent-x", "search", "1.0.0", "production", "trace-1", "span-1", ""}})
		}
		name := fmt.Sprint("rt-", i)
		v.producers.Put(name, t0.Unix(), pr)
		v.agents.Put(name, t0.Unix(), agent{})
	}
	buf := v.CaptureState()(nil)
	b.Run("capture", func(b *testing.B) {
		for b.Loop() {
			v.CaptureState()
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("encode", func(b *testing.B) {
		enc := v.CaptureState()
		for b.Loop() {
			buf = enc(buf[:0])
		}
	})
}
