package demo

import (
	"time"

	"github.com/toolwatch/toolwatch/alert"
)

// matchWindow is how long after an anomaly's last record an alert still
// counts as its detection (a 5-minute count window plus slack).
const matchWindow = 10 * time.Minute

// detects reports whether a is a firing alert of inj's pattern for inj's
// tool, raised by inj's records.
func detects(a *alert.Alert, inj *Injected) bool {
	return a.Status == alert.StatusFiring && a.Pattern == inj.Pattern && a.Tool == inj.Tool &&
		!a.EventTime.Before(inj.Start) && !a.EventTime.After(inj.End.Add(matchWindow))
}

func detected(alerts []alert.Alert, inj Injected) bool {
	for i := range alerts {
		if detects(&alerts[i], &inj) {
			return true
		}
	}
	return false
}
