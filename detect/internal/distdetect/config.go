package distdetect

import (
	"math"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Validate adds to es the range errors of the settings every distribution
// detector has; floorKey is the name of its p99 floor (e.g.
// "min_baseline_ms").
func Validate(es *validate.Errors, minSamples int, p99Ratio, p999Ratio, floor float64, floorKey string) {
	if minSamples < 50 || minSamples > 1000000 {
		es.Addf("min_samples", "must be between 50 and 1000000")
	}
	if !(p99Ratio >= 1.5 && p99Ratio <= 1e6) {
		es.Addf("p99_ratio", "must be between 1.5 and 1e6")
	}
	if !(p999Ratio >= 1 && p999Ratio <= 1e6) {
		es.Addf("p999_ratio", "must be between 1 and 1e6")
	}
	if !(floor >= 0) || math.IsInf(floor, 0) {
		es.Addf(floorKey, "must be a finite number >= 0")
	}
}
