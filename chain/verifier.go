package chain

import (
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/record"
)

// Issue kinds (the alert Detail of the chain_integrity detector).
const (
	Gap               = "gap"                // records missing: seqs Seq..To never arrived within the grace
	Fork              = "fork"               // two different records with one seq
	Altered           = "altered"            // chain.hash does not match the record's content
	PrevMismatch      = "prev_mismatch"      // chain.prev is not the hash of the record before
	BadSignature      = "bad_signature"      // a checkpoint signature that does not verify
	UnknownKey        = "unknown_key"        // a checkpoint under a key id with no configured key
	MissingCheckpoint = "missing_checkpoint" // more than checkpoint_every records without a valid checkpoint
	StoppedChaining   = "stopped_chaining"   // an unchained record from an agent whose records were chained
)

// Params bound the Verifier.
type Params struct {
	// History: per producer, how many of the newest accepted seqs keep
	// their hash, so a redelivery is recognised (silent) and a second
	// record with one of those seqs is a fork. Older seqs arriving again
	// are counted as stale, never judged.
	History int
	// MaxPending: out-of-order records held per producer while an earlier
	// seq is missing; one more declares the gap at once.
	MaxPending int
	// GapGrace: a missing seq is declared a gap when the watermark passes
	// the event time of the first record after it plus this grace.
	GapGrace time.Duration
	// CheckpointEvery: more accepted records than this since the last
	// valid checkpoint (or the chain's first record) is missing_checkpoint,
	// once until the next valid one. 0 disables.
	CheckpointEvery int64
	// CheckpointMaxAge: a record more than this event time after the last
	// valid checkpoint (or the chain's first record) is missing_checkpoint,
	// likewise once until the next valid one. 0 disables.
	CheckpointMaxAge time.Duration
	// MaxProducers caps producer (and agent) states; the least recently
	// seen is evicted. IdleAfter evicts producers not seen for that long
	// in event time (0: never).
	MaxProducers int
	IdleAfter    time.Duration
}

// DefaultParams returns the documented defaults.
func DefaultParams() Params {
	return Params{History: 64, MaxPending: 256, GapGrace: 30 * time.Second,
		MaxProducers: 10000, IdleAfter: 24 * time.Hour}
}

// Issue is one chain finding. Ref and PrevRef are the caller's reference of
// the record (a line number offline; 0 in the detector).
type Issue struct {
	Kind     string `json:"kind"`
	Producer string `json:"producer,omitempty"`
	// Seq is the seq concerned; for a gap the missing range is Seq..To.
	Seq int64 `json:"seq,omitempty"`
	To  int64 `json:"to,omitempty"`
	// Expected: for missing_checkpoint, the seq of the last valid
	// checkpoint (or the seq before the chain's first record).
	Expected int64  `json:"expected,omitempty"`
	Ref      int64  `json:"line,omitempty"`       // the record that revealed the issue
	PrevRef  int64  `json:"first_line,omitempty"` // for a fork: the first record with that seq (0 if unknown)
	KeyID    string `json:"key_id,omitempty"`
	// Since: for missing_checkpoint, the event time since the last valid
	// checkpoint (or the chain's first record).
	Since time.Duration `json:"since_checkpoint,omitempty"`
	// Identity of the record that revealed the issue.
	AgentID     string    `json:"agent_id"`
	Tool        string    `json:"tool"`
	ToolVersion string    `json:"-"`
	Environment string    `json:"-"`
	TraceID     string    `json:"trace_id"`
	SpanID      string    `json:"span_id"`
	TaskID      string    `json:"-"`
	Time        time.Time `json:"event_time"`
}

// Stats counts what the Verifier saw.
type Stats struct {
	Records               uint64 `json:"records"`
	Unchained             uint64 `json:"unchained"`
	Chained               uint64 `json:"chained"`
	Accepted              uint64 `json:"accepted"`   // chained records placed in their chain
	Duplicates            uint64 `json:"duplicates"` // identical redeliveries (silent)
	Stale                 uint64 `json:"stale"`      // seqs too old to judge (beyond history or declared missing)
	CheckpointsValid      uint64 `json:"checkpoints_valid"`
	CheckpointsBad        uint64 `json:"checkpoints_bad"`
	CheckpointsUnknownKey uint64 `json:"checkpoints_unknown_key"`
}

// entry is a record waiting for its turn (pending) or remembered (history).
type entry struct {
	seq        int64
	prev, hash [32]byte
	ok         bool // the content matched hash
	ckpt       bool // carried a valid checkpoint
	ref        int64
	ts         time.Time
	id         ident
}

