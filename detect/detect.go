// Package detect holds the Detector contract, the Finding a detector
// reports and the pattern names, the Factory and Registry through which
// config, pipeline and metrics know the detectors (detect/registry is the
// shipped table), and the Engine that routes each audit record, in event
// time, to every enabled detector (docs/design.md §4).
//
// The engine is single-goroutine: detectors keep plain maps and never lock.
// Time only moves through record timestamps and Tick(watermark); detectors
// never read the wall clock, so a replay yields the same findings as the
// live run that saw the same records.
package detect

import (
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// Detector is one anomaly pattern.
type Detector interface {
	// Pattern is the alert pattern name, e.g. "latency".
	Pattern() string
	// Observe applies one valid, on-time record and appends any findings to
	// out. It must not retain r (the decoder reuses it) and must not
	// allocate on the normal (no-finding) path except when creating a key.
	Observe(r *record.Record, out []Finding) []Finding
	// Tick tells the detector that event time has reached watermark: no
	// record older than it will arrive. Detectors close windows, evict idle
	// keys and recompute schedules here, and append findings of closed
	// windows to out. Called at most once per engine tick interval.
	Tick(watermark time.Time, out []Finding) []Finding
}

// Stats is implemented by detectors that keep a bounded key store, for
// metrics and the status page.
type Stats interface {
	// KeyStats reports live keys and keys evicted as idle and to make room
	// for new keys at the cap, summed over the detector's stores.
	KeyStats() (live int, idle, capacity uint64)
}
