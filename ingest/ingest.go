// Package ingest reads audit records from NATS and hands them, one at a
// time and in stream order, to a Handler (the daemon's pipeline).
//
// JetStream mode (default): a durable pull consumer on the AUDIT stream,
// pulled continuously (nats.go Consume with batch_size records prefetched
// and the next pull issued when half of them are used, so the pipe never
// runs dry between batches). Two goroutines share the work: nats.go's
// delivery goroutine reads each message's sequences from its ack subject
// and, for a Decoder handler, decodes the record; it hands the message over in a bounded ring
// (handoff.go, BatchSize slots, one lock per message on that side and one
// per batch on the other). The Run goroutine applies the records in
// delivery order, tracks the processed floor, acks and calls Idle, so the
// handler runs on one goroutine only.
// The durable has ack policy AckAll and acks are batched (acks.go): only
// the record at the processed floor is acked, every 256 records or 20 ms,
// when idle and on stop, so a record is acked only after it and every
// record before it were processed and a crash never loses an
// acked-but-unapplied record (it may redeliver the last batch, which the
// tracker skips). Stream seqs the consumer is never given (other subjects,
// deleted) are passed by inference from delivery sequences or a lookup.
// A durable with another ack policy is recreated after its ack floor. The
// server's max_ack_pending bounds what is in flight. With Options.Resume
// the durable is recreated on start to deliver right after the restored
// snapshot's sequence (or the whole stream without one), so records
// applied after the snapshot but lost with the process are applied again.
// Redeliveries of records already processed (their ack was lost, or the
// snapshot covers them) are acked without calling the handler, tracked by
// stream sequence. Invalid records are republished unchanged to
// the dead-letter subject with the reason in the Toolwatch-Reason header
// and then terminated (only with no gap below them: under AckAll a Term
// acks everything before it; otherwise the floor's ack covers them); if
// that publish fails the record is redelivered later. The handler's Idle runs only while the consumer is caught up
// (nothing pending or unacked), so a backlog is processed in event time
// alone (docs/design.md §4).
//
// Core mode: a plain subscription with a bounded client buffer; records
// beyond it are dropped by the client and counted (at-most-once).
//
// Before consuming, the durable's ack floor left by a previous run is read
// (PriorAckFloor) and every message at or below it is flagged
// Message.Processed, so the handler can tell records a previous run
// already handled from new ones by stream position, whatever their
// timestamps.
//
// The connection (Connect, ConnectStatus) and the embedded server (package
// ingest/embedded) are set up by the caller, which also closes them after
// Run returns. ConnStatus explains a connection that is down (TLS, auth,
// DNS, ...): warn at the first failure, and for /readyz and the status page.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/record"
)

// Message is one record message. Data and Header are valid only during
// HandleMessage.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// StreamSeq is the JetStream stream sequence (0 in core mode).
	StreamSeq uint64
	// Pending is the number of records still waiting after this one
	// (JetStream: not yet delivered to the consumer; core: buffered in the
	// client). 0 means the consumer is caught up as far as it knows.
	Pending uint64
	// Processed: a previous run already processed this record (its stream
	// sequence is at or below the durable consumer's ack floor read at
	// start, see Consumer.PriorAckFloor). Always false in core mode.
	Processed bool
	// Record, when not nil, is Data already decoded by the handler's
	// Decode (JetStream mode, a Decoder handler), and DecodeErr what Decode
	// returned. Valid only during HandleMessage.
	Record    *record.Record
	DecodeErr error
}

// Result is the handler's verdict on one record.
type Result struct {
	Outcome record.Outcome
	Reason  string // why the record is Invalid (sent in Toolwatch-Reason)
}

// Handler processes records. Its methods are called from the goroutine
// running Run, one at a time.
type Handler interface {
	// HandleMessage applies one record, in stream order.
	HandleMessage(m *Message) Result
	// Idle is called while the consumer is caught up and no record arrived
	// for Options.IdleAfter, and again every IdleAfter while that lasts.
	Idle(now time.Time)
}

