package inputs

import (
	"os"
	"testing"

	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// FuzzUnmarshalState: arbitrary snapshots must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState). The version 2 golden record seeds the
// upgrade path.
func FuzzUnmarshalState(f *testing.F) {
	d := newMixed()
	feed(d, 0, 1500)
	if v2, err := os.ReadFile("testdata/input_novelty-state.v2.bin"); err != nil {
		f.Fatal(err)
	} else {
		f.Add(v2[:len(v2)-4])
	}
	detecttest.FuzzUnmarshalState(f, func(testing.TB) detecttest.Detector { return newMixed() },
		detecttest.MustMarshal(f, d), (&StateV3{}).encode(nil))
}
