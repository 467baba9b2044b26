package alert

import (
	"math"
	"strconv"
)

// The helpers below round before they pick the unit, so a value just under
// a boundary reads "1s" or "1.0 MB", never "1000ms" or "1000 KB". They
// never print more than a few digits: values beyond the largest unit are
// capped (">999d", ">999 EB", ">999T"), and NaN or negative values read
// "n/a" (a summary must stay one short sentence whatever a record says).

// HumanMillis renders a duration in milliseconds for summaries: "410ms",
// "30.1s", "2.5m", "1.2h", "3.5d"; above 999 days ">999d".
func HumanMillis(ms float64) string {
	if !(ms >= 0) {
		return "n/a"
	}
	if r := math.Round(ms); r < 1000 {
		return strconv.FormatFloat(r, 'f', -1, 64) + "ms"
	}
	if s := round1(ms / 1000); s < 60 {
		return strconv.FormatFloat(s, 'f', -1, 64) + "s"
	}
	if m := round1(ms / 60000); m < 60 {
		return strconv.FormatFloat(m, 'f', -1, 64) + "m"
	}
	if h := round1(ms / 3600000); h < 48 {
		return strconv.FormatFloat(h, 'f', -1, 64) + "h"
	}
	if d := round1(ms / 86400000); d <= 999 {
		return strconv.FormatFloat(d, 'f', -1, 64) + "d"
	}
	return ">999d"
}

// HumanBytes renders a byte count in SI units for summaries: "1.0 KB",
// "100 MB" (one decimal below 10, none above); above 999 EB ">999 EB".
func HumanBytes(b float64) string {
	if !(b >= 0) {
		return "n/a"
	}
	const unit = 1000
	if r := math.Round(b); r < unit {
		return strconv.FormatFloat(r, 'f', -1, 64) + " B"
	}
	exp, v := 0, b/unit
	for exp < 5 && math.Round(v) >= unit {
		v /= unit
		exp++
	}
	if math.Round(v) > 999 {
		return ">999 EB"
	}
	prec := 1
	if round1(v) >= 10 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + string("KMGTPE"[exp]) + "B"
}

// HumanCount renders a count with at most one decimal: "50", "12.5",
// "250000"; from a million on with an SI suffix ("1.5M", "12G"); above
// 999T ">999T".
func HumanCount(v float64) string {
	if !(v >= 0) {
		return "n/a"
	}
	if r := round1(v); r < 1e6 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	exp, x := 0, v/1e6
	for exp < 2 && math.Round(x) >= 1000 {
		x /= 1000
		exp++
	}
	if math.Round(x) > 999 {
		return ">999T"
	}
	prec := 1
	if round1(x) >= 10 {
		prec = 0
	}
	return strconv.FormatFloat(x, 'f', prec, 64) + string("MGT"[exp])
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