// A Decoder is a Handler that decodes records ahead of HandleMessage. In
// JetStream mode Decode runs on nats.go's delivery goroutine while the Run
// goroutine applies earlier records, so it must touch nothing HandleMessage
// or Idle touch; it is never called concurrently with itself. Its result
// reaches HandleMessage in Message.Record and Message.DecodeErr; r is
// reused once that HandleMessage returned. Core mode does not call it.
type Decoder interface {
	Handler
	Decode(data []byte, r *record.Record) error
}

// Dead-letter headers.
const (
	HeaderReason  = "Toolwatch-Reason"
	HeaderSubject = "Toolwatch-Subject"
)

// Options are the Consumer's collaborators.
type Options struct {
	Log zerolog.Logger
	// Metrics; nil creates unregistered ones.
	Metrics *Metrics
	// IdleAfter is how long without records, while caught up, before Idle
	// is called (pass time.idle_advance). 0 means 1s.
	IdleAfter time.Duration

	// Resume (JetStream mode) makes the stream, not the durable consumer,
	// the authority on where consumption starts: on start the durable is
	// deleted and recreated to deliver from stream sequence ResumeAfter+1,
	// and every sequence <= ResumeAfter counts as applied. Pass the
	// restored snapshot's last applied sequence, or 0 when there is no
	// valid snapshot: the whole stream is then replayed to rebuild the
	// baselines. Records the old durable had acked after ResumeAfter (their
	// effect was lost with the process) are delivered again.
	//
	// If the stream's last sequence is below ResumeAfter the stream was
	// recreated (its sequences are not the snapshot's): the whole stream is
	// delivered. If its first sequence is above ResumeAfter+1, the records
	// in between expired (stream limits) and are missing from the
	// baselines; both are logged.
	//
	// Without Resume the durable keeps its position: records it acked in an
	// earlier run are not delivered again (SetLastApplied can still mark
	// more as applied). Core mode ignores both fields.
	Resume      bool
	ResumeAfter uint64

	// PullExpiry (JetStream mode) bounds one pull request: a pull that
	// brings nothing although records are pending is replaced after at
	// most this long. 0 means DefaultPullExpiry.
	PullExpiry time.Duration

	// Prior, when PriorKnown, is the position a previous run reached, used
	// instead of this durable's own ack floor (PriorAckFloor): a consumer
	// group's partition gets a new durable per owner and takes the
	// previous owners' ack floor.
	Prior      uint64
	PriorKnown bool
}

// Consumer consumes records from NATS for one handler.
type Consumer struct {
	nc        *nats.Conn
	cfg       Config
	log       zerolog.Logger
	m         *Metrics
	idleAfter time.Duration
	resume    bool
	expiry    time.Duration

	floor     atomic.Uint64 // mirror of tr.floor, for LastApplied
	above     atomic.Bool   // records above floor were processed (tr.gaps() > 0)
	consuming atomic.Bool
	running   atomic.Bool
	// started is closed when consuming first becomes true (Consuming).
	started     chan struct{}
	startedOnce sync.Once

	// Run goroutine only (JetStream mode): the processed seqs, the batched
	// acks, the delivery-sequence chain and the message handed over.
	tr    *seqTracker
	ak    acker
	chain chain
	msg   Message
	batch batchCounts
	// stream is the bound stream (for checkGaps); Run goroutine.
	stream jetstream.Stream

	// prior is the durable's ack floor when this process first found it
	// (0: no durable, a first start); priorRead says it was looked up.
	// Run goroutine only; priorPub mirrors it for other goroutines.
	prior     uint64
	priorRead bool
	priorPub  atomic.Uint64
	// priorGiven: Options.Prior (PriorKnown) replaces the lookup.
	priorGiven bool

	// Seams for tests: the dead-letter publish, the ack, the ack timer, a
	// delivery lost in flight and a step run right before each Consume
	// (nil: none).
	publish     func(*nats.Msg) error
	ack         func(jetstream.Msg) error
	ackInterval time.Duration
	lose        func(*jetstream.MsgMetadata) bool
	beforePull  func()

	invalidLog, errLog, dropLog limiter
	dropped                     int
}

