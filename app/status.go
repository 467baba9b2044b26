package app

import (
	"math"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/internal/buildinfo"
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

// statusVersion is the page's version line: version, commit, Go version.
var statusVersion = buildinfo.Read().Short()

// statusState keeps what the status page shows. observe and alert run on
// the worker goroutine; the page reads the last published Snapshot through
// an atomic pointer, so HTTP requests never touch pipeline state.
type statusState struct {
	p        *pipeline.Pipeline
	patterns []string             // the detector table's, for the pattern filter
	lat      detect.ToolQuantiler // found in p on first use; nil when disabled
	latFound bool
	started  time.Time
	recorder *statuspage.Recorder
	cv       *compliance.View // read in publish, on the worker goroutine
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

func newStatusState(cfg *config.Config, p *pipeline.Pipeline, now func() time.Time) *statusState {
	s := &statusState{p: p, patterns: cfg.Registry().Patterns(), started: now(), recorder: statuspage.NewRecorder(statuspage.DefaultRecent), tools: map[string]*toolStatus{}}
	s.snap.Store(&statuspage.Snapshot{Daemon: statuspage.Daemon{Version: statusVersion, StartedAt: s.started, Patterns: s.patterns}})
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
		t.roll(m, s.latencyP99(r.Tool.Name))
	}
	t.count++
	if _, ok := t.agents[r.AgentID]; !ok && len(t.agents) < statusMaxAgents {
		t.agents[r.AgentID] = struct{}{}
	}
}

// roll closes minute t.minute (and the quiet minutes before m) into the
// history. p99 is sampled now, on event time, so a backlog replayed in
// seconds still gets one real sample per minute it covers.
func (t *toolStatus) roll(m int64, p99 float64) {
	t.last = t.count
	if m > t.minute+1 {
		t.last = 0 // the minute(s) in between had no calls
	}
	t.history = append(t.history, statuspage.Point{Time: time.Unix(t.minute*60, 0).UTC(), Calls: t.count, LatencyP99: p99})
	for q := max(t.minute+1, m-statusHistory); q < m; q++ {
		t.history = append(t.history, statuspage.Point{Time: time.Unix(q*60, 0).UTC(), Calls: 0, LatencyP99: p99})
	}
	if len(t.history) > statusHistory {
		t.history = append(t.history[:0], t.history[len(t.history)-statusHistory:]...)
	}
	t.minute, t.count = m, 0
}

// latencyP99 is the latency detector's tool baseline p99 now, NaN if none.
// Once per tool per event-time minute, off the per-record path.
func (s *statusState) latencyP99(tool string) float64 {
	if !s.latFound && s.p != nil {
		s.latFound = true
		s.lat, _ = detect.Find[detect.ToolQuantiler](s.p.Engine().Detectors(), detect.PatternLatency)
	}
	if s.lat != nil {
		if q, ok := s.lat.ToolQuantiles(tool); ok && q.Folded > 0 {
			return q.P99
		}
	}
	return math.NaN()
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
			Version: statusVersion, StartedAt: s.started, Watermark: p.Engine().Watermark(),
			Applied: applied, Late: late, Invalid: s.invalid, AlertsFiring: p.Manager().Firing(),
			Patterns: s.patterns,
		},
		Alerts: s.recorder.Recent(),
	}
	if s.cv != nil {
		c := s.cv.Summary()
		snap.Compliance = &c
	}
	// The page's columns: latency and output quantiles, input shapes.
	ds := p.Engine().Detectors()
	lat, _ := detect.Find[detect.ToolQuantiler](ds, detect.PatternLatency)
	out, _ := detect.Find[detect.ToolQuantiler](ds, detect.PatternOutputSize)
	in, _ := detect.Find[detect.ToolShaper](ds, detect.PatternInputNovelty)
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
