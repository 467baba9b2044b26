package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/record"
)

// requestTimeout bounds one JetStream API call (stream/consumer info).
const requestTimeout = 5 * time.Second

func (c *Consumer) runJetStream(ctx context.Context, h Handler) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	c.tr = newSeqTracker(c.floor.Load())
	c.ak = acker{every: ackEvery(c.cfg.MaxAckPending)}
	var (
		cons  jetstream.Consumer
		retry = backoffTimer{min: 100 * time.Millisecond, max: 5 * time.Second}
	)
	for ctx.Err() == nil {
		c.setConnected()
		if c.nc.IsClosed() {
			return errors.New("ingest: nats connection closed")
		}
		if !c.nc.IsConnected() {
			// Every JetStream call would time out; the connection's own
			// status says why it is down (ConnStatus).
			retry.wait(ctx)
			continue
		}
		if cons == nil {
			cons, err = c.setup(ctx, js)
			if err != nil {
				if ctx.Err() == nil {
					c.logErr(err, "jetstream setup failed; retrying")
					retry.wait(ctx)
				}
				continue
			}
			// New handles: delivery sequences of a recreated durable restart.
			c.ak.reset()
			c.chain = chain{}
			if info := cons.CachedInfo(); info != nil {
				c.chain.start(info.Delivered)
				c.raiseFloor(info.AckFloor.Stream)
			}
			c.setConsuming()
			c.log.Info().Str("stream", c.cfg.Stream).Str("consumer", c.cfg.Consumer).
				Uint64("last_applied", c.tr.floor).Int("prefetch", c.cfg.BatchSize).Msg("consuming")
		}
		n, err := c.consume(ctx, cons, h)
		c.chain.unbroken = false // deliveries may have been dropped with the subscription
		if n > 0 {
			retry.reset()
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, errPullLost) {
			// Pull again at once on the same durable, unless it is gone.
			if !c.consumerExists(ctx, cons) {
				c.consuming.Store(false)
				cons = nil
			}
			c.logErr(err, "jetstream pull request reached no consumer; pulling again")
			retry.wait(ctx)
			continue
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
			errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, errConsumeStopped) {
			c.consuming.Store(false)
			cons = nil
		}
		c.logErr(err, "jetstream consume failed; retrying")
		retry.wait(ctx)
	}
	return nil
}

// errConsumeStopped: the client stopped the pull subscription on its own
// (the consumer was deleted, or a terminal status arrived); the durable is
// set up again.
var errConsumeStopped = errors.New("jetstream pull subscription stopped")

// errPullLost: a pull request was answered by 503 No Responders — nothing
// served the durable's request subject (one deleted and recreated in
// between; likely also one just created on a cluster whose leader's
// subscription has not reached this server yet). nats.go (v1.55, pull.go
// handleStatusMsg) only reports that status: it keeps counting the
// request's batch as pending, so checkPending issues no new pull until the
// missing-heartbeat timer fires, 2×heartbeat = the pull expiry by default
// (30 s) although records are pending. The subscription is restarted
// instead, which pulls again.
var errPullLost = errors.New("jetstream pull request lost (no responders)")

// pullHeartbeat is the idle heartbeat asked of each pull request. A pull
// the server dropped without a word (nats-server 2.9.10 drops one for a
// durable it does not serve; 2.15 drops one over max_waiting when a
// heartbeat is set) leaves nats.go counting its batch as pending, and it
// pulls again only after two missed heartbeats: by default half the
// expiry each, so a whole expiry with records pending. 1 s bounds that to
// 2 s, for one idle heartbeat a second per waiting pull.
const pullHeartbeat = time.Second

// consumerExists reports whether the durable still exists (true when the
// server cannot tell: the next pull will show).
func (c *Consumer) consumerExists(ctx context.Context, cons jetstream.Consumer) bool {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := cons.Info(rctx)
	return !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound)
}

