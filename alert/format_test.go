package alert

import (
	"math"
	"strings"
	"testing"
)

func TestHumanMillis(t *testing.T) {
	tests := []struct {
		ms   float64
		want string
	}{
		{0, "0ms"}, {0.4, "0ms"}, {234, "234ms"}, {410, "410ms"}, {999.4, "999ms"},
		{999.6, "1s"}, {1000, "1s"}, {1250, "1.3s"}, {30120, "30.1s"}, {59949, "59.9s"},
		{59960, "1m"}, {60000, "1m"}, {150000, "2.5m"}, {3599000, "1h"}, {3600000, "1h"},
		{4.5 * 3600000, "4.5h"}, {47.9 * 3600000, "47.9h"}, {48 * 3600000, "2d"}, {7 * 86400000, "7d"},
		{999 * 86400000, "999d"}, {1000 * 86400000, ">999d"}, {1e308, ">999d"}, {math.Inf(1), ">999d"},
		{math.NaN(), "n/a"}, {-1, "n/a"}, {math.Inf(-1), "n/a"},
	}
	for _, tt := range tests {
		if got := HumanMillis(tt.ms); got != tt.want {
			t.Errorf("HumanMillis(%v) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		b    float64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {999.6, "1.0 KB"}, {1000, "1.0 KB"}, {1042, "1.0 KB"},
		{9949, "9.9 KB"}, {9960, "10 KB"}, {99999, "100 KB"}, {999499, "999 KB"},
		{999999, "1.0 MB"}, {1e6, "1.0 MB"}, {100e6, "100 MB"}, {2.5e9, "2.5 GB"},
		{1e12, "1.0 TB"}, {1e15, "1.0 PB"}, {1e18, "1.0 EB"}, {999e18, "999 EB"}, {1e21, ">999 EB"},
		{1e308, ">999 EB"}, {math.Inf(1), ">999 EB"}, {math.NaN(), "n/a"}, {-5, "n/a"},
	}
	for _, tt := range tests {
		if got := HumanBytes(tt.b); got != tt.want {
			t.Errorf("HumanBytes(%v) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

func TestHumanCount(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {50, "50"}, {12.5, "12.5"}, {12.45, "12.5"}, {12.44, "12.4"}, {0.04, "0"}, {999999.9, "999999.9"},
		{1e6, "1.0M"}, {2.5e6, "2.5M"}, {12.3e9, "12G"}, {999e12, "999T"}, {1e15, ">999T"}, {1e308, ">999T"},
		{math.NaN(), "n/a"}, {-1, "n/a"},
	}
	for _, tt := range tests {
		if got := HumanCount(tt.v); got != tt.want {
			t.Errorf("HumanCount(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// Whatever the input, a summary number stays short.
func FuzzHumanShort(f *testing.F) {
	for _, v := range []float64{0, 1, 999.6, 1e6, 1e21, 1e308, math.Inf(1), math.NaN(), -1, 5e-324} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		for _, s := range []string{HumanMillis(v), HumanBytes(v), HumanCount(v)} {
			if len(s) > 12 || strings.ContainsAny(s, "e+") {
				t.Errorf("%v rendered as %q", v, s)
			}
		}
	})
}
