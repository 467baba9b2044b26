package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
)

// QueueOptions tune a Queue. Zero values take the documented defaults.
type QueueOptions struct {
	// Size is the queue capacity in alerts (default 1000). When full, the
	// oldest alert is dropped: the newest state is the one worth sending.
	Size int
	// MaxBatch is the most alerts handed to one Notify call (default 1).
	MaxBatch int
	// InitialBackoff is the delay before the first retry (default 500ms);
	// it doubles per attempt up to MaxBackoff (default 30s). Each delay is
	// jittered into [d/2, d).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxAttempts caps the attempts per batch (0: unlimited).
	MaxAttempts int
	// RetryFor gives up on a batch once retrying would pass this long after
	// its first attempt (0: unlimited). Used by sinks that re-send their
	// state periodically anyway, so a stale batch is not worth keeping.
	RetryFor time.Duration
	// MaxRetryAfter caps a receiver's Retry-After request (default 10m).
	MaxRetryAfter time.Duration
	// DropLogInterval rate-limits the "queue full" log line (default 10s).
	DropLogInterval time.Duration
	// Log, when set, skips alerts this target delivered before (see
	// NotificationLog) and records each delivery.
	Log NotificationLog
	// Metrics to update; nil means unregistered metrics.
	Metrics *Metrics
	// Logger for delivery problems; the zero value logs nothing.
	Logger zerolog.Logger
	// Jitter returns a number in [0,1); default math/rand/v2.
	Jitter func() float64
}

func (o *QueueOptions) defaults() {
	if o.Size <= 0 {
		o.Size = 1000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 10 * time.Minute
	}
	if o.DropLogInterval <= 0 {
		o.DropLogInterval = 10 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
}

// Queue is one receiver target's bounded queue and delivery goroutine
// (Prometheus' notifier sendloop). It implements Sink.
type Queue struct {
	n    Notifier
	name string
	opts QueueOptions
	log  zerolog.Logger

	sent, failed, dropped prometheus.Counter
	dedup, logErrors      prometheus.Counter
	length, paused        prometheus.Gauge
	latency               prometheus.Observer

	mu          sync.Mutex
	ring        []alert.Alert // capacity opts.Size
	head, count int           // index of oldest, number queued
	closed      bool
	drops       int // dropped since the last "queue full" log line
	lastLog     time.Time

	more   chan struct{} // capacity 1: something was queued
	resume chan struct{} // capacity 1: end a pause now (Resume)
	stop   chan struct{} // closed by Close: drain, then exit
	done   chan struct{} // closed when the goroutine exits
	ctx    context.Context
	cancel context.CancelFunc
}

// NewQueue starts the delivery goroutine of n. Stop it with Close.
func NewQueue(n Notifier, opts QueueOptions) *Queue {
	opts.defaults()
	name := n.Name()
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		n:         n,
		name:      name,
		opts:      opts,
		log:       opts.Logger.With().Str("component", "sink").Str("sink", name).Logger(),
		sent:      opts.Metrics.Sent.WithLabelValues(name),
		failed:    opts.Metrics.Failed.WithLabelValues(name),
		dropped:   opts.Metrics.Dropped.WithLabelValues(name),
		length:    opts.Metrics.QueueLength.WithLabelValues(name),
		paused:    opts.Metrics.Paused.WithLabelValues(name),
		dedup:     opts.Metrics.Deduplicated.WithLabelValues(name),
		logErrors: opts.Metrics.LogErrors.WithLabelValues(name),
		latency:   opts.Metrics.Latency.WithLabelValues(name),
		ring:      make([]alert.Alert, opts.Size),
		more:      make(chan struct{}, 1),
		resume:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
	}
	go q.run()
	return q
}

// Name is the notifier's name, also the metrics' sink label.
func (q *Queue) Name() string { return q.name }