// consume pulls continuously (Consume: up to BatchSize messages prefetched
// and the next pull issued when half are used, so the pipe never runs dry
// between batches) and splits the work over two goroutines: nats.go's
// delivery callback reads each message's sequences (parseAckReply) and, for a Decoder
// handler, decodes the record into a handoff slot; the Run goroutine takes
// every slot queued since it last looked (one lock per batch), applies
// each record through the handler in delivery order, tracks the processed
// floor and acks it (acks.go). Decoding thus overlaps detection, and the
// handler (HandleMessage and Idle) and the ack state are used by the Run
// goroutine only. It returns when ctx is cancelled — after the client
// handed over what it had received, each one applied and the floor acked —
// or with an error when the subscription stopped under it. n is the number
// of messages processed.
func (c *Consumer) consume(ctx context.Context, cons jetstream.Consumer, h Handler) (n int, err error) {
	var (
		lastErr atomic.Pointer[error]
		lost    atomic.Bool // a pull was answered by no responders
		count   int         // messages processed
		infoAt  int         // count at the last gaps check
		ho      = newHandoff(c.cfg.BatchSize)
		slot    *delivery // delivery goroutine only: the slot it fills next
	)
	dec, _ := h.(Decoder)
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullMaxMessages(c.cfg.BatchSize),
		jetstream.ConsumeErrHandler(func(cc jetstream.ConsumeContext, err error) {
			lastErr.Store(&err)
			if errors.Is(err, nats.ErrNoResponders) {
				lost.Store(true)
				cc.Stop() // see errPullLost
			}
		}),
	}
	if c.expiry > 0 {
		opts = append(opts, jetstream.PullExpiry(c.expiry),
			jetstream.PullHeartbeat(min(pullHeartbeat, c.expiry/2)))
	}
	if c.beforePull != nil {
		c.beforePull()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if slot == nil {
			if slot = ho.claim(); slot == nil {
				return // stopped: not acked, redelivered after ack_wait
			}
		}
		slot.m = m
		slot.md, slot.err = &slot.mdv, nil
		if !parseAckReply(m.Reply(), &slot.mdv) {
			slot.md, slot.err = nil, errNotAckReply
		}
		if slot.decoded = dec != nil && slot.err == nil; slot.decoded {
			slot.decErr = dec.Decode(m.Data(), &slot.rec)
		}
		if slot = ho.put(); slot == nil {
			return // stopped before it was queued: as above
		}
	}, opts...)
	if err != nil {
		return 0, err
	}
	// apply applies what is queued, and what was queued meanwhile, until
	// the queue is empty: a busy apply side parks only when the delivery
	// side is behind.
	apply := func() {
		for {
			a, b := ho.take()
			if len(a) == 0 {
				break
			}
			for _, run := range [2][]delivery{a, b} {
				for i := range run {
					d := &run[i]
					if c.lose == nil || d.err != nil || !c.lose(d.md) { // test seam: lost in flight
						c.process(d, h)
					}
					d.m, d.md, d.decErr = nil, nil, nil
					if count++; count-infoAt >= c.cfg.BatchSize {
						infoAt = count
						c.checkGaps(ctx)
					}
				}
			}
		}
		c.flushCounts()
	}
	closed := cc.Closed()
	finish := func() int {
		cc.Stop()
		ho.stop()
		apply() // what was queued before the stop
		if !c.nc.IsClosed() {
			c.flushAcks()
			// Acks are published without waiting for the server; a round
			// trip makes sure the floor's ack reached it before Run
			// returns, so a restart does not see the records redelivered.
			if err := c.nc.FlushTimeout(requestTimeout); err != nil {
				c.logErr(err, "flushing acks at stop failed; unacked records will be redelivered and skipped")
			}
		}
		return count
	}

	wait := min(c.idleAfter, 5*time.Second)
	tick := time.NewTicker(wait)
	defer tick.Stop()
	ackTick := time.NewTicker(c.ackInterval)
	defer ackTick.Stop()
	var (
		lastRecord = time.Now() // last tick that saw new records, or last Idle
		seen       int          // count at that tick
	)
	for {
		select {
		case <-ho.ready:
			apply()
		case <-ackTick.C:
			c.flushAcks()
		case now := <-tick.C:
			c.setConnected()
			if c.nc.IsClosed() {
				return finish(), errors.New("ingest: nats connection closed")
			}
			apply() // Idle must not overtake a queued record
			if count != seen {
				lastRecord, seen = now, count
			} else if now.Sub(lastRecord) >= c.idleAfter {
				c.flushAcks()
				c.checkGaps(ctx)
				if c.caughtUp(ctx, cons) {
					h.Idle(now)
					lastRecord = now
				}
			}
		case <-closed:
			n := finish()
			if lost.Load() {
				return n, errPullLost
			}
			if e := lastErr.Load(); e != nil {
				return n, fmt.Errorf("%w: %w", errConsumeStopped, *e)
			}
			return n, errConsumeStopped
		case <-ctx.Done():
			// Stop pulling; the callback queues what the client holds and
			// it is applied; whatever is left after requestTimeout is
			// redelivered.
			cc.Drain()
			t := time.NewTimer(requestTimeout)
		drain:
			for {
				select {
				case <-ho.ready:
					apply()
				case <-closed:
					break drain
				case <-t.C:
					break drain
				}
			}
			t.Stop()
			return finish(), nil
		}
	}
}