// ident is the identity a later finding names (strings shared with the
// decoded record; the decoder allocates them per record).
type ident struct {
	agent, tool, version, env, trace, span, task string
}

type producer struct {
	agent     string // agent of the newest record, and the second it was
	agentAt   int64  // last marked as chaining (agents store refreshed once a second)
	next      int64  // next expected seq; 0 before the first record
	head      [32]byte
	headKnown bool // head is the hash of seq next-1 (false after a gap or a mid-chain start)
	lastCkpt  int64
	ckptAt    time.Time // event time of the last valid checkpoint (or the first record)
	ckptDue   bool      // missing_checkpoint raised, waiting for a valid one
	history   []hist
	pending   []entry // sorted by seq, all > next
}

type hist struct {
	seq  int64
	hash [32]byte
	ok   bool
	ref  int64
}

type agent struct {
	stopped bool // stopped_chaining raised; cleared by a chained record
}

// Reporter receives one verdict per chained record (the daemon's
// compliance view): verified says the record's content matched chain.hash
// and it linked to its producer's previous record (chain.prev equal to
// that record's hash, or seq 1) or carried a valid checkpoint. Identical
// redeliveries are not reported again; a fork, an altered copy of a seq
// already seen or a stale seq is reported unverified.
type Reporter interface {
	Chained(producer string, verified bool)
}

// Verifier checks the chains of many producers. It is single-goroutine;
// Observe does not allocate for a known producer's in-order record.
type Verifier struct {
	p         Params
	keys      Keys
	report    Reporter // nil: no verdicts reported
	producers *baseline.Store[string, producer]
	agents    *baseline.Store[string, agent]
	npending  int // producers with pending records
	scratch   []byte
	stats     Stats
}

// NewVerifier returns a verifier checking checkpoints against keys.
func NewVerifier(p Params, keys Keys) *Verifier {
	v := &Verifier{
		p:         p,
		keys:      keys,
		producers: baseline.NewStore[string, producer](p.MaxProducers, p.IdleAfter),
		agents:    baseline.NewStore[string, agent](p.MaxProducers, p.IdleAfter),
		scratch:   make([]byte, 0, 1024),
	}
	v.producers.SetRecycle(v.recycle)
	return v
}

// recycle resets a producer evicted at the cap, keeping its history buffer.
func (v *Verifier) recycle(p *producer) {
	if len(p.pending) > 0 {
		v.npending--
	}
	*p = producer{history: p.history[:0]}
}

// SetParams changes the parameters and keys (hot reload); chain state is kept.
func (v *Verifier) SetParams(p Params, keys Keys) {
	v.p, v.keys = p, keys
	v.producers.SetLimits(p.MaxProducers, p.IdleAfter)
	v.agents.SetLimits(p.MaxProducers, p.IdleAfter)
}

// ReportTo sets the receiver of per-record verdicts (nil: none).
func (v *Verifier) ReportTo(r Reporter) { v.report = r }

// Stats returns the counters.
func (v *Verifier) Stats() Stats { return v.stats }

// Producers is the number of producers with chain state.
func (v *Verifier) Producers() int { return v.producers.Len() }

// KeyStats reports live producers and producers evicted (idle, capacity).
func (v *Verifier) KeyStats() (live int, idle, capacity uint64) {
	i, c := v.producers.Evictions()
	return v.producers.Len(), i, c
}

func identOf(r *record.Record) ident {
	return ident{r.AgentID, r.Tool.Name, r.Tool.Version, r.Context.Environment, r.TraceID, r.SpanID, r.Context.TaskID}
}

func (v *Verifier) issue(kind, producer string, seq int64, e *entry) Issue {
	return Issue{Kind: kind, Producer: producer, Seq: seq, To: seq, Ref: e.ref,
		AgentID: e.id.agent, Tool: e.id.tool, ToolVersion: e.id.version, Environment: e.id.env,
		TraceID: e.id.trace, SpanID: e.id.span, TaskID: e.id.task, Time: e.ts}
}

