package distdetect

import (
	"math"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Settings are the knobs every distribution detector has (each detector
// names its floor key itself, e.g. "min_alert_ms").
type Settings struct {
	MinSamples      int
	FalseAlarmRate  float64
	Floor           float64
	FloorKey        string
	LevelShiftRatio float64
	MaxDriftPerDay  float64
}

// Validate adds to es the range errors of s.
func Validate(es *validate.Errors, s Settings) {
	if s.MinSamples < 50 || s.MinSamples > 1000000 {
		es.Addf("min_samples", "must be between 50 and 1000000")
	}
	if !(s.FalseAlarmRate >= 1e-12 && s.FalseAlarmRate <= 1e-3) {
		es.Addf("false_alarm_rate", "must be between 1e-12 and 0.001")
	}
	if !(s.Floor >= 0) || math.IsInf(s.Floor, 0) {
		es.Addf(s.FloorKey, "must be a finite number >= 0")
	}
	if !(s.LevelShiftRatio == 0 || (s.LevelShiftRatio >= 1.2 && s.LevelShiftRatio <= 1000)) {
		es.Addf("level_shift_ratio", "must be 0 (off) or between 1.2 and 1000")
	}
	if !(s.MaxDriftPerDay == 0 || (s.MaxDriftPerDay >= 1.01 && s.MaxDriftPerDay <= 1000)) {
		es.Addf("max_drift_per_day", "must be 0 (off) or between 1.01 and 1000")
	}
}

// JudgeOf converts validated settings to the baseline's judge.
func JudgeOf(s Settings) baseline.Judge {
	j := baseline.Judge{Far: -math.Log10(s.FalseAlarmRate), Floor: s.Floor}
	if s.LevelShiftRatio > 0 {
		j.ShiftLn = math.Log(s.LevelShiftRatio)
	}
	if s.MaxDriftPerDay > 0 {
		j.DriftLn = math.Log(s.MaxDriftPerDay)
	}
	return j
}

// Removed maps the keys of earlier versions to their replacements; the
// config decoder names the replacement when a file still uses one.
var Removed = map[string]string{
	"p99_ratio":  "removed: thresholds come from the fitted tail; use false_alarm_rate",
	"p999_ratio": "removed: thresholds come from the fitted tail; use false_alarm_rate",
}