// checkGaps lets the processed floor skip stream seqs that will never be
// delivered (not matching the consumer's subject, or deleted), which would
// otherwise hold it, and with it every AckAll, below them for good: the
// stream's next message on the subject at or after floor+1 (a "next by
// subject" get) is the first seq that can still come; everything below it
// is skipped. One request per batch while records wait above the floor
// (rare: a record lost in flight or such a hole), none otherwise.
func (c *Consumer) checkGaps(ctx context.Context) {
	if c.tr.gaps() == 0 || c.stream == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	next, err := c.stream.GetMsg(rctx, c.tr.floor+1, jetstream.WithGetMsgSubject(c.cfg.Subject))
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			c.logErr(err, "looking up the next record after the processed floor failed")
		}
		return
	}
	if next.Sequence > c.tr.floor+1 {
		c.raiseFloor(next.Sequence - 1)
		c.ak.reached(c.tr.floor)
	}
}

// setup creates the stream if configured and absent, and creates or updates
// the durable pull consumer. With resume the durable is deleted and
// recreated to deliver right after the processed floor (a deliver policy
// cannot be changed on an existing consumer, and its ack floor may be ahead
// of the restored snapshot).
func (c *Consumer) setup(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	stream, err := js.Stream(rctx, c.cfg.Stream)
	if err != nil {
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
		}
		if !c.cfg.CreateStream {
			return nil, fmt.Errorf("stream %s does not exist and ingest.create_stream is false", c.cfg.Stream)
		}
		if stream, err = js.CreateStream(rctx, c.streamConfig()); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("create stream %s: %w", c.cfg.Stream, err)
		}
		if err != nil { // created concurrently
			if stream, err = js.Stream(rctx, c.cfg.Stream); err != nil {
				return nil, fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
			}
		}
		c.log.Info().Str("stream", c.cfg.Stream).Str("subject", c.cfg.Subject).Msg("created stream")
	}
	if err := c.readPrior(rctx, js); err != nil {
		return nil, err
	}
	c.stream = stream
	if !c.resume {
		return c.keepPosition(rctx, js)
	}
	start := c.resumeStart(stream.CachedInfo().State)
	if err := js.DeleteConsumer(rctx, c.cfg.Stream, c.cfg.Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s on stream %s to resume: %w", c.cfg.Consumer, c.cfg.Stream, err)
	}
	cons, err := js.CreateConsumer(rctx, c.cfg.Stream, c.consumerConfig(start))
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s from seq %d: %w", c.cfg.Consumer, c.cfg.Stream, start, err)
	}
	c.log.Info().Str("consumer", c.cfg.Consumer).Uint64("start_seq", start).Msg("consumer recreated to resume after the last applied record")
	return cons, nil
}

// readPrior records, once per process and before anything is consumed, the
// ack floor the durable left behind: the position up to which a previous
// run processed the stream (the handler may withhold alerts it already
// raised). A later setup (after the consumer vanished) finds this
// process's own durable and must not overwrite it.
func (c *Consumer) readPrior(ctx context.Context, js jetstream.JetStream) error {
	if c.priorRead {
		return nil
	}
	if c.priorGiven {
		c.priorRead = true
		c.priorPub.Store(c.prior)
		c.log.Info().Uint64("prior_ack_floor", c.prior).Msg("position of the previous run given by the caller")
		return nil
	}
	cur, err := js.Consumer(ctx, c.cfg.Stream, c.cfg.Consumer)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c.prior = 0
	case err != nil:
		return fmt.Errorf("consumer %s on stream %s: %w", c.cfg.Consumer, c.cfg.Stream, err)
	default:
		c.prior = cur.CachedInfo().AckFloor.Stream
	}
	c.priorRead = true
	c.priorPub.Store(c.prior)
	c.log.Info().Uint64("prior_ack_floor", c.prior).Msg("position of the previous run read from the durable consumer")
	return nil
}

