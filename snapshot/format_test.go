package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

func sample() *Snapshot {
	return &Snapshot{
		LastAppliedSeq: 123456789,
		Watermark:      time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC),
		CreatedAt:      time.Date(2026, 3, 4, 5, 7, 0, 1, time.UTC),
		Version:        "v0.3.1",
		Sections: map[string][]byte{
			"engine":           []byte("engine-state"),
			"alerts":           {},
			"detector/latency": bytes.Repeat([]byte{0, 1, 2, 0xff}, 300),
		},
	}
}

func mustEncode(t testing.TB, s *Snapshot) []byte {
	t.Helper()
	b, err := Encode(s)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for name, s := range map[string]*Snapshot{
		"full":       sample(),
		"zero times": {LastAppliedSeq: 1, Sections: map[string][]byte{"a": []byte("x")}},
		"empty":      {Sections: map[string][]byte{}},
		"limits": {LastAppliedSeq: ^uint64(0), Version: string(bytes.Repeat([]byte("v"), 255)),
			Watermark: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			Sections:  map[string][]byte{string(bytes.Repeat([]byte("n"), 255)): nil}},
	} {
		t.Run(name, func(t *testing.T) {
			b := mustEncode(t, s)
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.LastAppliedSeq != s.LastAppliedSeq || !got.Watermark.Equal(s.Watermark) ||
				!got.CreatedAt.Equal(s.CreatedAt) || got.Version != s.Version ||
				got.Watermark.IsZero() != s.Watermark.IsZero() {
				t.Errorf("header: got %+v, want %+v", got, s)
			}
			if len(got.Sections) != len(s.Sections) {
				t.Fatalf("sections: got %d, want %d", len(got.Sections), len(s.Sections))
			}
			for k, v := range s.Sections {
				if g, ok := got.Sections[k]; !ok || !bytes.Equal(g, v) {
					t.Errorf("section %q: got %q, want %q", k, g, v)
				}
			}
			if again := mustEncode(t, got); !bytes.Equal(again, b) {
				t.Error("re-encoding the decoded snapshot differs")
			}
		})
	}
}

// Map iteration order never reaches the bytes.
func TestEncodeDeterministic(t *testing.T) {
	first := mustEncode(t, sample())
	for i := 0; i < 20; i++ {
		if !bytes.Equal(mustEncode(t, sample()), first) {
			t.Fatal("Encode output differs between runs")
		}
	}
	// Sections appear sorted: "alerts" < "detector/latency" < "engine".
	a, d, e := bytes.Index(first, []byte("alerts")), bytes.Index(first, []byte("detector/latency")), bytes.Index(first, []byte("engine"))
	if !(a < d && d < e) {
		t.Errorf("section order: alerts@%d detector@%d engine@%d", a, d, e)
	}
}

// The layout is exactly the documented one.
func TestLayout(t *testing.T) {
	s := &Snapshot{LastAppliedSeq: 7, Version: "v", Sections: map[string][]byte{"ab": []byte("xyz")}}
	b := mustEncode(t, s)
	want := 16 + 12 + 8 + 12 + 2 + 1 + 4 + (2 + 2 + 8 + 3) + 32
	if len(b) != want || string(b[:6]) != "TWSNAP" || binary.BigEndian.Uint16(b[6:]) != 2 ||
		binary.BigEndian.Uint64(b[8:]) != uint64(want) || binary.BigEndian.Uint64(b[28:]) != 7 {
		t.Fatalf("layout: %d bytes % x", len(b), b)
	}
}

func TestEncodeRejects(t *testing.T) {
	for name, s := range map[string]*Snapshot{
		"empty section name": {Sections: map[string][]byte{"": nil}},
		"space in name":      {Sections: map[string][]byte{"a b": nil}},
		"long name":          {Sections: map[string][]byte{string(bytes.Repeat([]byte("n"), 256)): nil}},
		"long version":       {Version: string(bytes.Repeat([]byte("v"), 256))},
		"watermark too late": {Watermark: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := Encode(s); err == nil {
			t.Errorf("%s: Encode accepted it", name)
		}
	}
}

// Flipping any bit of any byte is detected, with the precise error for the
// part it hit.
func TestDecodeDetectsEveryFlip(t *testing.T) {
	b := mustEncode(t, sample())
	for i := range b {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(b)
			c[i] ^= mask
			_, err := Decode(c)
			var want []error
			switch {
			case i < 6:
				want = []error{ErrBadMagic}
			case i < 8:
				want = []error{ErrVersion}
			case i < 16:
				want = []error{ErrTruncated, ErrMalformed}
			default:
				want = []error{ErrChecksum}
			}
			ok := false
			for _, w := range want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("byte %d ^ %#x: err %v, want one of %v", i, mask, err, want)
			}
		}
	}
}

