package inputs

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzUnmarshalState feeds arbitrary record bodies (with a valid checksum, so
// the decoder and the validation behind it are reached) to UnmarshalState:
// it must not panic; on error the state is unchanged; on success the
// restored state re-encodes stably.
func FuzzUnmarshalState(f *testing.F) {
	d := newMixed()
	feed(d, 0, 1500)
	good, err := d.MarshalState(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-4])
	f.Add(good[:len(good)/2])
	empty := (&StateV2{}).encode(nil)
	f.Add(empty[:len(empty)-4])
	table := crc32.MakeTable(crc32.Castagnoli)
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, table))
		d := newMixed()
		before, _ := d.MarshalState(nil)
		if err := d.UnmarshalState(data); err != nil {
			if after, _ := d.MarshalState(nil); !bytes.Equal(before, after) {
				t.Fatal("failed restore changed the state")
			}
			return
		}
		enc, err := d.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		d2 := newMixed()
		if err := d2.UnmarshalState(enc); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if enc2, _ := d2.MarshalState(nil); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}
