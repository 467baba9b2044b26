package record

import (
	"math/rand/v2"
	"testing"
)

func skipSafeNaive(data []byte, i int) int {
	for i < len(data) && strSafe[data[i]] {
		i++
	}
	return i
}

// skipSafe (eight bytes a step) finds the same byte as the byte loop, for
// every position of every special byte among safe ASCII and UTF-8 bytes,
// and on random strings.
func TestSkipSafe(t *testing.T) {
	specials := []byte{'"', '\\', 0x00, 0x01, 0x1f}
	safe := []byte{' ', 'a', '!', '#', '[', ']', 0x7f, 0x80, 0xa2, 0xdc, 0xe0, 0xff, 0x21, 0x23, 0x5b, 0x5d}
	for n := range 20 {
		for pos := range n + 1 {
			for _, sp := range specials {
				for _, fill := range safe {
					b := make([]byte, n)
					for i := range b {
						b[i] = fill
					}
					if pos < n {
						b[pos] = sp
					}
					for from := range min(n, 3) + 1 {
						if got, want := skipSafe(b, from), skipSafeNaive(b, from); got != want {
							t.Fatalf("%q from %d: got %d, want %d", b, from, got, want)
						}
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			switch r := rng.IntN(20); {
			case r == 0:
				b[i] = specials[rng.IntN(len(specials))]
			case r < 10:
				b[i] = byte(0x20 + rng.IntN(0x60))
			default:
				b[i] = byte(rng.IntN(256))
			}
		}
		if got, want := skipSafe(b, 0), skipSafeNaive(b, 0); got != want {
			t.Fatalf("%q: got %d, want %d", b, got, want)
		}
	}
}

// plainUint, where it accepts, consumes what number consumes and returns
// smallUint's value; where it declines, number's way decides.
func TestPlainUint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("0123456789000-+.eE,} x")
	cases := []string{"0", "7", "00", "01", "10", "123456789012345", "1234567890123456", "1.5", "1e3", "1E3", "0.0", "-1", "", "42,", "42}"}
	for range 50000 {
		b := make([]byte, rng.IntN(20))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		ps := scanner{data: []byte(c)}
		n, ok := ps.plainUint()
		if !ok {
			if ps.i != 0 {
				t.Fatalf("%q: declined but consumed %d bytes", c, ps.i)
			}
			continue
		}
		ns := scanner{data: []byte(c)}
		if !ns.number() || ns.i != ps.i {
			t.Fatalf("%q: plainUint consumed %d, number %d (err %v)", c, ps.i, ns.i, ns.err)
		}
		if want, ok := smallUint([]byte(c[:ns.i])); !ok || want != n {
			t.Fatalf("%q: plainUint %d, smallUint %d %v", c, n, want, ok)
		}
	}
}
