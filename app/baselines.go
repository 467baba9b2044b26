package app

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// GET /api/baselines?tool=GLOB&agent=GLOB: what the detectors learned per
// key (pipeline.Baselines), as `detector baselines` prints it from a
// snapshot. The pipeline belongs to the worker goroutine, so the handler
// queues the query and the worker answers it between records when the
// engine ticks, or when idle; nothing is added per record.

// baselinesWait bounds how long a query waits for the worker (busy in a
// long reload, or not consuming while NATS is unreachable).
var baselinesWait = 10 * time.Second

type baselinesQuery struct {
	tool, agent string
	reply       chan baselinesAnswer // buffered 1: the worker never blocks
}

type baselinesAnswer struct {
	Watermark time.Time         `json:"watermark"`
	Baselines []detect.Baseline `json:"baselines"`
	err       error
}

// answerBaselines serves the queued queries. Worker goroutine only.
func (w *worker) answerBaselines() {
	for {
		select {
		case q := <-w.queries:
			bs, err := w.p.Baselines(q.tool, q.agent)
			if bs == nil {
				bs = []detect.Baseline{}
			}
			q.reply <- baselinesAnswer{Watermark: w.p.Engine().Watermark(), Baselines: bs, err: err}
		default:
			return
		}
	}
}

func (w *worker) mountBaselines(mux *http.ServeMux) {
	mux.HandleFunc("/api/baselines", func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "use GET", http.StatusMethodNotAllowed)
			return
		}
		q := baselinesQuery{tool: r.URL.Query().Get("tool"), agent: r.URL.Query().Get("agent"), reply: make(chan baselinesAnswer, 1)}
		timeout := time.NewTimer(baselinesWait)
		defer timeout.Stop()
		select {
		case w.queries <- q:
		case <-r.Context().Done():
			return
		case <-timeout.C:
			http.Error(rw, "the detector is busy; try again", http.StatusServiceUnavailable)
			return
		}
		var a baselinesAnswer
		select {
		case a = <-q.reply:
		case <-r.Context().Done():
			return
		case <-timeout.C:
			http.Error(rw, "the detector did not answer in time (not consuming?); try again", http.StatusServiceUnavailable)
			return
		}
		if a.err != nil {
			http.Error(rw, a.err.Error(), http.StatusBadRequest)
			return
		}
		a.Watermark = a.Watermark.UTC()
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(rw).Encode(a); err != nil {
			return // the client went away
		}
	})
}
