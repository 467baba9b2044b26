package statuspage

import (
	"sync"

	"github.com/toolwatch/toolwatch/alert"
)

// DefaultRecent is the number of alerts a Recorder keeps by default.
const DefaultRecent = 200

// Recorder keeps the last N alert emissions for Snapshot.Alerts. It is safe
// for concurrent use: the pipeline Adds, the snapshot builder reads Recent.
type Recorder struct {
	mu   sync.Mutex
	buf  []alert.Alert // ring; buf[next] is the oldest once full
	next int
	full bool
}

// NewRecorder returns a Recorder keeping the last n alerts
// (DefaultRecent if n <= 0).
func NewRecorder(n int) *Recorder {
	if n <= 0 {
		n = DefaultRecent
	}
	return &Recorder{buf: make([]alert.Alert, n)}
}

// Add records a, evicting the oldest alert when full. The Recorder keeps
// a.Details and a.EndsAt as they are: emitted alerts must not be mutated.
func (r *Recorder) Add(a alert.Alert) {
	r.mu.Lock()
	r.buf[r.next] = a
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
		r.full = true
	}
	r.mu.Unlock()
}

// Recent returns a new slice of the recorded alerts, newest first.
func (r *Recorder) Recent() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]alert.Alert, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// Len returns the number of alerts held.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return len(r.buf)
	}
	return r.next
}
