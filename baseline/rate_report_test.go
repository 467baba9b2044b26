package baseline

import (
	"testing"
	"time"
)

func TestWindowName(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"}, {time.Hour, "1h"}, {2 * time.Hour, "2h"},
		{90 * time.Minute, "90m"}, {30 * time.Second, "30s"}, {90 * time.Second, "90s"},
	} {
		if got := WindowName(tc.d); got != tc.want {
			t.Errorf("WindowName(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