func TestDecodeTruncated(t *testing.T) {
	b := mustEncode(t, sample())
	for n := 0; n < len(b); n++ {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: err %v, want ErrTruncated", n, len(b), err)
		}
	}
	if _, err := Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: err %v, want ErrMalformed", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := mustEncode(t, sample())
	v3 := bytes.Clone(good)
	binary.BigEndian.PutUint16(v3[6:], 3)
	gob, err := os.ReadFile("testdata/format-v1-gob.snapshot") // written by toolwatch 81a1406
	if err != nil {
		t.Fatal(err)
	}
	// A body that checksums correctly but is structurally wrong (a writer
	// bug): sections out of order.
	unordered := reseal(t, func(body []byte) []byte {
		return bytes.Replace(body, []byte("alerts"), []byte("zlerts"), 1)
	})
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"json":      {[]byte(`{"last_applied_seq": 3}` + "                "), ErrBadMagic},
		"short":     {[]byte("XY"), ErrBadMagic},
		"version 3": {v3, ErrVersion},
		"gob era":   {gob, ErrFormatV1},
		"unordered": {unordered, ErrMalformed},
	} {
		_, err := Decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
	if _, err := Decode(gob); !errors.Is(err, ErrVersion) || Reason(err) != "version" {
		t.Errorf("format 1: %v (reason %q), want a version error", err, Reason(err))
	}
	for err, want := range map[error]string{
		ErrBadMagic: "magic", ErrVersion: "version", ErrTruncated: "truncated",
		ErrChecksum: "checksum", ErrMalformed: "malformed", errors.New("disk"): "io",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

// reseal edits the body of the sample snapshot and recomputes its checksum.
func reseal(t *testing.T, edit func([]byte) []byte) []byte {
	b := mustEncode(t, sample())
	body := edit(bytes.Clone(b[:len(b)-sumSize]))
	binary.BigEndian.PutUint64(body[8:], uint64(len(body)+sumSize))
	sum := sha256Sum(body)
	return append(body, sum...)
}

func FuzzDecode(f *testing.F) {
	f.Add(mustEncode(f, sample()))
	f.Add(mustEncode(f, &Snapshot{}))
	f.Add([]byte("TWSNAP"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if s != nil {
				t.Fatal("non-nil snapshot with an error")
			}
			return
		}
		again, err := Encode(s)
		if err != nil {
			t.Fatalf("accepted snapshot does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", b, again)
		}
		s2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(s2, s) {
			t.Fatalf("second decode: %v", err)
		}
	})
}

// FuzzDecodeBody reseals each input with a correct length and checksum, so
// the fuzzer reaches the structural parser behind the checksum.
func FuzzDecodeBody(f *testing.F) {
	b := mustEncode(f, sample())
	f.Add(b[fixedHeader : len(b)-sumSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tail []byte) {
		body := append([]byte(magic+"\x00\x02"), make([]byte, 8)...)
		body = append(body, tail...)
		binary.BigEndian.PutUint64(body[8:], uint64(len(body)+sumSize))
		in := append(body, sha256Sum(body)...)
		s, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("resealed input: err %v, want ErrMalformed", err)
			}
			return
		}
		again, err := Encode(s)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("re-encoding differs (err %v)", err)
		}
	})
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// 8 MiB of sections: Encode and Decode cost (SHA-256 dominates).
func BenchmarkEncodeDecode(b *testing.B) {
	s := sample()
	s.Sections["detector/frequency"] = make([]byte, 8<<20)
	b.SetBytes(8 << 20)
	for b.Loop() {
		enc, err := Encode(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
