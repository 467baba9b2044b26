package validate

import (
	"testing"
	"time"
)

func TestDurationIn(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string // "" when in range
	}{
		{0, "timeout: must be between 100ms and 5m0s"},
		{99 * time.Millisecond, "timeout: must be between 100ms and 5m0s"},
		{100 * time.Millisecond, ""},
		{5 * time.Minute, ""},
		{5*time.Minute + 1, "timeout: must be between 100ms and 5m0s"},
	}
	for _, tc := range tests {
		var es Errors
		es.DurationIn("timeout", tc.d, 100*time.Millisecond, 5*time.Minute)
		got := ""
		if err := es.Err(); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("DurationIn(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	var es Errors
	es.DurationIn("jitter", 2*time.Hour, 0, time.Hour)
	if got, want := es.Error(), "jitter: must be between 0s and 1h0m0s"; got != want {
		t.Errorf("zero lower bound: %q, want %q", got, want)
	}
}
