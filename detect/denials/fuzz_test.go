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
	d := newDetector(f, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 26, nil)
	good, err := d.MarshalState(nil)
	if err != nil {
		f.Fatal(err)
	}
	empty := (&StateV3{}).encode(nil)
	detecttest.FuzzUnmarshalState(f, func(t testing.TB) detecttest.Detector {
		return newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	}, good, empty)
}
