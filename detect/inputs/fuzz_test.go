package inputs

import (
	"os"
	"testing"

	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// FuzzUnmarshalState: arbitrary snapshots must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState). The version 2 and 3 golden records seed
// the upgrade paths.
func FuzzUnmarshalState(f *testing.F) {
	d := newMixed()
	feed(d, 0, 1500)
	for _, v := range []string{"v2", "v3"} {
		if old, err := os.ReadFile("testdata/input_novelty-state." + v + ".bin"); err != nil {
			f.Fatal(err)
		} else {
			f.Add(old[:len(old)-4])
		}
	}
	detecttest.FuzzUnmarshalState(f, func(testing.TB) detecttest.Detector { return newMixed() },
		detecttest.MustMarshal(f, d), (&StateV4{}).encode(nil))
}
