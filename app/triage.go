package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/toolwatch/toolwatch/detect/egress"
)

// The triage of the egress detector's flagged destinations
// (detect/egress): GET /api/egress/triage lists the pending and rejected
// destinations with their first alert; POST /api/egress/triage with
// {"action":"accept"|"reject","tool":T,"destination":"type:hex"} decides
// one, behind the same guard as /-/reload (metrics.enable_lifecycle, POST
// only, no cross-origin form) and the web config's TLS and basic auth. The
// detector belongs to the worker goroutine, so each request is queued and
// applied between records, like GET /api/baselines; the decision is in the
// next snapshot.

type triageRequest struct {
	action, tool, dest string // action "" lists
	reply              chan triageAnswer
}

type triageAnswer struct {
	Entries []egress.Entry `json:"entries"`
	// Unlisted counts flagged destinations not listed (pending list full).
	Unlisted uint64 `json:"unlisted"`
	err      error
	status   int
}

var errNoEgress = errors.New("the egress detector is not enabled")

// answerTriage applies the queued triage requests. Worker goroutine only.
func (w *worker) answerTriage() {
	for {
		select {
		case q := <-w.triage:
			q.reply <- w.applyTriage(q)
		default:
			return
		}
	}
}

// egressDetector returns the pipeline's egress detector, or nil.
func (w *worker) egressDetector() *egress.Detector {
	if w.egress != nil {
		return w.egress()
	}
	for _, det := range w.p.Engine().Detectors() {
		if e, ok := det.(*egress.Detector); ok {
			return e
		}
	}
	return nil
}

func (w *worker) applyTriage(q triageRequest) triageAnswer {
	d := w.egressDetector()
	if d == nil {
		return triageAnswer{err: errNoEgress, status: http.StatusNotFound}
	}
	var err error
	switch q.action {
	case "accept":
		err = d.Accept(q.tool, q.dest)
	case "reject":
		err = d.Reject(q.tool, q.dest)
	}
	if err != nil {
		return triageAnswer{err: err, status: http.StatusBadRequest}
	}
	// A decision lives in the snapshot: take one at the next record or
	// idle turn rather than at the end of the interval, so a crash soon
	// after loses no decision.
	if w.snaps != nil {
		w.snapDue = true
	}
	return triageAnswer{Entries: d.Triage(), Unlisted: d.Unlisted()}
}

func (w *worker) mountTriage(mux *http.ServeMux, lifecycleEnabled bool) {
	list := func(rw http.ResponseWriter, r *http.Request) {
		w.serveTriage(rw, r, triageRequest{})
	}
	decide := lifecycle(lifecycleEnabled, func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			Action      string `json:"action"`
			Tool        string `json:"tool"`
			Destination string `json:"destination"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			http.Error(rw, "body must be a JSON object {\"action\":\"accept\"|\"reject\",\"tool\":...,\"destination\":...}: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body.Action != "accept" && body.Action != "reject" {
			http.Error(rw, "action must be accept or reject", http.StatusBadRequest)
			return
		}
		w.serveTriage(rw, r, triageRequest{action: body.Action, tool: body.Tool, dest: body.Destination})
	})
	mux.HandleFunc("/api/egress/triage", func(rw http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			list(rw, r)
		case http.MethodPost:
			decide.ServeHTTP(rw, r)
		default:
			rw.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(rw, "use GET to list, POST to decide", http.StatusMethodNotAllowed)
		}
	})
}

func (w *worker) serveTriage(rw http.ResponseWriter, r *http.Request, q triageRequest) {
	q.reply = make(chan triageAnswer, 1)
	timeout := time.NewTimer(baselinesWait)
	defer timeout.Stop()
	select {
	case w.triage <- q:
	case <-r.Context().Done():
		return
	case <-timeout.C:
		http.Error(rw, "the detector is busy; try again", http.StatusServiceUnavailable)
		return
	}
	var a triageAnswer
	select {
	case a = <-q.reply:
	case <-r.Context().Done():
		return // applied all the same: the worker never blocks on the reply
	case <-timeout.C:
		http.Error(rw, "the detector did not answer in time (not consuming?); the decision, if any, may still apply", http.StatusServiceUnavailable)
		return
	}
	if a.err != nil {
		http.Error(rw, a.err.Error(), a.status)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(rw).Encode(a)
}