// resumeStart is the first stream sequence to deliver: right after the
// processed floor, unless the stream is behind it (recreated: the floor
// is reset and everything delivered). Records expired between the floor
// and the stream's first sequence are reported; the server starts at its
// first sequence and the ack floor skips the gap.
func (c *Consumer) resumeStart(st jetstream.StreamState) uint64 {
	floor := c.tr.floor
	if floor > st.LastSeq {
		c.log.Warn().Uint64("last_applied", floor).Uint64("stream_last_seq", st.LastSeq).
			Msg("stream is behind the restored snapshot (recreated?); consuming it from the start")
		c.tr = newSeqTracker(0)
		c.publishFloor()
		return 1
	}
	if st.FirstSeq > floor+1 {
		c.log.Warn().Uint64("last_applied", floor).Uint64("stream_first_seq", st.FirstSeq).
			Uint64("missed", st.FirstSeq-floor-1).
			Msg("records after the restored snapshot expired from the stream; baselines miss them")
	}
	return floor + 1
}

// keepPosition creates the durable or updates it in place, keeping its
// deliver policy (which the server does not let change) and ack floor. A
// durable with another ack policy (AckExplicit, before batched acks),
// which the server does not let change either, is recreated to deliver
// right after its ack floor.
func (c *Consumer) keepPosition(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cfg := c.consumerConfig(1)
	if cur, err := js.Consumer(ctx, c.cfg.Stream, c.cfg.Consumer); err == nil {
		info := cur.CachedInfo()
		if info.Config.AckPolicy != cfg.AckPolicy {
			return c.recreateAckAll(ctx, js, info)
		}
		old := info.Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", c.cfg.Consumer, c.cfg.Stream, err)
	}
	return cons, nil
}

// recreateAckAll replaces a durable whose ack policy is not AckAll by one
// that delivers from its ack floor + 1: the records it had delivered but
// not acked are delivered again, the ones it acked are not.
func (c *Consumer) recreateAckAll(ctx context.Context, js jetstream.JetStream, old *jetstream.ConsumerInfo) (jetstream.Consumer, error) {
	start := old.AckFloor.Stream + 1
	if err := js.DeleteConsumer(ctx, c.cfg.Stream, c.cfg.Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s on stream %s to change its ack policy: %w", c.cfg.Consumer, c.cfg.Stream, err)
	}
	cons, err := js.CreateConsumer(ctx, c.cfg.Stream, c.consumerConfig(start))
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s from seq %d: %w", c.cfg.Consumer, c.cfg.Stream, start, err)
	}
	// The old durable acked everything up to its floor (processed by an
	// earlier run); servers before 2.10 report a new durable's ack floor
	// as 0, not start-1.
	c.raiseFloor(start - 1)
	c.log.Info().Str("consumer", c.cfg.Consumer).Str("old_ack_policy", old.Config.AckPolicy.String()).
		Uint64("start_seq", start).Msg("consumer recreated with ack policy all (batched acks), after its ack floor")
	return cons, nil
}

func (c *Consumer) streamConfig() jetstream.StreamConfig { return c.cfg.StreamConfig() }

// StreamConfig is the stream created when ingest.create_stream is set.
func (c Config) StreamConfig() jetstream.StreamConfig {
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "Toolwatch audit records",
		Subjects:    []string{c.Subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		MaxBytes:    maxBytes,
		Duplicates:  c.DuplicateWindow,
		Replicas:    c.Replicas,
	}
}

// consumerConfig delivers from stream sequence start (<= 1: the first
// record in the stream).
func (c *Consumer) consumerConfig(start uint64) jetstream.ConsumerConfig {
	policy := jetstream.DeliverAllPolicy
	if start > 1 {
		policy = jetstream.DeliverByStartSequencePolicy
	} else {
		start = 0
	}
	return jetstream.ConsumerConfig{
		Durable:       c.cfg.Consumer,
		Description:   "Toolwatch detector",
		DeliverPolicy: policy,
		OptStartSeq:   start,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       c.cfg.AckWait,
		MaxAckPending: c.cfg.MaxAckPending,
		MaxDeliver:    c.cfg.MaxDeliver,
		FilterSubject: c.cfg.Subject,
	}
}

