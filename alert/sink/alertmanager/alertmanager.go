package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

// MaxTracked caps the alerts the sink keeps for re-sending; alerts beyond it
// are counted as dropped and logged instead of growing without bound.
const MaxTracked = 100_000

// Options are the dependencies of the Alertmanager sink.
type Options struct {
	// Client sends the requests; default: an http.Client with cfg.Timeout.
	Client *http.Client
	// Now is the daemon's wall clock (endsAt, retention); default time.Now.
	Now     func() time.Time
	Metrics *sink.Metrics
	Logger  zerolog.Logger
	// Queue overrides queue tuning (Size, Metrics and Logger are filled
	// from the config and the fields above).
	Queue sink.QueueOptions
}

func (o *Options) defaults(cfg sink.AlertmanagerConfig) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = sink.NewMetrics(nil)
	}
}

// entry is one Alertmanager alert (one label set) being re-sent.
type entry struct {
	a         alert.Alert         // what is sent; Status/EndsAt are the entry's state
	firing    map[string]struct{} // fingerprints firing under this label set
	keepUntil time.Time           // resolved entries are re-sent until then
}

// Sink keeps the set of firing (and recently resolved) alerts and feeds it
// to one queue per Alertmanager URL: immediately on change, and in full
// every resend interval. It implements sink.Sink.
type Sink struct {
	cfg     sink.AlertmanagerConfig
	now     func() time.Time
	log     zerolog.Logger
	queues  []*sink.Queue
	dropped prometheus.Counter

	mu      sync.Mutex
	entries map[string]*entry // by label key
	byFP    map[string]string // firing fingerprint -> label key
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// New starts the Alertmanager sink for every URL in cfg. cfg must have
// passed Validate.
func New(cfg sink.AlertmanagerConfig, opts Options) (*Sink, error) {
	opts.defaults(cfg)
	if len(cfg.URLs) == 0 {
		return nil, errors.New("alertmanager sink: no urls")
	}
	if cfg.ResendInterval <= 0 || cfg.ResolveRetention <= 0 {
		return nil, errors.New("alertmanager sink: resend_interval and resolve_retention must be positive")
	}
	notifiers := make([]*Notifier, 0, len(cfg.URLs))
	for _, u := range cfg.URLs {
		n, err := NewNotifier(u, cfg, opts)
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, n)
	}
	s := &Sink{
		cfg:     cfg,
		now:     opts.Now,
		log:     opts.Logger.With().Str("component", "sink").Str("sink", "alertmanager").Logger(),
		dropped: opts.Metrics.Dropped.WithLabelValues("alertmanager"),
		entries: make(map[string]*entry),
		byFP:    make(map[string]string),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, n := range notifiers {
		qo := opts.Queue
		qo.Size = cfg.QueueSize
		if qo.MaxBatch == 0 {
			qo.MaxBatch = 256
		}
		if qo.RetryFor == 0 {
			// The next resend carries the current state; an older batch
			// is not worth retrying past it.
			qo.RetryFor = cfg.ResendInterval
		}
		if qo.MaxBackoff == 0 {
			qo.MaxBackoff = min(30*time.Second, cfg.ResendInterval/2)
		}
		qo.Metrics, qo.Logger = opts.Metrics, opts.Logger
		s.queues = append(s.queues, sink.NewQueue(n, qo))
	}
	go s.resendLoop()
	return s, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "alertmanager" }

// Queues exposes the per-URL queues (for tests and status pages).
func (s *Sink) Queues() []*sink.Queue { return s.queues }

// Send records alerts in the re-send set and queues the changes to every
// Alertmanager. It never blocks.
func (s *Sink) Send(alerts ...alert.Alert) {
	now := s.now()
	var out []alert.Alert
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.dropped.Add(float64(len(alerts)))
		return
	}
	for _, a := range alerts {
		switch a.Status {
		case alert.StatusFiring:
			out = s.fire(a, now, out)
		case alert.StatusResolved:
			k, ok := s.byFP[a.Fingerprint]
			if !ok {
				k = labelKey(a)
			}
			out = s.release(k, a.Fingerprint, now, &a, out)
		default:
			s.log.Warn().Str("status", a.Status).Str("fingerprint", a.Fingerprint).Msg("alert with unknown status ignored")
		}
	}
	s.mu.Unlock()
	s.enqueue(out)
}

func (s *Sink) fire(a alert.Alert, now time.Time, out []alert.Alert) []alert.Alert {
	k := labelKey(a)
	if old, ok := s.byFP[a.Fingerprint]; ok && old != k {
		// The severity (or another label) changed: the old label set is
		// a different Alertmanager alert, resolve it now.
		out = s.release(old, a.Fingerprint, now, nil, out)
	}
	e := s.entries[k]
	if e == nil {
		if len(s.entries) >= MaxTracked {
			s.dropped.Inc()
			s.log.Error().Int("max_tracked", MaxTracked).Msg("alertmanager sink tracks too many alerts, alert dropped")
			return out
		}
		e = &entry{firing: make(map[string]struct{}, 1)}
		s.entries[k] = e
	}
	e.firing[a.Fingerprint] = struct{}{}
	e.a, e.keepUntil = a, time.Time{}
	s.byFP[a.Fingerprint] = k
	return append(out, e.a)
}

// release takes fingerprint fp off the label set k; once no fingerprint
// fires under k, the Alertmanager alert is resolved (with res's ends_at, or
// now) and kept for resolve_retention.
func (s *Sink) release(k, fp string, now time.Time, res *alert.Alert, out []alert.Alert) []alert.Alert {
	delete(s.byFP, fp)
	e := s.entries[k]
	if e == nil {
		if res == nil || len(s.entries) >= MaxTracked {
			return out
		}
		// A resolve we never saw fire (e.g. after a restart): forward it.
		e = &entry{a: *res, firing: map[string]struct{}{}}
		s.entries[k] = e
	}
	delete(e.firing, fp)
	if len(e.firing) > 0 {
		return out // still firing for another fingerprint
	}
	end := now
	if res != nil && res.EndsAt != nil {
		end = *res.EndsAt
	}
	if res != nil && labelKey(*res) == k {
		e.a = *res
	}
	e.a.Status, e.a.EndsAt = alert.StatusResolved, &end
	e.keepUntil = now.Add(s.cfg.ResolveRetention)
	return append(out, e.a)
}

func (s *Sink) enqueue(out []alert.Alert) {
	if len(out) == 0 {
		return
	}
	for _, q := range s.queues {
		q.Send(out...)
	}
}

// resend queues the whole set, in label order, after dropping resolved
// alerts past their retention.
func (s *Sink) resend() {
	now := s.now()
	s.mu.Lock()
	keys := make([]string, 0, len(s.entries))
	for k, e := range s.entries {
		if len(e.firing) == 0 && now.After(e.keepUntil) {
			delete(s.entries, k)
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]alert.Alert, len(keys))
	for i, k := range keys {
		out[i] = s.entries[k].a
	}
	s.mu.Unlock()
	s.enqueue(out)
}

func (s *Sink) resendLoop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.ResendInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.resend()
		case <-s.stop:
			return
		}
	}
}

// Close stops re-sending and flushes every queue within ctx. Firing alerts
// are not resolved: Alertmanager expires them at their endsAt.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.done
	errs := make([]error, len(s.queues))
	var wg sync.WaitGroup
	for i, q := range s.queues {
		wg.Go(func() { errs[i] = q.Close(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("alertmanager sink: %w", err)
	}
	return nil
}