// Observe checks one record; ref is the caller's reference for it.
// Unchained records cost one counter, plus one map lookup once any agent
// has chained.
func (v *Verifier) Observe(r *record.Record, ref int64, out []Issue) []Issue {
	v.stats.Records++
	c := &r.Chain
	if c.Seq == 0 {
		v.stats.Unchained++
		if v.agents.Len() > 0 {
			if a := v.agents.Peek(r.AgentID); a != nil && !a.stopped {
				a.stopped = true
				e := entry{ref: ref, ts: r.Timestamp, id: identOf(r)}
				out = append(out, v.issue(StoppedChaining, "", 0, &e))
			}
		}
		return out
	}
	v.stats.Chained++
	p, _ := v.producers.Get(c.Producer, r.Timestamp, nil)
	if sec := r.Timestamp.Unix(); p.agent != r.AgentID || p.agentAt != sec {
		// The agent chains: refresh it at most once a second per producer.
		a, _ := v.agents.Get(r.AgentID, r.Timestamp, nil)
		a.stopped = false
		p.agent, p.agentAt = r.AgentID, sec
	}

	var sum [32]byte
	sum, v.scratch = Hash(r, v.scratch)
	e := entry{seq: c.Seq, prev: c.Prev, hash: c.Hash, ok: sum == c.Hash, ref: ref, ts: r.Timestamp, id: identOf(r)}

	// Redelivery or fork of a seq already seen.
	if p.next > 0 {
		if c.Seq < p.next {
			return v.seen(p, c.Producer, &e, out)
		}
		for i := range p.pending {
			if q := &p.pending[i]; q.seq == c.Seq {
				return v.again(c.Producer, &e, q.hash, q.ok, q.ref, out)
			}
		}
	}

	if !e.ok {
		out = append(out, v.issue(Altered, c.Producer, c.Seq, &e))
	}
	if c.KeyID != "" {
		out = v.checkpoint(c, &e, out)
	}
	switch {
	case p.next == 0: // first record of this producer
		p.next, p.headKnown, p.lastCkpt, p.ckptAt = c.Seq, c.Seq == 1, c.Seq-1, r.Timestamp
		return v.drain(p, c.Producer, &e, out)
	case c.Seq == p.next:
		return v.drain(p, c.Producer, &e, out)
	}
	// Ahead of the next expected seq: hold it.
	i := len(p.pending)
	for i > 0 && p.pending[i-1].seq > e.seq {
		i--
	}
	if len(p.pending) == 0 {
		v.npending++
	}
	p.pending = append(p.pending, entry{})
	copy(p.pending[i+1:], p.pending[i:])
	p.pending[i] = e
	for len(p.pending) > max(v.p.MaxPending, 0) {
		out = v.declareGap(p, c.Producer, out)
	}
	return out
}

// seen handles a seq below the next expected one.
func (v *Verifier) seen(p *producer, producer string, e *entry, out []Issue) []Issue {
	if n := len(p.history); n > 0 {
		if h := &p.history[e.seq%int64(n)]; h.seq == e.seq {
			return v.again(producer, e, h.hash, h.ok, h.ref, out)
		}
	}
	v.stats.Stale++
	if v.report != nil {
		v.report.Chained(producer, false)
	}
	return out
}

// again judges a second record with the seq of one already seen (hash,
// ok, ref): the same record is a redelivery; otherwise an altered copy or
// a fork.
func (v *Verifier) again(producer string, e *entry, hash [32]byte, ok bool, ref int64, out []Issue) []Issue {
	if e.hash == hash && e.ok == ok {
		v.stats.Duplicates++
		return out
	}
	if v.report != nil {
		v.report.Chained(producer, false)
	}
	if !e.ok {
		return append(out, v.issue(Altered, producer, e.seq, e))
	}
	is := v.issue(Fork, producer, e.seq, e)
	is.PrevRef = ref
	return append(out, is)
}

func (v *Verifier) checkpoint(c *record.Chain, e *entry, out []Issue) []Issue {
	pub, known := v.keys[c.KeyID]
	if !known {
		v.stats.CheckpointsUnknownKey++
		is := v.issue(UnknownKey, c.Producer, c.Seq, e)
		is.KeyID = c.KeyID
		return append(out, is)
	}
	var ok bool
	ok, v.scratch = VerifyCheckpoint(pub, c.Producer, c.Seq, c.Hash, c.Sig, v.scratch)
	if !ok {
		v.stats.CheckpointsBad++
		is := v.issue(BadSignature, c.Producer, c.Seq, e)
		is.KeyID = c.KeyID
		return append(out, is)
	}
	v.stats.CheckpointsValid++
	e.ckpt = true
	return out
}

