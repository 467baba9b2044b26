package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/record"
)

// runCore consumes a plain subscription. The client buffers at most
// PendingLimit records; beyond that it drops them (the async error handler
// logs the first drop, and the drop counter is read on every tick).
func (c *Consumer) runCore(ctx context.Context, h Handler) error {
	ch := make(chan *nats.Msg, c.cfg.PendingLimit)
	var (
		sub *nats.Subscription
		err error
	)
	if c.cfg.QueueGroup != "" {
		sub, err = c.nc.ChanQueueSubscribe(c.cfg.Subject, c.cfg.QueueGroup, ch)
	} else {
		sub, err = c.nc.ChanSubscribe(c.cfg.Subject, ch)
	}
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", c.cfg.Subject, err)
	}
	c.setConsuming()
	c.log.Info().Str("subject", c.cfg.Subject).Str("queue_group", c.cfg.QueueGroup).Msg("consuming")
	tick := time.NewTicker(min(c.idleAfter, time.Second))
	defer tick.Stop()
	var (
		seen, seenAtTick uint64
		lastActive       = time.Now()
	)
	for {
		select {
		case <-ctx.Done():
			c.countDrops(sub)
			if err := sub.Unsubscribe(); err != nil && !c.nc.IsClosed() {
				c.log.Warn().Err(err).Msg("unsubscribe")
			}
			// Records already received are processed.
			for {
				select {
				case m := <-ch:
					c.processCore(m, h, 0)
				default:
					return nil
				}
			}
		case m := <-ch:
			c.processCore(m, h, uint64(len(ch)))
			seen++
		case now := <-tick.C:
			c.setConnected()
			c.countDrops(sub)
			c.m.pending.Set(float64(len(ch)))
			if seen != seenAtTick {
				seenAtTick, lastActive = seen, now
				continue
			}
			if now.Sub(lastActive) >= c.idleAfter && len(ch) == 0 && c.nc.IsConnected() {
				h.Idle(now)
				lastActive = now
			}
		}
	}
}

func (c *Consumer) processCore(m *nats.Msg, h Handler, pending uint64) {
	c.msg = Message{Subject: m.Subject, Data: m.Data, Header: m.Header, Pending: pending}
	r := h.HandleMessage(&c.msg)
	c.msg = Message{}
	if r.Outcome != record.Invalid {
		c.m.outcome(r.Outcome).Inc()
		return
	}
	c.m.invalid.Inc()
	if err := c.deadLetter(m.Subject, m.Data, m.Header, r.Reason); err != nil {
		c.m.deadLetterFailed.Inc()
		c.logErr(err, "dead-letter publish failed; invalid record lost (core mode)")
		return
	}
	c.m.deadLettered.Inc()
	c.logInvalid(m.Subject, 0, r.Reason)
}

// countDrops adds the client's new slow-consumer drops to the counter.
func (c *Consumer) countDrops(sub *nats.Subscription) {
	n, err := sub.Dropped()
	if err != nil || n <= c.dropped {
		return
	}
	d := n - c.dropped
	c.dropped = n
	c.m.dropped.Add(float64(d))
	if s, ok := c.dropLog.allow(time.Now()); ok {
		c.log.Warn().Int("dropped", d).Int("dropped_total", n).Int("suppressed", s).
			Int("pending_limit", c.cfg.PendingLimit).Msg("slow consumer: records dropped")
	}
}
