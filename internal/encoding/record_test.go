package encoding

import (
	"bytes"
	"testing"
)

// AppendRecord writes what Decoders.Decode reads, after what b held.
func TestAppendRecord(t *testing.T) {
	prefix := []byte("head")
	b := AppendRecord(bytes.Clone(prefix), 7, 16, func(e *Encbuf) {
		e.PutUvarintStr("body")
		e.PutVarint(-3)
	})
	if !bytes.HasPrefix(b, prefix) {
		t.Fatal("prefix lost")
	}
	type rec struct {
		s string
		n int64
	}
	ds := Decoders[rec]{7: func(d *Decbuf) rec { return rec{d.UvarintStr(), d.Varint()} }}
	got, v, err := ds.Decode("test", b[len(prefix):])
	if err != nil || v != 7 || got != (rec{"body", -3}) {
		t.Fatalf("decoded %+v version %d: %v", got, v, err)
	}
	if !bytes.Equal(AppendRecord(nil, 7, 0, func(e *Encbuf) { e.PutUvarintStr("body"); e.PutVarint(-3) }), b[len(prefix):]) {
		t.Fatal("the record depends on what b held")
	}
}
