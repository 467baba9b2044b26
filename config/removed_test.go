package config

import (
	"strings"
	"testing"
)

// Keys removed with the calibrated tails name their replacement.
func TestRemovedKeysNameReplacement(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"detectors:\n  latency:\n    p99_ratio: 8\n", "config.yaml:3: detectors.latency.p99_ratio: removed: thresholds come from the fitted tail; use false_alarm_rate"},
		{"detectors:\n  output_size:\n    p999_ratio: 2\n", "config.yaml:3: detectors.output_size.p999_ratio: removed: thresholds come from the fitted tail; use false_alarm_rate"},
		{"detectors:\n  latency:\n    min_baseline_ms: 50\n", "config.yaml:3: detectors.latency.min_baseline_ms: removed: use min_alert_ms"},
		{"overrides:\n  - tool: db\n    detectors:\n      output_size:\n        min_baseline_bytes: 1\n", "detectors.output_size.min_baseline_bytes: removed: use min_alert_bytes"},
	} {
		_, err := Parse([]byte(tc.yaml), "config.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
