package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/alert/sink/alertmanager"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/egress"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/snapshot"
	"github.com/toolwatch/toolwatch/telemetry"
)

// worker is the ingest.Handler: it owns the pipeline; the consumer never
// calls it concurrently. It is also an ingest.Decoder: Decode runs on the
// consumer's delivery goroutine and touches only dec.
type worker struct {
	p   *pipeline.Pipeline
	out *sink.Dispatcher
	tm  *telemetry.Metrics
	cv  *compliance.View // counts each stream record in one run only (SetProcessed)
	log zerolog.Logger
	now func() time.Time

	// pending is a prepared reload, applied on the worker goroutine before
	// the next message: one atomic load per record.
	pending atomic.Pointer[reloadRequest]
	// dec is Decode's decoder, replaced when a reload changes the limits
	// (records decoded before the reload is applied keep the old ones).
	dec atomic.Pointer[record.Decoder]

	status *statusState

	// queries are GET /api/baselines requests, answered on this goroutine
	// when the engine ticks or the worker idles (baselines.go).
	queries chan baselinesQuery
	// triage are /api/egress/triage requests, applied at the same points
	// (triage.go).
	triage chan triageRequest
	egress func() *egress.Detector // tests; nil: the engine's own

	// Snapshots: taken between two records when due and the consumer's
	// applied sequence is exact; the write runs off the worker goroutine.
	consumer  *ingest.Consumer
	snaps     *snapshot.Manager
	snapEvery time.Duration
	lastSnap  time.Time
	snapDue   bool
	saving    atomic.Bool    // a background write is running
	saves     sync.WaitGroup // ends when it is done
	// syncPoint: the consumer's filter leaves gaps in the stream
	// sequences (a group partition); its snapshot point is confirmed with
	// the server (ingest.Consumer.SyncSnapshotPoint).
	syncPoint bool

	// rebuilt: the baselines are being rebuilt by replaying the stream (no
	// usable snapshot). Alerts of a record a previous run already processed
	// (ingest.Message.Processed: at or below the durable's ack floor read
	// before consuming) are withheld, since that run raised them; every
	// alert of a later record is delivered, however old its timestamp.
	rebuilt    bool
	withhold   bool // the record being handled is one of those
	suppressed prometheus.Counter
	// reseed: once the rebuild passes the previous run's position, the
	// alerts still firing (withheld, but firing in Alertmanager since the
	// previous run) are handed to the Alertmanager sinks, which keep them
	// alive there instead of letting them expire.
	reseed bool
}

type reloadRequest struct {
	cfg *config.Config
	out *sink.Dispatcher // nil: keep the current sinks
}

func newWorker(cfg *config.Config, p *pipeline.Pipeline, out *sink.Dispatcher, tm *telemetry.Metrics, cv *compliance.View, log zerolog.Logger, now func() time.Time) *worker {
	w := &worker{p: p, out: out, tm: tm, cv: cv, log: log, now: now, queries: make(chan baselinesQuery), triage: make(chan triageRequest)}
	w.dec.Store(record.NewDecoder(cfg.Limits))
	w.status = newStatusState(cfg, p, now)
	w.status.cv = cv
	compliance.Attach(cv, p.Engine().Detectors()) // the chain detector reports to cv
	w.seedAlertmanager(out)
	return w
}

// seedAlertmanager hands the alerts still firing (restored from a snapshot,
// or kept across a reload) to freshly built Alertmanager sinks, which keep
// re-sending them with a moving endsAt: without it Alertmanager would let
// them expire after a restart and see them fire again later (a flap).
// Other sinks are not re-sent anything. Worker goroutine only.
func (w *worker) seedAlertmanager(d *sink.Dispatcher) {
	firing := w.p.Manager().FiringAlerts(nil)
	if len(firing) == 0 {
		return
	}
	for _, s := range d.Sinks() {
		if am, ok := s.(*alertmanager.Sink); ok {
			am.Send(firing...)
		}
	}
}

