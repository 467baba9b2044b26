package alert

import (
	"math"
	"strconv"
)

// The helpers below round before they pick the unit, so a value just under
// a boundary reads "1s" or "1.0 MB", never "1000ms" or "1000 KB".

// HumanMillis renders a duration in milliseconds for summaries: "410ms",
// "30.1s", "2.5m", "1.2h".
func HumanMillis(ms float64) string {
	if r := math.Round(ms); r < 1000 {
		return strconv.FormatFloat(r, 'f', -1, 64) + "ms"
	}
	if s := round1(ms / 1000); s < 60 {
		return strconv.FormatFloat(s, 'f', -1, 64) + "s"
	}
	if m := round1(ms / 60000); m < 60 {
		return strconv.FormatFloat(m, 'f', -1, 64) + "m"
	}
	return strconv.FormatFloat(round1(ms/3600000), 'f', -1, 64) + "h"
}

// HumanBytes renders a byte count in SI units for summaries: "1.0 KB",
// "100 MB" (one decimal below 10, none above).
func HumanBytes(b float64) string {
	const unit = 1000
	if r := math.Round(b); r < unit {
		return strconv.FormatFloat(r, 'f', -1, 64) + " B"
	}
	exp, v := 0, b/unit
	for exp < 5 && math.Round(v) >= unit {
		v /= unit
		exp++
	}
	prec := 1
	if round1(v) >= 10 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + string("KMGTPE"[exp]) + "B"
}

// HumanCount renders a count with at most one decimal: "50", "12.5".
func HumanCount(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
