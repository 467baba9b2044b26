package frequency

import (
	"bytes"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// FuzzUnmarshalState: arbitrary snapshots must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState).
func FuzzUnmarshalState(f *testing.F) {
	mk := func(t testing.TB) detecttest.Detector {
		return newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	}
	d := mk(f)
	stream(d, 26, nil)
	detecttest.FuzzUnmarshalState(f, mk, detecttest.MustMarshal(f, d), (&StateV4{}).encode(nil))
}

// FuzzRestoreChainDelta: an arbitrary delta record never panics
// RestoreChain, and a refused chain leaves the state unchanged.
func FuzzRestoreChainDelta(f *testing.F) {
	d := newDetector(f, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 3, nil)
	st, ord, _ := d.CaptureBase()
	base, _ := st(nil)
	order, _ := ord(nil)
	streamFrom(d, 3, 1, nil)
	enc, _, _ := d.CaptureDelta()
	delta, _ := enc(nil)
	f.Add(delta)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
		before := detecttest.MustMarshal(t, r)
		if err := r.RestoreChain(base, order, [][]byte{data}); err != nil {
			if after := detecttest.MustMarshal(t, r); !bytes.Equal(before, after) {
				t.Fatal("state changed by a refused chain")
			}
		}
	})
}