// HandleMessage applies one record message.
func (w *worker) HandleMessage(m *ingest.Message) ingest.Result {
	if r := w.pending.Load(); r != nil {
		w.applyReload()
	}
	if w.snapDue {
		w.maybeSnapshot()
	}
	w.withhold = w.rebuilt && m.Processed
	if w.reseed && !m.Processed {
		w.reseed = false
		w.seedAlertmanager(w.out)
	}
	w.cv.SetProcessed(m.Processed)
	var (
		alerts  []alert.Alert
		outcome record.Outcome
		err     error
	)
	if m.Record != nil {
		alerts, outcome, err = w.p.Apply(m.Record, m.DecodeErr)
	} else {
		alerts, outcome, err = w.p.Handle(m.Data)
	}
	res := ingest.Result{Outcome: outcome}
	switch outcome {
	case record.Applied:
		w.tm.ObserveRecord(w.p.Record())
		w.cv.ObserveRecord(w.p.Record())
		w.tm.ObserveOutcome("applied")
		w.status.observe(w.p.Record())
	case record.Late:
		w.tm.ObserveRecord(w.p.Record())
		w.cv.ObserveRecord(w.p.Record())
		w.tm.ObserveOutcome("late")
	case record.Invalid:
		// The consumer republishes it to the dead-letter subject.
		w.tm.ObserveOutcome("dead_lettered")
		w.status.invalid++
		res.Reason = errReason(err)
	}
	w.deliver(alerts)
	w.withhold = false
	w.cv.SetProcessed(false)
	w.afterTick()
	return res
}

// Decode decodes a record ahead of HandleMessage on the consumer's
// delivery goroutine (ingest.Decoder), with its own decoder: the
// pipeline's belongs to the worker goroutine.
func (w *worker) Decode(data []byte, r *record.Record) error {
	return w.dec.Load().Decode(data, r)
}

// Idle advances event time on the wall clock while caught up and idle.
func (w *worker) Idle(now time.Time) {
	if r := w.pending.Load(); r != nil {
		w.applyReload()
	}
	if w.snapDue {
		w.maybeSnapshot()
	}
	if w.reseed { // caught up: past the previous run's position
		w.reseed = false
		w.seedAlertmanager(w.out)
	}
	w.deliver(w.p.Advance(now))
	w.afterTick()
	w.status.publish(w.p, now)
	w.answerBaselines()
}

func (w *worker) deliver(alerts []alert.Alert) {
	if len(alerts) == 0 {
		return
	}
	if w.withhold {
		w.suppressed.Add(float64(len(alerts)))
		return
	}
	for i := range alerts {
		a := &alerts[i]
		w.tm.ObserveAlert(a.Pattern, a.Severity, a.Status)
		w.cv.ObserveAlert(a)
		w.status.alert(*a)
	}
	w.out.Send(alerts...)
}

// afterTick refreshes the tick-driven gauges when the engine ticked.
func (w *worker) afterTick() {
	wm, ok := w.p.Engine().Ticked()
	if !ok {
		return
	}
	w.answerBaselines()
	w.tm.SetWatermark(wm)
	for _, d := range w.p.Engine().Detectors() {
		if s, ok := d.(detect.Stats); ok {
			live, idle, capacity := s.KeyStats()
			w.tm.SetDetectorKeys(d.Pattern(), live, capacity, idle)
		}
	}
	now := w.now()
	w.status.publish(w.p, now)
	if w.snaps != nil && now.Sub(w.lastSnap) >= w.snapEvery {
		w.snapDue = true
	}
}

func (w *worker) applyReload() {
	r := w.pending.Swap(nil)
	if r == nil {
		return
	}
	if err := w.p.Reconfigure(r.cfg); err != nil {
		w.log.Error().Err(err).Msg("detectors keep their previous configuration")
	}
	w.dec.Store(record.NewDecoder(r.cfg.Limits))
	compliance.Attach(w.cv, w.p.Engine().Detectors())
	w.status.setConfig(r.cfg)
	if r.out != nil {
		old := w.out
		w.out = r.out
		w.seedAlertmanager(r.out)
		go closeSinks(old, w.log)
	} else {
		// Any reload, also of an unchanged file, ends a receiver's pause
		// (410 Gone): its held alerts are tried again now.
		w.out.Resume()
	}
	w.log.Info().Msg("configuration reloaded; baselines kept")
}

