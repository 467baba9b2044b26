package score

import (
	"math"
	"testing"
)

func TestFromP(t *testing.T) {
	for _, c := range []struct {
		p, want float64
	}{
		{1, 0},
		{2, 0},
		{1e-2, 0},
		{1e-6, 40},
		{1e-8, 60},
		{1e-10, 80},
		{1e-12, 100},
		{1e-200, 100},
		{0, 100},
		{-1, 100},
		{math.NaN(), 0},
	} {
		if got := FromP(c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("FromP(%g) = %g, want %g", c.p, got, c.want)
		}
	}
}

func TestPForScoreInvertsFromP(t *testing.T) {
	for _, s := range []float64{1, 40, 60, 80, 99} {
		if got := FromP(PForScore(s)); math.Abs(got-s) > 1e-9 {
			t.Errorf("FromP(PForScore(%g)) = %g", s, got)
		}
	}
}

func TestPrior(t *testing.T) {
	for _, c := range []struct {
		trust, class, env string
		want              float64
	}{
		{"gold", "public", "production", 0},
		{"", "", "", 0},
		{"unverified", "restricted", "production", 2},
		{"bronze", "confidential", "production", 1},
		{"unverified", "restricted", "staging", 1},
		{"silver", "restricted", "development", 0},
	} {
		if got := Prior(c.trust, c.class, c.env); got != c.want {
			t.Errorf("Prior(%q,%q,%q) = %g, want %g", c.trust, c.class, c.env, got, c.want)
		}
	}
}
