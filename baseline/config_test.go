package baseline

import (
	"testing"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"512MiB", 512 << 20, true},
		{"1GiB", 1 << 30, true},
		{"100MB", 100e6, true},
		{"64 KiB", 64 << 10, true},
		{"4096", 4096, true},
		{"10B", 10, true},
		{"0", 0, true},
		{"-1MiB", 0, false},
		{"1.5GiB", 0, false},
		{"12XB", 0, false},
		{"", 0, false},
		{"9999999TiB", 0, false},
	} {
		var b ByteSize
		err := b.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && b != tc.want) {
			t.Errorf("%q: %v, %v; want %v (ok %v)", tc.in, b, err, tc.want, tc.ok)
		}
		if tc.ok {
			var back ByteSize
			if err := back.UnmarshalText([]byte(b.String())); err != nil || back != b {
				t.Errorf("%q: String %q does not round-trip", tc.in, b.String())
			}
		}
	}
}

func TestKeyCap(t *testing.T) {
	c := DefaultConfig()
	if got := c.KeyCap(); got != 512<<20/5776 {
		t.Errorf("default cap %d, want %d", got, 512<<20/5776)
	}
	c.MaxKeys = 1000
	if c.KeyCap() != 1000 {
		t.Error("max_keys does not override memory_limit")
	}
	c.MaxKeys, c.MemoryLimit = 0, 0
	if c.KeyCap() != 0 {
		t.Error("no budget and no max_keys is not unlimited")
	}
	c.MemoryLimit, c.Compression = 1<<30, 100
	if got := c.KeyCap(); got != 1<<30/(4112+32*202) {
		t.Errorf("cap at compression 100: %d", got)
	}
	c.MemoryLimit = 1 << 10
	if es := c.Validate(); len(es) == 0 {
		t.Error("a 1KiB budget validated")
	}
}

func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"512MiB", "1GB", "0", "-1", "1e9", " 7 KiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b ByteSize
		if err := b.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("%q decoded to negative %d", s, b)
		}
		var back ByteSize
		if err := back.UnmarshalText([]byte(b.String())); err != nil || back != b {
			t.Fatalf("%q: %d does not round-trip through %q", s, b, b.String())
		}
	})
}