// New returns a Consumer reading from nc as cfg says; cfg must be valid.
func New(nc *nats.Conn, cfg Config, opts Options) (*Consumer, error) {
	if nc == nil {
		return nil, errors.New("ingest: nil connection")
	}
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = time.Second
	}
	if opts.PullExpiry <= 0 {
		opts.PullExpiry = DefaultPullExpiry
	}
	c := &Consumer{
		nc:          nc,
		cfg:         cfg,
		log:         opts.Log.With().Str("component", "ingest").Logger(),
		m:           opts.Metrics,
		idleAfter:   opts.IdleAfter,
		resume:      opts.Resume,
		expiry:      opts.PullExpiry,
		prior:       opts.Prior,
		priorGiven:  opts.PriorKnown,
		publish:     nc.PublishMsg,
		ack:         func(m jetstream.Msg) error { return m.Ack() },
		ackInterval: ackInterval,
		invalidLog:  limiter{every: 10 * time.Second},
		errLog:      limiter{every: 10 * time.Second},
		dropLog:     limiter{every: 10 * time.Second},
		started:     make(chan struct{}),
	}
	if opts.Resume {
		c.floor.Store(opts.ResumeAfter)
	}
	return c, nil
}

// SetLastApplied declares every stream sequence <= seq already applied (a
// restored snapshot covers them): their redeliveries are acked without
// calling the handler. Call it before Run. With Options.Resume it also
// moves the start of delivery to seq+1 (it replaces ResumeAfter).
func (c *Consumer) SetLastApplied(seq uint64) {
	if c.running.Load() {
		panic("ingest: SetLastApplied while running")
	}
	c.floor.Store(seq)
}

// LastApplied is the highest stream sequence S such that every record <= S
// has been processed (applied, counted late or dead-lettered). Safe from
// any goroutine; a snapshot taken from the handler goroutine can store it.
func (c *Consumer) LastApplied() uint64 { return c.floor.Load() }

// SnapshotPoint is LastApplied plus whether it is exact: false while some
// record above seq was already processed (an older one was lost in flight
// and awaits redelivery), so a snapshot taken now would hold records that
// the restore re-delivers (counted twice). Call it from the handler
// goroutine (HandleMessage or Idle) so that the pair and the state saved
// with it belong together; a periodic snapshot can wait for exact.
func (c *Consumer) SnapshotPoint() (seq uint64, exact bool) {
	return c.floor.Load(), !c.above.Load()
}

// SyncSnapshotPoint is SnapshotPoint once the server has this consumer's
// acks: for a consumer whose filter leaves gaps in the stream sequences
// (a consumer group's partition), the processed floor cannot advance over
// sequences it is never delivered, so it is raised to the consumer's ack
// floor on the server (a flush and a consumer info: one round trip each,
// per snapshot, never per record). Records are processed in delivery
// order, so after the flush that floor covers every processed record and
// the point is exact unless a redelivery is pending. Call it from the
// handler goroutine, or after Run returned; without a server answer it is
// SnapshotPoint.
func (c *Consumer) SyncSnapshotPoint(ctx context.Context) (seq uint64, exact bool) {
	if c.cfg.Mode == ModeJetStream && c.tr != nil && c.tr.gaps() > 0 && c.nc.IsConnected() {
		if err := c.nc.FlushWithContext(ctx); err == nil {
			if js, err := jetstream.New(c.nc); err == nil {
				if cons, err := js.Consumer(ctx, c.cfg.Stream, c.cfg.Consumer); err == nil {
					c.raiseFloor(cons.CachedInfo().AckFloor.Stream)
				}
			}
		}
	}
	return c.SnapshotPoint()
}

// DefaultPullExpiry replaces nats.go's 30s pull expiry. A pull request the
// server never took (errPullLost, pullHeartbeat) left nats.go counting its
// batch as pending and pulling nothing until its heartbeat timer, a whole
// expiry, fired; a 503 now restarts the pull and a 1s heartbeat notices a
// silent drop after 2s. The 5s expiry still bounds a dropped pull behind a
// live one (the live one's heartbeats hide the loss until it expires), at
// the cost of one pull request every 5s while idle.
const DefaultPullExpiry = 5 * time.Second