// drain accepts e (whose seq is p.next), then every pending record that
// has become contiguous.
func (v *Verifier) drain(p *producer, producer string, e *entry, out []Issue) []Issue {
	out = v.accept(p, producer, e, out)
	if len(p.pending) == 0 {
		return out
	}
	n := 0
	for n < len(p.pending) && p.pending[n].seq == p.next {
		out = v.accept(p, producer, &p.pending[n], out)
		n++
	}
	if n > 0 {
		m := copy(p.pending, p.pending[n:])
		clear(p.pending[m:]) // drop the strings
		p.pending = p.pending[:m]
		if m == 0 {
			v.npending--
		}
	}
	return out
}

func (v *Verifier) accept(p *producer, producer string, e *entry, out []Issue) []Issue {
	v.stats.Accepted++
	linked := e.seq == 1
	if p.headKnown && e.seq > 1 {
		linked = e.prev == p.head
		if !linked {
			out = append(out, v.issue(PrevMismatch, producer, e.seq, e))
		}
	}
	if v.report != nil {
		v.report.Chained(producer, e.ok && (linked || e.ckpt))
	}
	p.head, p.headKnown, p.next = e.hash, true, e.seq+1
	if h := v.p.History; h > 0 {
		if len(p.history) != h { // first record, or History changed
			if cap(p.history) >= h {
				p.history = p.history[:h]
				clear(p.history)
			} else {
				p.history = make([]hist, h)
			}
		}
		p.history[e.seq%int64(h)] = hist{seq: e.seq, hash: e.hash, ok: e.ok, ref: e.ref}
	}
	switch {
	case e.ckpt:
		p.lastCkpt, p.ckptAt, p.ckptDue = e.seq, e.ts, false
	case p.ckptDue:
	case v.p.CheckpointEvery > 0 && e.seq-p.lastCkpt > v.p.CheckpointEvery,
		v.p.CheckpointMaxAge > 0 && e.ts.Sub(p.ckptAt) > v.p.CheckpointMaxAge:
		p.ckptDue = true
		is := v.issue(MissingCheckpoint, producer, e.seq, e)
		is.Expected, is.Since = p.lastCkpt, e.ts.Sub(p.ckptAt)
		out = append(out, is)
	}
	return out
}

// declareGap gives up on the seqs missing before p's first pending record.
func (v *Verifier) declareGap(p *producer, producer string, out []Issue) []Issue {
	first := p.pending[0]
	is := v.issue(Gap, producer, p.next, &first)
	is.To, is.Expected = first.seq-1, p.next
	out = append(out, is)
	p.next, p.headKnown = first.seq, false
	// A gap also breaks the checkpoint count's base: keep it, so a stream
	// of gaps still needs checkpoints.
	p.pending = p.pending[1:]
	out = v.accept(p, producer, &first, out)
	n := 0
	for n < len(p.pending) && p.pending[n].seq == p.next {
		out = v.accept(p, producer, &p.pending[n], out)
		n++
	}
	p.pending = append(p.pending[:0:0], p.pending[n:]...)
	if len(p.pending) == 0 {
		p.pending = nil
		v.npending--
	}
	return out
}

// Tick declares the gaps whose grace the watermark has passed and evicts
// idle producers.
func (v *Verifier) Tick(watermark time.Time, out []Issue) []Issue {
	if v.npending > 0 {
		v.producers.Range(func(name string, p *producer) bool {
			for len(p.pending) > 0 && watermark.After(p.pending[0].ts.Add(v.p.GapGrace)) {
				out = v.declareGap(p, name, out)
			}
			return true
		})
	}
	v.sweep(watermark)
	return out
}

func (v *Verifier) sweep(watermark time.Time) {
	if v.p.IdleAfter <= 0 {
		return
	}
	if v.npending > 0 {
		// Evicted producers take their pending records with them.
		cutoff := watermark.Add(-v.p.IdleAfter).Unix()
		v.producers.RangeSeen(func(_ string, seen int64, p *producer) bool {
			if seen < cutoff && len(p.pending) > 0 {
				p.pending = nil
				v.npending--
			}
			return true
		})
	}
	v.producers.Sweep(watermark)
	v.agents.Sweep(watermark)
}

// Flush declares every outstanding gap (end of a file).
func (v *Verifier) Flush(out []Issue) []Issue {
	if v.npending == 0 {
		return out
	}
	v.producers.Range(func(name string, p *producer) bool {
		for len(p.pending) > 0 {
			out = v.declareGap(p, name, out)
		}
		return true
	})
	return out
}
