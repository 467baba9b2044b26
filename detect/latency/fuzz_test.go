package latency

import (
	"bytes"
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

// FuzzDecodeDelta: arbitrary delta records must not panic the decoder or
// RestoreChain; a record that decodes re-encodes to one that decodes to
// the same delta, and a refused chain leaves the state unchanged.
func FuzzDecodeDelta(f *testing.F) {
	base, order, delta := baseAndDelta(f, 11, 200, 20)
	f.Add(delta)
	f.Add(codec.EncodeDelta(nil, &distdetect.Delta[EntryState]{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dd, err := codec.DecodeDelta(data)
		if err == nil {
			again, err := codec.DecodeDelta(codec.EncodeDelta(nil, dd))
			if err != nil {
				t.Fatalf("re-encoded delta does not decode: %v", err)
			}
			if len(again.Keys.Entries) != len(dd.Keys.Entries) || len(again.Tools.Tombs) != len(dd.Tools.Tombs) || again.LastEpoch != dd.LastEpoch {
				t.Fatal("re-encoded delta decodes differently")
			}
		}
		r := newDet(t, crashCfg)
		before := detecttest.MustMarshal(t, r)
		if err := r.RestoreChain(base, order, [][]byte{data}); err != nil {
			if after := detecttest.MustMarshal(t, r); !bytes.Equal(before, after) {
				t.Fatal("state changed by a refused chain")
			}
		}
	})
}