// PriorAckFloor is the ack floor the durable consumer had when this
// process first looked it up, before consuming anything: every record at or
// below it was processed by a previous run. 0 on a first start (no
// durable) and in core mode.
func (c *Consumer) PriorAckFloor() uint64 { return c.priorPub.Load() }

// Ready reports whether the consumer is connected and consuming (for
// /readyz).
func (c *Consumer) Ready() bool { return c.consuming.Load() && c.nc.IsConnected() }

// Consuming returns a channel closed once the consumer is first set up
// and consuming (stream created, consumer bound or subscribed): records
// published after it are not missed.
func (c *Consumer) Consuming() <-chan struct{} { return c.started }

// setConsuming records that the consumer is (re)bound and consuming.
func (c *Consumer) setConsuming() {
	c.consuming.Store(true)
	c.startedOnce.Do(func() { close(c.started) })
}

// Run consumes until ctx is cancelled, then stops fetching, finishes the
// records already received (each applied record acked), flushes the acks
// and returns nil. It keeps retrying while NATS is unreachable. It returns
// an error only if the connection is closed under it or Run is called
// twice.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ingest: Run called twice")
	}
	defer c.consuming.Store(false)
	var err error
	if c.cfg.Mode == ModeCore {
		err = c.runCore(ctx, h)
	} else {
		err = c.runJetStream(ctx, h)
	}
	if ferr := c.nc.FlushTimeout(2 * time.Second); ferr != nil && err == nil && !c.nc.IsClosed() {
		c.log.Warn().Err(ferr).Msg("flush acks on stop")
	}
	c.m.connected.Set(0)
	return err
}

// deadLetter republishes an invalid record unchanged to the dead-letter
// subject and waits until the server has it.
func (c *Consumer) deadLetter(subject string, data []byte, hdr nats.Header, reason string) error {
	out := &nats.Msg{Subject: c.cfg.DeadLetterSubject, Data: data, Header: nats.Header{}}
	for k, vs := range hdr {
		// JetStream control headers (dedup id, expected sequence) would make
		// a dead-letter stream reject the copy.
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		out.Header[k] = vs
	}
	out.Header.Set(HeaderReason, headerValue(reason))
	out.Header.Set(HeaderSubject, subject)
	if err := c.publish(out); err != nil {
		return fmt.Errorf("publish dead letter: %w", err)
	}
	if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("flush dead letter: %w", err)
	}
	return nil
}

// headerValue makes reason a single bounded header line.
func headerValue(reason string) string {
	if reason == "" {
		reason = "invalid record"
	}
	reason = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > 512 {
		reason = reason[:512]
	}
	return reason
}

// logInvalid logs an invalid record, at most once per interval (counting
// what it suppressed); never the record's content.
func (c *Consumer) logInvalid(subject string, seq uint64, reason string) {
	if n, ok := c.invalidLog.allow(time.Now()); ok {
		c.log.Warn().Str("subject", subject).Uint64("stream_seq", seq).Str("reason", reason).
			Int("suppressed", n).Msg("invalid record dead-lettered")
	}
}

func (c *Consumer) logErr(err error, msg string) {
	if !c.nc.IsConnected() {
		// A consequence of the lost connection, whose cause is logged at
		// warn by ConnStatus; "context deadline exceeded" explains nothing.
		c.log.Debug().Err(err).Msg(msg)
		return
	}
	if n, ok := c.errLog.allow(time.Now()); ok {
		c.log.Warn().Err(err).Int("suppressed", n).Msg(msg)
	}
}

func (c *Consumer) setConnected() {
	if c.nc.IsConnected() {
		c.m.connected.Set(1)
	} else {
		c.m.connected.Set(0)
	}
}

// limiter lets one event through per interval and counts the rest. Used
// from the Run goroutine or under Consumer.mu, never concurrently.
type limiter struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *limiter) allow(now time.Time) (suppressed int, ok bool) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}
