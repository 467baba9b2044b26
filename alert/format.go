package alert

import (
	"math"
	"strconv"
)

// HumanMillis renders a duration in milliseconds for summaries: "410ms",
// "30.1s", "2.5m".
func HumanMillis(ms float64) string {
	switch {
	case ms < 1000:
		return strconv.FormatFloat(math.Round(ms), 'f', -1, 64) + "ms"
	case ms < 60000:
		return strconv.FormatFloat(round1(ms/1000), 'f', -1, 64) + "s"
	case ms < 3600000:
		return strconv.FormatFloat(round1(ms/60000), 'f', -1, 64) + "m"
	default:
		return strconv.FormatFloat(round1(ms/3600000), 'f', -1, 64) + "h"
	}
}

// HumanBytes renders a byte count in SI units for summaries: "1.0 KB",
// "100 MB".
func HumanBytes(b float64) string {
	const unit = 1000
	if b < unit {
		return strconv.FormatFloat(math.Round(b), 'f', -1, 64) + " B"
	}
	exp, div := 0, float64(unit)
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	v := b / div
	prec := 1
	if v >= 10 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + string("KMGTPE"[exp]) + "B"
}

// HumanCount renders a count with at most one decimal: "50", "12.5".
func HumanCount(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
