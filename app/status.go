package app

import (
	"math"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect/inputs"
	"github.com/toolwatch/toolwatch/detect/latency"
	"github.com/toolwatch/toolwatch/detect/outputsize"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/statuspage"
)

// Bounds of the status page's own state.
const (
	statusMaxTools    = 200  // tools tracked for the page
	statusMaxAgents   = 1000 // distinct agents counted per tool
	statusHistory     = 60   // minutes of per-tool history
	statusPublishEach = time.Second
)

// statusState keeps what the status page shows. observe and alert run on
// the worker goroutine; the page reads the last published Snapshot through
// an atomic pointer, so HTTP requests never touch pipeline state.
type statusState struct {
	started  time.Time
	recorder *statuspage.Recorder
	tools    map[string]*toolStatus
	overflow uint64 // records of tools beyond statusMaxTools
	invalid  uint64 // messages that were not valid records
	last     time.Time
	snap     atomic.Pointer[statuspage.Snapshot]
	// conn is read at request time: while NATS is down the worker, and so
	// publish, does not run.
	conn *ingest.ConnStatus
}

type toolStatus struct {
	minute  int64 // event-time minute being counted
	count   float64
	last    float64 // calls in the last complete minute
	agents  map[string]struct{}
	history []statuspage.Point
}

func newStatusState(_ *config.Config, now func() time.Time) *statusState {
	s := &statusState{started: now(), recorder: statuspage.NewRecorder(statuspage.DefaultRecent), tools: map[string]*toolStatus{}}
	s.snap.Store(&statuspage.Snapshot{Daemon: statuspage.Daemon{Version: Version, StartedAt: s.started}})
	return s
}

func (s *statusState) setConfig(*config.Config) {}

// observe counts one applied record: two map look-ups, no allocation once
// the tool and agent are known (bounded by statusMaxTools/Agents).
func (s *statusState) observe(r *record.Record) {
	t := s.tools[r.Tool.Name]
	if t == nil {
		if len(s.tools) >= statusMaxTools {
			s.overflow++
			return
		}
		t = &toolStatus{agents: map[string]struct{}{}}
		s.tools[r.Tool.Name] = t
	}
	m := r.Timestamp.Unix() / 60
	switch {
	case t.minute == 0:
		t.minute = m
	case m > t.minute:
		t.last = t.count
		if m > t.minute+1 {
			t.last = 0 // the minute(s) in between had no calls
		}
		t.history = append(t.history, statuspage.Point{Time: time.Unix(t.minute*60, 0).UTC(), Calls: t.count})
		if len(t.history) > statusHistory {
			t.history = append(t.history[:0], t.history[len(t.history)-statusHistory:]...)
		}
		t.minute, t.count = m, 0
	}
	t.count++
	if _, ok := t.agents[r.AgentID]; !ok && len(t.agents) < statusMaxAgents {
		t.agents[r.AgentID] = struct{}{}
	}
}

func (s *statusState) alert(a alert.Alert) { s.recorder.Add(a) }

// publish rebuilds the page's snapshot at most once per second.
func (s *statusState) publish(p *pipeline.Pipeline, now time.Time) {
	if now.Sub(s.last) < statusPublishEach {
		return
	}
	s.last = now
	applied, late, _ := p.Engine().Counts()
	snap := &statuspage.Snapshot{
		Daemon: statuspage.Daemon{
			Version: Version, StartedAt: s.started, Watermark: p.Engine().Watermark(),
			Applied: applied, Late: late, Invalid: s.invalid, AlertsFiring: p.Manager().Firing(),
		},
		Alerts: s.recorder.Recent(),
	}
	var lat *latency.Detector
	var out *outputsize.Detector
	var in *inputs.Detector
	for _, d := range p.Engine().Detectors() {
		switch d := d.(type) {
		case *latency.Detector:
			lat = d
		case *outputsize.Detector:
			out = d
		case *inputs.Detector:
			in = d
		}
	}
	nan := math.NaN()
	for name, t := range s.tools {
		ts := statuspage.ToolStatus{Tool: name, Calls: t.last, Agents: len(t.agents),
			LatencyP50: nan, LatencyP99: nan, OutputP50: nan, OutputP99: nan}
		if lat != nil {
			if q, ok := lat.ToolQuantiles(name); ok && q.Folded > 0 {
				ts.LatencyP50, ts.LatencyP99 = q.P50, q.P99
			}
		}
		if out != nil {
			if q, ok := out.ToolQuantiles(name); ok && q.Folded > 0 {
				ts.OutputP50, ts.OutputP99 = q.P50, q.P99
			}
		}
		if in != nil {
			ts.Shapes, _ = in.ToolShapes(name)
		}
		if n := len(t.history); n > 0 && !math.IsNaN(ts.LatencyP99) {
			t.history[n-1].LatencyP99 = ts.LatencyP99
		}
		ts.History = append([]statuspage.Point(nil), t.history...)
		snap.Tools = append(snap.Tools, ts)
	}
	sort.Slice(snap.Tools, func(i, j int) bool { return snap.Tools[i].Tool < snap.Tools[j].Tool })
	s.snap.Store(snap)
}

// Status implements statuspage.Provider.
func (s *statusState) Status() statuspage.Snapshot {
	snap := *s.snap.Load()
	if cause, kind, since, _ := s.conn.Problem(); cause != "" {
		snap.Daemon.NATSError, snap.Daemon.NATSErrorKind = cause, kind
		snap.Daemon.NATSErrorSince = &since
	}
	return snap
}

func (w *worker) mountStatus(mux *http.ServeMux) {
	mux.Handle("/", statuspage.Handler(w.status))
}