// shutdown delivers nothing new; it flushes the sinks within a bound.
func (w *worker) shutdown() {
	if r := w.pending.Swap(nil); r != nil && r.out != nil {
		closeSinks(r.out, w.log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.out.Close(ctx); err != nil {
		w.log.Warn().Err(err).Msg("sinks did not flush in time; undelivered alerts were counted as dropped")
	}
}

// maybeSnapshot captures the pipeline's state between two records (a
// copy: pipeline.CaptureBase or CaptureDelta) and encodes and writes it in the
// background, so the consumer stalls only for the copy. It waits while the
// consumer's applied sequence is not exact (a redelivery is pending) or a
// write is running.
func (w *worker) maybeSnapshot() {
	if w.saving.Load() {
		return
	}
	seq, exact := w.snapshotPoint()
	if !exact {
		return
	}
	save, err := w.capture(seq)
	w.snapDue = false
	w.lastSnap = w.now()
	if err != nil {
		w.log.Error().Err(err).Msg("snapshot capture failed")
		return
	}
	w.saving.Store(true)
	w.saves.Add(1)
	go func() {
		defer w.saves.Done()
		defer w.saving.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = save(ctx) // logged and counted
	}()
}

// snapshotPoint is the consumer's applied sequence and whether it is
// exact (worker goroutine, or after the consumer stopped).
func (w *worker) snapshotPoint() (uint64, bool) {
	if !w.syncPoint {
		return w.consumer.SnapshotPoint()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.consumer.SyncSnapshotPoint(ctx)
}

// capture copies the pipeline's state at seq (worker goroutine) and
// returns save, which encodes and stores it on any goroutine: a base
// (every section whole) when the snapshot manager needs one, otherwise a
// delta (the keys changed since the previous snapshot).
func (w *worker) capture(seq uint64) (save func(context.Context) error, err error) {
	wm := w.p.Engine().Watermark()
	if w.snaps.NeedBase() {
		encode, err := w.p.CaptureBase()
		if err != nil {
			w.snaps.BreakChain()
			return nil, err
		}
		s := &snapshot.Snapshot{LastAppliedSeq: seq, Watermark: wm}
		return func(ctx context.Context) error {
			sections, err := encode()
			if err != nil {
				w.snaps.BreakChain()
				w.log.Error().Err(err).Msg("snapshot encoding failed")
				return err
			}
			s.Sections = sections
			return w.snaps.Save(ctx, s)
		}, nil
	}
	encode, err := w.p.CaptureDelta()
	if err != nil {
		w.snaps.BreakChain() // some detectors may have started a delta
		return nil, err
	}
	d := &snapshot.Delta{LastAppliedSeq: seq, Watermark: wm}
	return func(ctx context.Context) error {
		whole, changes, err := encode()
		if err != nil {
			w.snaps.BreakChain()
			w.log.Error().Err(err).Msg("snapshot delta encoding failed")
			return err
		}
		d.Whole, d.Changes = whole, changes
		return w.snaps.SaveDelta(ctx, d)
	}, nil
}

// finalSnapshot writes the state after the consumer drained, so a clean
// restart resumes exactly where this run stopped.
func (w *worker) finalSnapshot() {
	if w.snaps == nil {
		return
	}
	w.saves.Wait()
	seq, exact := w.snapshotPoint()
	if !exact {
		w.log.Warn().Uint64("last_applied_seq", seq).Msg("final snapshot skipped: a redelivery is still pending; the previous snapshot stays")
		return
	}
	save, err := w.capture(seq)
	if err != nil {
		w.log.Error().Err(err).Msg("final snapshot capture failed")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := save(ctx); err == nil {
		w.log.Info().Uint64("last_applied_seq", seq).Msg("final snapshot written")
	}
}

func errReason(err error) string {
	if err == nil {
		return "invalid record"
	}
	return err.Error()
}
