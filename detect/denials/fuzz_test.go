package denials

import (
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
	g := detecttest.MustMarshal(f, goldenState(f)) // keys with a last denied call (v6)
	f.Add(g[:len(g)-4])
	detecttest.FuzzUnmarshalState(f, mk, detecttest.MustMarshal(f, d), (&StateV4{}).encode(nil))
}
