package app

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// GET /api/baselines?tool=GLOB&agent=GLOB[&limit=N]: what the detectors
// learned per key (pipeline.Baselines), as `detector baselines` prints it
// from a snapshot; at most limit (default and cap 1000) baselines, with
// the number matched. The pipeline belongs to the worker goroutine, so the handler
// queues the query and the worker answers it between records when the
// engine ticks, or when idle; nothing is added per record.

// baselinesWait bounds how long a query waits for the worker (busy in a
// long reload, or not consuming while NATS is unreachable).
var baselinesWait = 10 * time.Second

// baselinesLimit is the default and the largest number of baselines one
// query inspects (?limit=N): each costs the worker about 6 µs.
const baselinesLimit = 1000

type baselinesQuery struct {
	tool, agent string
	limit       int
	reply       chan baselinesAnswer // buffered 1: the worker never blocks
}

type baselinesAnswer struct {
	Watermark time.Time `json:"watermark"`
	// Matched is the number of keys that matched; more than returned
	// when the limit cut the list.
	Matched   int               `json:"matched"`
	Baselines []detect.Baseline `json:"baselines"`
	err       error
}

// answerBaselines serves the queued queries. Worker goroutine only.
func (w *worker) answerBaselines() {
	for {
		select {
		case q := <-w.queries:
			bs, matched, err := w.p.Baselines(q.tool, q.agent, q.limit)
			q.reply <- baselinesAnswer{Watermark: w.p.Engine().Watermark(), Matched: matched, Baselines: bs, err: err}
		default:
			w.answerTriage() // egress triage is served at the same points
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
		qs := r.URL.Query()
		q := baselinesQuery{tool: qs.Get("tool"), agent: qs.Get("agent"), limit: baselinesLimit, reply: make(chan baselinesAnswer, 1)}
		if l := qs.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > baselinesLimit {
				http.Error(rw, "limit must be an integer from 1 to "+strconv.Itoa(baselinesLimit), http.StatusBadRequest)
				return
			}
			q.limit = n
		}
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