// Len is the number of queued alerts.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// Send queues alerts without blocking. When the queue is full the oldest
// queued alert is dropped, counted and (rate-limited) logged. Alerts sent
// after Close are dropped.
func (q *Queue) Send(alerts ...alert.Alert) {
	if len(alerts) == 0 {
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.dropped.Add(float64(len(alerts)))
		q.log.Warn().Int("alerts", len(alerts)).Msg("sink closed, alerts dropped")
		return
	}
	dropped := 0
	for _, a := range alerts {
		if q.count == len(q.ring) {
			q.ring[q.head] = alert.Alert{}
			q.head = (q.head + 1) % len(q.ring)
			q.count--
			dropped++
		}
		q.ring[(q.head+q.count)%len(q.ring)] = a
		q.count++
	}
	q.length.Set(float64(q.count))
	if dropped > 0 {
		q.dropped.Add(float64(dropped))
		q.drops += dropped
		if now := time.Now(); now.Sub(q.lastLog) >= q.opts.DropLogInterval {
			q.log.Warn().Int("dropped", q.drops).Int("queue_size", len(q.ring)).
				Msg("sink queue full, oldest alerts dropped")
			q.drops, q.lastLog = 0, now
		}
	}
	q.mu.Unlock()
	select {
	case q.more <- struct{}{}:
	default:
	}
}

// Resume ends a pause (PauseError) at once: the held batch is tried again.
// Without a pause it makes the next pause end after one more attempt.
func (q *Queue) Resume() {
	select {
	case q.resume <- struct{}{}:
	default:
	}
}

// Close stops accepting alerts and delivers what is queued. When ctx is done
// first, the attempt in flight is cancelled, the rest is counted as dropped
// and the error says so. Close is idempotent.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.stop)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
	}
	q.cancel()
	<-q.done
	return fmt.Errorf("sink %s: flush queue: %w", q.name, ctx.Err())
}

// pop takes up to MaxBatch alerts from the head.
func (q *Queue) pop() []alert.Alert {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(q.count, q.opts.MaxBatch)
	if k == 0 {
		return nil
	}
	batch := make([]alert.Alert, k)
	for i := range batch {
		batch[i] = q.ring[q.head]
		q.ring[q.head] = alert.Alert{}
		q.head = (q.head + 1) % len(q.ring)
	}
	q.count -= k
	q.length.Set(float64(q.count))
	return batch
}

func (q *Queue) run() {
	defer close(q.done)
	defer q.cancel()
	for {
		if q.ctx.Err() != nil {
			q.abandon()
			return
		}
		if batch := q.pop(); batch != nil {
			if batch = q.undelivered(batch); len(batch) > 0 {
				q.deliver(batch)
			}
			continue
		}
		select {
		case <-q.more:
		case <-q.stop:
			if q.Len() == 0 {
				return
			}
		case <-q.ctx.Done():
		}
	}
}

// abandon counts what is left at a forced shutdown as dropped.
func (q *Queue) abandon() {
	q.mu.Lock()
	left := q.count
	clear(q.ring)
	q.head, q.count = 0, 0
	q.length.Set(0)
	q.mu.Unlock()
	if left > 0 {
		q.dropped.Add(float64(left))
		q.log.Warn().Int("alerts", left).Msg("sink shutdown deadline reached, queued alerts dropped")
	}
}

