package alert

import (
	"bytes"
	"testing"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// FuzzManagerUnmarshalState: arbitrary record bodies with a valid checksum
// must not panic UnmarshalState; on error the state is unchanged, on
// success it re-encodes stably and the restored alerts still resolve.
func FuzzManagerUnmarshalState(f *testing.F) {
	m := NewManager(testConfig())
	runSteps(m, lifecycle()[:11], nil)
	good, err := m.MarshalState(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-4])
	f.Add(good[:len(good)/3])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := encoding.Seal(body)
		m := NewManager(testConfig())
		m.Add(fnd(0, 65), nil)
		before, _ := m.MarshalState(nil)
		if err := m.UnmarshalState(data); err != nil {
			if after, _ := m.MarshalState(nil); !bytes.Equal(before, after) {
				t.Fatal("failed restore changed the state")
			}
			return
		}
		enc, err := m.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		m2 := NewManager(testConfig())
		if err := m2.UnmarshalState(enc); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if enc2, _ := m2.MarshalState(nil); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
		var out []Alert
		for _, a := range m2.Tick(base.Add(1e6*m1), out) {
			MarshalJSONLine(&a, nil)
		}
	})
}
