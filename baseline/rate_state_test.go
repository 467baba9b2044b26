package baseline

import (
	"bytes"
	"errors"
	"testing"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// A Rate written and read back is equal field for field, and every
// truncation of its record is an error, never a panic.
func TestRateStateRoundTrip(t *testing.T) {
	var r Rate
	_, rp, rule := testRule()
	for i := range int64(3000) {
		r.Roll(1_700_000_000+i*37, &rp)
		r.N += uint32(i % 7)
		if i%50 == 0 {
			r.Arm(&rule, &rp, nil, 1)
		}
	}
	r.Roll(1_700_000_000+3000*37+3*3600, &rp) // three quiet hours
	if r.Quiet == 0 {
		t.Fatal("no quiet windows to write")
	}
	r.Thr, r.Next, r.Reported, r.Borrowed, r.HoldUntil, r.LastFire, r.HoldL, r.FireL = 9, 12, 10, true, -5, 1_700_000_300, 1.5, 2.25
	var tk TopK
	tk.Add(1 << 63)
	tk.Add(7)
	var e encoding.Encbuf
	r.PutState(&e)
	tk.PutState(&e)
	d := encoding.NewDecbuf(e.Get())
	var got Rate
	var gtk TopK
	got.GetState(&d)
	gtk.GetState(&d)
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
	if got != r || gtk != tk {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, r)
	}
	if got.Profile.Windows == 0 || got.Sc[0].Mean == 0 {
		t.Fatal("rate learned nothing: the check above was vacuous")
	}
	var again encoding.Encbuf
	got.PutState(&again)
	gtk.PutState(&again)
	if !bytes.Equal(again.Get(), e.Get()) {
		t.Fatal("re-encoding differs")
	}
	for n := range len(e.Get()) {
		d := encoding.NewDecbuf(e.Get()[:n])
		var x Rate
		x.GetState(&d)
		new(TopK).GetState(&d)
		if err := d.Done(); !errors.Is(err, encoding.ErrTruncated) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	// A record written before Quiet (without its last byte here) reads as
	// none.
	var only encoding.Encbuf
	r.PutState(&only)
	d = encoding.NewDecbuf(only.Get()[:len(only.Get())-1])
	var old Rate
	old.GetStateNoQuiet(&d)
	want := r
	want.Quiet = 0
	if err := d.Done(); err != nil || old != want {
		t.Fatalf("record without Quiet: %v\n%+v\nwant\n%+v", err, old, want)
	}
	// A ring count beyond 16 bits is malformed.
	var bad encoding.Encbuf
	r.Counter.PutState(&bad)
	r.Profile.PutState(&bad)
	bad.PutUvarint(1 << 16)
	d = encoding.NewDecbuf(bad.Get())
	new(Rate).GetState(&d)
	if !errors.Is(d.Err(), encoding.ErrInvalid) {
		t.Fatalf("ring count 65536: %v", d.Err())
	}
}
