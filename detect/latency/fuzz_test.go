package latency

import (
	"testing"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// FuzzUnmarshalState: arbitrary records must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState).
func FuzzUnmarshalState(f *testing.F) {
	good := detecttest.MustMarshal(f, goldenState(f))
	empty := codec.Encode(nil, &distdetect.Snapshot[EntryState]{})
	detecttest.FuzzUnmarshalState(f, func(t testing.TB) detecttest.Detector { return newDet(t, nil) }, good, empty)
}
