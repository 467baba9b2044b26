package chain_test

import (
	"crypto/sha256"
	"testing"

	"github.com/toolwatch/toolwatch/chain"
)

// BenchmarkHash splits the chain check's main cost: the canonical chain
// input (AppendChainInput) and SHA-256 over it.
func BenchmarkHash(b *testing.B) {
	r := stream(3)[1]
	in := r.AppendChainInput(nil)
	b.Logf("chain input: %d bytes", len(in))
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = r.AppendChainInput(buf[:0])
		}
	})
	b.Run("sha256", func(b *testing.B) {
		for b.Loop() {
			sha256.Sum256(in)
		}
	})
	b.Run("both", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			_, buf = chain.Hash(r, buf)
		}
	})
}