// deliver is the generic retry loop: it honours the notifier's retry
// verdict, backs off exponentially with jitter, waits at least a receiver's
// Retry-After, and gives up per MaxAttempts / RetryFor or at forced shutdown.
func (q *Queue) deliver(batch []alert.Alert) {
	first := time.Now()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		retry, err := q.n.Notify(q.ctx, batch...)
		q.latency.Observe(time.Since(start).Seconds())
		if err == nil {
			q.logDelivered(batch)
			q.sent.Add(float64(len(batch)))
			if attempt > 1 {
				q.log.Info().Int("attempts", attempt).Int("alerts", len(batch)).Msg("sink delivery succeeded after retries")
			}
			return
		}
		if q.ctx.Err() != nil {
			q.dropped.Add(float64(len(batch)))
			q.log.Warn().Err(err).Int("alerts", len(batch)).Msg("sink shutdown deadline reached, delivery abandoned")
			return
		}
		if pe, ok := errors.AsType[*PauseError](err); ok {
			if !q.pause(pe, len(batch)) {
				return
			}
			attempt, first = 0, time.Now()
			continue
		}
		delay := q.backoff(attempt)
		if ra, ok := retryAfter(err); ok {
			delay = max(delay, min(ra, q.opts.MaxRetryAfter))
		}
		reason := ""
		switch {
		case !retry:
			reason = "not retryable"
		case q.opts.MaxAttempts > 0 && attempt >= q.opts.MaxAttempts:
			reason = "attempts exhausted"
		case q.opts.RetryFor > 0 && time.Since(first)+delay > q.opts.RetryFor:
			reason = "retry period exhausted"
		}
		if reason != "" {
			q.failed.Add(float64(len(batch)))
			q.log.Error().Err(err).Str("reason", reason).Int("attempts", attempt).
				Int("alerts", len(batch)).Msg("sink delivery failed")
			return
		}
		q.log.Warn().Err(err).Int("attempt", attempt).Dur("backoff", delay).
			Int("alerts", len(batch)).Msg("sink delivery failed, retrying")
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			q.dropped.Add(float64(len(batch)))
			q.log.Warn().Int("alerts", len(batch)).Msg("sink shutdown deadline reached, delivery abandoned")
			return
		}
	}
}

// logTimeout bounds one notification log call.
const logTimeout = 2 * time.Second

// undelivered drops from batch the alerts the notification log says this
// target delivered already.
func (q *Queue) undelivered(batch []alert.Alert) []alert.Alert {
	if q.opts.Log == nil {
		return batch
	}
	kept := batch[:0]
	for i := range batch {
		ctx, cancel := context.WithTimeout(q.ctx, logTimeout)
		done, err := q.opts.Log.Delivered(ctx, q.name, &batch[i])
		cancel()
		switch {
		case err != nil:
			q.logErrors.Inc()
			q.log.Warn().Err(err).Str("alert_id", batch[i].ID).Msg("notification log read failed; delivering")
		case done:
			q.dedup.Inc()
			q.log.Debug().Str("alert_id", batch[i].ID).Msg("alert already delivered before a restart; skipped")
			continue
		}
		kept = append(kept, batch[i])
	}
	return kept
}

// logDelivered records a delivered batch in the notification log.
func (q *Queue) logDelivered(batch []alert.Alert) {
	if q.opts.Log == nil {
		return
	}
	for i := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		err := q.opts.Log.Log(ctx, q.name, &batch[i])
		cancel()
		if err != nil {
			q.logErrors.Inc()
			q.log.Warn().Err(err).Str("alert_id", batch[i].ID).Msg("notification log write failed; the alert may be delivered again after a crash")
		}
	}
}

// pause holds the batch (and the queue behind it) for pe.After or until
// Resume. It returns false when the queue is closing: the batch and
// everything queued are then counted as dropped.
func (q *Queue) pause(pe *PauseError, n int) bool {
	q.paused.Set(1)
	defer q.paused.Set(0)
	q.log.Error().Err(pe.Err).Dur("retry_in", pe.After).Int("queued", q.Len()+n).
		Msg("receiver asked not to be called (410 Gone): alerts are held in the queue (the oldest dropped when full) until the retry or the next configuration reload")
	t := time.NewTimer(pe.After)
	defer t.Stop()
	select {
	case <-t.C:
	case <-q.resume:
		q.log.Info().Msg("sink resumed by reload; retrying held alerts")
	case <-q.stop:
		q.dropped.Add(float64(n))
		q.log.Warn().Int("alerts", n).Msg("sink closed while paused, held alerts dropped")
		q.cancel() // run() abandons (and counts) the rest
		return false
	case <-q.ctx.Done():
		q.dropped.Add(float64(n))
		q.log.Warn().Int("alerts", n).Msg("sink shutdown deadline reached, delivery abandoned")
		return false
	}
	return true
}

// backoff is InitialBackoff·2^(attempt-1), capped at MaxBackoff, jittered
// into [d/2, d) so many queues retrying at once spread out.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < attempt && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.opts.MaxBackoff)
	return d/2 + time.Duration(q.opts.Jitter()*float64(d/2))
}