// process handles one delivery: skip (ack) a processed seq, else hand it to
// the handler and ack — or dead-letter and terminate — afterwards.
func (c *Consumer) process(d *delivery, h Handler) {
	m, md := d.m, d.md
	if d.err != nil {
		// Not a JetStream delivery; cannot happen on a pull consumer.
		c.logErr(d.err, "jetstream message without metadata")
		return
	}
	seq := md.Sequence.Stream
	c.batch.pending, c.batch.seen = md.NumPending, true
	if md.NumDelivered > 1 {
		c.m.redelivered.Inc()
	}
	dseq := md.Sequence.Consumer
	missed := c.chain.lastD != 0 && dseq > c.chain.lastD+1
	if lo, hi := c.chain.next(seq, dseq, md.NumDelivered); lo <= hi {
		c.tr.skip(lo, hi)
		c.publishFloor()
	}
	if missed && md.NumDelivered == 1 {
		c.nakLost(m.Reply(), seq, dseq)
	}
	if c.tr.done(seq) {
		// The floor's ack covers it; a redelivery of a record at or below
		// the floor means the server lost an earlier ack, so its handle is
		// offered for the next one.
		c.m.duplicate.Inc()
		c.ak.applied(m, seq, dseq, c.tr.floor)
		c.ackIfDue()
		return
	}
	c.msg = Message{Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), StreamSeq: seq, Pending: md.NumPending,
		Processed: seq <= c.prior}
	if d.decoded {
		c.msg.Record, c.msg.DecodeErr = &d.rec, d.decErr
	}
	r := h.HandleMessage(&c.msg)
	c.msg = Message{}
	if r.Outcome == record.Invalid {
		if err := c.deadLetter(m.Subject(), m.Data(), m.Headers(), r.Reason); err != nil {
			// Not marked done: the redelivery runs the handler (which has no
			// effect for an invalid record) and retries the publish.
			c.m.deadLetterFailed.Inc()
			c.logErr(err, "dead-letter publish failed; record will be redelivered")
			if err := m.NakWithDelay(c.cfg.NakDelay); err != nil {
				c.logErr(err, "nak failed; record will be redelivered after ack_wait")
			}
			return
		}
		c.m.deadLettered.Inc()
		c.logInvalid(m.Subject(), seq, r.Reason)
		c.mark(seq)
		c.m.invalid.Inc()
		// Under AckAll a Term acks every record up to seq as well: only
		// without a gap below it. Above a gap the floor's ack covers it
		// later (no terminated advisory for that record).
		if seq <= c.tr.floor && dseq > c.ak.sentD {
			c.ak.sent(seq, dseq)
			c.m.acks.Inc()
			if err := m.Term(); err != nil {
				c.logErr(err, "term failed; record will be redelivered and skipped")
			}
			c.dropHeld()
			return
		}
		c.ak.applied(m, seq, dseq, c.tr.floor)
		c.ackIfDue()
		return
	}
	c.mark(seq)
	c.batch.outcomes[r.Outcome]++
	c.ak.applied(m, seq, dseq, c.tr.floor)
	c.ackIfDue()
}

// batchCounts are the per-record metrics of one handed-over batch, added
// to the Prometheus metrics once per batch (flushCounts) instead of one
// atomic update per record each.
type batchCounts struct {
	outcomes [record.Invalid + 1]uint64 // applied and late (invalid ones are counted at once)
	pending  uint64                     // NumPending of the last delivery
	seen     bool                       // pending is set
}

// flushCounts adds the batch's counts to the metrics (Run goroutine).
func (c *Consumer) flushCounts() {
	b := &c.batch
	for o, n := range b.outcomes {
		if n > 0 {
			c.m.outcome(record.Outcome(o)).Add(float64(n))
		}
	}
	if b.seen {
		c.m.pending.Set(float64(b.pending))
	}
	*b = batchCounts{}
}

func (c *Consumer) dropHeld() { c.ak.dropHeld(c.tr.floor) }

// maxNakLost bounds the NAKs sent for one gap in delivery sequences, and
// maxNakScan the stream seqs looked at for them (the floor may sit far
// below a delivery in a stream shared with other subjects).
const (
	maxNakLost = 16
	maxNakScan = 4096
)

