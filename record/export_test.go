package record

import "testing"

// Exported for the external tests (decode2_sim_test.go), which import the
// simulators that import this package.

// RefDecoder is the frozen reference decoder (reference_test.go).
type RefDecoder = refDecoder

// NewRefDecoder returns a RefDecoder enforcing l.
func NewRefDecoder(l Limits) *RefDecoder { return refNewDecoder(l) }

// SameDecode decodes data with d and ref and fails t on any difference.
func SameDecode(t testing.TB, d *Decoder, ref *RefDecoder, data []byte) error {
	return sameDecode(t, d, ref, data)
}
