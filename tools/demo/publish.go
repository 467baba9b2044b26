package demo

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/record"
)

// Progress reports what Publish or Simulate has done so far.
type Progress struct {
	Phase     Phase
	Records   int       // records published in this phase so far
	EventTime time.Time // timestamp of the last published record
	// Injected is set on the report made right after an anomaly's first
	// record was published.
	Injected *Injected
	Done     bool // the phase is complete
}

// Stats is what Publish did.
type Stats struct {
	History, Live  int           // records published per phase
	HistoryElapsed time.Duration // wall time of the backlog
	Injected       []Injected
}

// Publish publishes the demo traffic to nc: the history backlog as fast as
// the server takes it (a flush round trip every FlushEvery messages), then
// the live phase in real time, each record once the wall clock has reached
// its timestamp. Records go to <SubjectPrefix>.<environment>.<agent_id>
// as canonical JSON (record.Record.AppendJSON). progress, if not nil, is
// called from Publish's goroutine every FlushEvery history records, once
// per second of live traffic, when an anomaly starts and at the end of
// each phase. It returns when the live phase ends, ctx is done or a
// publish fails; Stats.Injected lists the anomalies injected so far.
func Publish(ctx context.Context, nc *nats.Conn, cfg PublishConfig, progress func(Progress)) (Stats, error) {
	var st Stats
	cfg, err := cfg.withDefaults()
	if err != nil {
		return st, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	p, err := newPublisher(nc, cfg.SubjectPrefix, cfg.FlushEvery, cfg.JetStream)
	if err != nil {
		return st, err
	}
	defer p.close()

	began := time.Now()
	var last time.Time
	end := cfg.Now()
	d := newDresser(end.Add(-cfg.History))
	base, err := history(cfg, end, d, func(r *record.Record) error {
		if err := p.publish(ctx, r); err != nil {
			return err
		}
		st.History++
		last = r.Timestamp
		if p.flushed {
			progress(Progress{Phase: PhaseHistory, Records: st.History, EventTime: last})
		}
		return nil
	})
	if err == nil {
		err = p.flush(ctx)
	}
	st.HistoryElapsed = time.Since(began)
	if err != nil {
		return st, fmt.Errorf("publish history: %w", err)
	}
	progress(Progress{Phase: PhaseHistory, Records: st.History, EventTime: last, Done: true})

	st.Injected, err = paced(ctx, p, cfg.Now, func(emit func(*record.Record, *Injected) error) ([]Injected, error) {
		return live(cfg, cfg.Now(), base, d, emit)
	}, &st.Live, progress)
	if err != nil {
		return st, fmt.Errorf("publish live traffic: %w", err)
	}
	return st, nil
}

// paced runs gen, publishing each record once now() has reached its
// timestamp, and reports progress for the live phase.
func paced(ctx context.Context, p *publisher, now func() time.Time,
	gen func(emit func(*record.Record, *Injected) error) ([]Injected, error),
	count *int, progress func(Progress)) ([]Injected, error) {
	var last, lastTS time.Time
	var lastInj *Injected
	injected, err := gen(func(r *record.Record, inj *Injected) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := waitUntil(ctx, p, now, r.Timestamp); err != nil {
			return err
		}
		if err := p.publish(ctx, r); err != nil {
			return err
		}
		*count++
		pr := Progress{Phase: PhaseLive, Records: *count, EventTime: r.Timestamp}
		switch {
		case inj != nil && inj != lastInj:
			lastInj = inj
			cp := *inj
			pr.Injected = &cp
			progress(pr)
		case r.Timestamp.Truncate(time.Second).After(last):
			progress(pr)
		}
		last, lastTS = r.Timestamp.Truncate(time.Second), r.Timestamp
		return nil
	})
	if err == nil {
		err = p.flush(ctx)
	}
	if err != nil {
		return injected, err
	}
	progress(Progress{Phase: PhaseLive, Records: *count, EventTime: lastTS, Done: true})
	return injected, nil
}

// waitUntil returns once now() >= ts, flushing what is buffered before
// it sleeps so earlier records are not held back.
func waitUntil(ctx context.Context, p *publisher, now func() time.Time, ts time.Time) error {
	d := ts.Sub(now())
	if d <= 0 {
		return nil
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	for d > 0 {
		t := time.NewTimer(min(d, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		d = ts.Sub(now())
	}
	return nil
}

// flushTimeout bounds one flush round trip.
const flushTimeout = 30 * time.Second

// publisher publishes records with core NATS or JetStream and flushes
// every `every` messages.
type publisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	ackErrs atomic.Int64
	ackErr  atomic.Pointer[error]
	prefix  string
	every   int
	n       int // messages since the last flush
	flushed bool
	buf     []byte
	subj    []byte
}

func newPublisher(nc *nats.Conn, prefix string, every int, useJS bool) (*publisher, error) {
	if nc == nil {
		return nil, errors.New("demo: nil NATS connection")
	}
	p := &publisher{nc: nc, prefix: prefix, every: every}
	if useJS {
		js, err := jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(2*every),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
				p.ackErrs.Add(1)
				p.ackErr.CompareAndSwap(nil, &err)
			}))
		if err != nil {
			return nil, fmt.Errorf("demo: jetstream: %w", err)
		}
		p.js = js
	}
	return p, nil
}

func (p *publisher) publish(ctx context.Context, r *record.Record) error {
	p.flushed = false
	p.subj = ingest.AppendRecordSubject(p.subj[:0], p.prefix, r.Context.Environment, r.AgentID)
	if p.js != nil {
		// The async publisher keeps the message until it is acknowledged:
		// it gets its own copy.
		data := r.AppendJSON(nil)
		if _, err := p.js.PublishAsync(string(p.subj), data); err != nil {
			return fmt.Errorf("publish %s: %w", p.subj, err)
		}
	} else {
		p.buf = r.AppendJSON(p.buf[:0])
		if err := p.nc.Publish(string(p.subj), p.buf); err != nil {
			return fmt.Errorf("publish %s: %w", p.subj, err)
		}
	}
	if p.n++; p.n >= p.every {
		return p.flush(ctx)
	}
	return nil
}

// flush waits until the server has taken everything published so far
// (JetStream: until every record is acknowledged).
func (p *publisher) flush(ctx context.Context) error {
	p.n = 0
	p.flushed = true
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if p.js != nil {
		select {
		case <-p.js.PublishAsyncComplete():
		case <-ctx.Done():
			return fmt.Errorf("wait for acknowledgements: %w", ctx.Err())
		}
		if e := p.ackErr.Load(); e != nil {
			return fmt.Errorf("%d records not acknowledged: %w", p.ackErrs.Load(), *e)
		}
		return nil
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

func (p *publisher) close() {
	if p.js != nil {
		p.js.CleanupPublisher()
	}
}