// nakLost asks the server to redeliver now, instead of after ack_wait, the
// records a gap in delivery sequences shows lost in flight: the first
// delivery of stream seq seq (consumer seq dseq) came after a consumer seq
// the client never saw. First deliveries come in stream order, so a lost
// one is a seq between the floor and seq that is not processed; each such
// seq (at most maxNakLost, lowest first) is NAKed on the ack subject of
// this delivery with its stream seq in place of this one's. The server
// redelivers a NAKed seq only if it is delivered and unacked (pending);
// seqs it never delivered (other subjects) are ignored, and a redelivery
// of a record that was not lost after all is skipped as processed. Under
// AckAll a lost record holds every ack behind it, so this shortens that
// hold from ack_wait to a round trip; nothing is acked by it.
func (c *Consumer) nakLost(reply string, seq, dseq uint64) {
	sent := 0
	for s := c.tr.floor + 1; s < seq && s <= c.tr.floor+maxNakScan && sent < maxNakLost; s++ {
		if c.tr.done(s) {
			continue
		}
		subj, ok := nakSubject(reply, s, dseq)
		if !ok {
			return
		}
		if err := c.nc.Publish(subj, nakBody); err != nil {
			c.logErr(err, "nak of a record lost in flight failed; it is redelivered after ack_wait")
			return
		}
		c.m.nakLost.Inc()
		sent++
	}
}

var nakBody = []byte("-NAK")

// nakSubject is the ack subject reply (a delivery's, either of the
// server's two formats: nats-server ackReplyInfo) with stream seq sseq, one
// delivery and consumer seq dseq; false if reply is not an ack subject.
func nakSubject(reply string, sseq, dseq uint64) (string, bool) {
	tokens := strings.Split(reply, ".")
	off := 0
	switch {
	case len(tokens) == 9:
		off = 2
	case len(tokens) >= 11:
		off = 4
	default:
		return "", false
	}
	if tokens[0] != "$JS" || tokens[1] != "ACK" {
		return "", false
	}
	tokens[off+2] = "1"
	tokens[off+3] = strconv.FormatUint(sseq, 10)
	tokens[off+4] = strconv.FormatUint(dseq, 10)
	return strings.Join(tokens, "."), true
}

// ackIfDue acks the floor once enough records wait (per record: a counter
// compare, no clock).
func (c *Consumer) ackIfDue() {
	if c.ak.due() {
		c.flushAcks()
	}
}

// flushAcks acks the newest handle at the floor, if any (Run goroutine).
func (c *Consumer) flushAcks() {
	m := c.ak.take()
	if m == nil {
		return
	}
	c.m.acks.Inc()
	if err := c.ack(m); err != nil {
		c.logErr(err, "ack failed; records will be redelivered and skipped")
	}
}

func (c *Consumer) mark(seq uint64) {
	c.tr.mark(seq)
	c.publishFloor()
}

func (c *Consumer) raiseFloor(f uint64) {
	c.tr.raise(f)
	c.ak.dropHeld(c.tr.floor)
	c.publishFloor()
}

func (c *Consumer) publishFloor() {
	c.floor.Store(c.tr.floor)
	c.above.Store(c.tr.gaps() > 0)
}

// consumerInfo refreshes the pending gauge and the processed floor from the
// server; nil when the server cannot be asked.
func (c *Consumer) consumerInfo(ctx context.Context, cons jetstream.Consumer) *jetstream.ConsumerInfo {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	info, err := cons.Info(rctx)
	if err != nil {
		if ctx.Err() == nil {
			c.logErr(err, "consumer info failed")
		}
		return nil
	}
	c.m.pending.Set(float64(info.NumPending))
	c.raiseFloor(info.AckFloor.Stream)
	return info
}

// caughtUp asks the server whether every record has been delivered and
// acked: only then may event time follow the wall clock.
func (c *Consumer) caughtUp(ctx context.Context, cons jetstream.Consumer) bool {
	info := c.consumerInfo(ctx, cons)
	return info != nil && info.NumPending == 0 && info.NumAckPending == 0
}

// backoffTimer waits min, doubling up to max, between failed attempts.
type backoffTimer struct {
	min, max, cur time.Duration
}

func (b *backoffTimer) reset() { b.cur = 0 }

func (b *backoffTimer) wait(ctx context.Context) {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
