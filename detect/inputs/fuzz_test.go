package inputs

import (
	"testing"

	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// FuzzUnmarshalState: arbitrary snapshots must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState).
func FuzzUnmarshalState(f *testing.F) {
	d := newMixed()
	feed(d, 0, 1500)
	detecttest.FuzzUnmarshalState(f, func(testing.TB) detecttest.Detector { return newMixed() },
		detecttest.MustMarshal(f, d), (&StateV2{}).encode(nil))
}
