// Package egress is the "egress" pattern: a tool call that sends data to a
// destination the fleet has never sent to with that tool — the prompt
// injection that changes only an argument's value (send_money to the
// attacker's account, send_email to the attacker's address, post_webpage
// to the attacker's host), whose shape, size and rate stay normal.
//
// Records carry destinations only as keyed hashes "type:hex"
// (invocation.destinations, invocation.output_destinations; record
// package): the detector never sees, logs or stores a raw address.
//
// # State
//
// Per tool (fleet-wide, all agents) a vocabulary of destinations: an exact
// set of 64-bit hashes of the destination strings (max_destinations; the
// rest counted with HyperLogLog, which makes the tool open), with the
// Good–Turing counts of its destinations (uses N, destinations used once
// n1). Domains (email_domain, domain) that accompany an address or host in
// the same record are learned alongside as a coarser second signal; in a
// record naming only domains, the domains are the destinations. Only
// successful calls teach the vocabulary (a failed or denied call sent
// nothing), but every call is judged.
//
// Per task (context.task_id, else trace_id), bounded and expiring with the
// task (max_tasks, idle task_idle_ttl of event time): hashes of the
// destinations earlier tool outputs of the task mentioned, each with the
// hash of the tool whose output named it first (up to
// max_task_destinations) and whether it read confidential or restricted
// data (context.data_classification of an earlier call). Only records with
// output destinations or such a classification create a task.
//
// # Closed vocabularies
//
// A tool is warm after warmup_calls calls with destinations and warmup_age.
// Its openness is
//
//	o = min(1, max(distinct / open_distinct, (n1/N) / open_new_rate))
//
// (n1/N, the Good–Turing estimate of the chance that the next use is a
// destination never seen). An open tool (o = 1), or one still warming up,
// learns every new destination silently.
//
// # Score (the detect/score probability scale)
//
// A new exact destination at a warm tool that is not open is scored with
// L = −log10 p decades, score = score.FromDecades(L + score.Prior):
//
//	L = min(4, −log10((n1+1)/(N+1)))   the tool's own new-destination rate
//	  + 2.5·min(1, 2(1−o))             closedness
//	  + P  if an earlier tool output of the same task mentioned it
//	  + C  if the task read confidential or restricted data before
//	  + 1  if its domain is new too, 0.5 if the record names no domain,
//	       0 when the domain is known (a new address at a known domain)
//
// With learn_provenance (the default; off, P is a fixed 2 decades) P is
// learned per tool and output tool S (the one whose output named the
// destination first): −log10 of the lower 95 % bound of the Beta posterior of the share of
// the tool's learned new destinations that S's outputs named (prior mean
// 0.01 = 2 decades, worth 30 destinations), at most 4. Only destinations
// learned unflagged count (warm-up included), so a flagged injection never
// teaches that injections are normal; an e-mail assistant that replies to
// senders named by read_inbox learns that this is its job, while an
// address named by a web page, or a payee read from a file at a tool that
// never paid one, keeps its weight. The record cannot tell "the sender of
// a mail the task read" from "an address inside its text", so the output
// tool is the finest provenance there is. A destination no output named is
// judged, consistently, on P(new and unexplained): its history term and
// the openness count only the singletons no output explained
// (destinations learned with provenance are marked), so an assistant that
// replies to many new senders stays closed to addresses from nowhere.
//
// C is 1 decade at a new domain or where the record names none: data
// leaving, after a confidential read, for a party the tool never reached
// is the exfiltration the term is for. At a known domain, with
// learn_provenance, C is learned per tool like P: −log10 of the lower 95 %
// bound of the Beta posterior of the share of the tool's learned new
// destinations at known domains whose task had read such data (prior mean
// 0.1 = 1 decade, worth 30 destinations), at most 1. A support or mail
// tool whose every task reads customer records or a confidential inbox
// learns that the read says nothing about a new customer address.
//
// What it cannot see: the record carries hashes, not text, so an address
// injected into the body of a mail that a mail assistant then answers is,
// to this detector, a reply to a first-time sender (provenance
// read_inbox) at a tool that learned that replies are its job. Such an
// injection is still scored on what does differ: a never-seen domain (+1,
// and the full confidential-read decade), no domain, or a tool whose
// learned new destinations rarely came from that output tool. At a known
// domain (a public mail provider the tool's correspondents use) it scores
// like a reply and is not flagged; nor is the volume sent or a burst of
// new destinations in one task weighed here.
//
// The history term is measured; the others are documented odds bounds
// (priors), tuned on simulator seeds 1–3 only (tools/sim/egresssim). So a
// new payee typed by the user at a closed tool with 2,000 uses scores about
// 33 (silent, learned), the same payee read from a tool output of the task
// 53 (more once the tool has learned that its payees never come from that
// tool's outputs), and after a confidential read 63.
//
// # Triage-gated learning
//
// A new destination whose finding is emitted (score ≥ min_score) is
// flagged: it is NOT learned, and is listed as pending with its first alert
// (Triage). Accept adds it (and its domains) to the vocabulary; Reject keeps
// it out for good and every later use alerts at 10 decades (critical),
// open tool or not (a rejected domain: every address or host at it). Until triaged, each use of a pending destination is
// scored again on its own merits (it alerts again when it comes from a
// task's tool output, say) and counted in its entry, and it is never
// learned, nor is anything else in its record. New
// destinations that did not score are learned as usual. Pending and
// rejected lists are capped (max_pending); triage decisions are part of the
// snapshot, so they survive restarts.
//
// Findings: Detail is the destination hash (one alert per destination),
// Observed/Expected the distinct destinations known including/excluding it,
// Unit "destinations". The hot path (known destinations) hashes each
// destination and probes the set: no allocation, lock or clock.
package egress

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// Pattern is the alert pattern name.
const Pattern = detect.PatternEgress

// Factory registers the detector (detect.Registry).
var Factory = detect.FactoryOf[Config, *Detector]{
	Name: Pattern, Defaults: DefaultConfig,
	Build:     detect.Infallible(New),
	SetParams: (*Detector).SetParams,
}

// Score terms, in decades (see the package doc).
const (
	maxHistoryDecades    = 4
	closedDecades        = 2.5
	provenanceDecades    = 2
	maxProvenanceDecades = 4
	sensitiveDecades     = 1
	newDomainDecades     = 1
	noDomainDecades      = 0.5
	rejectedDecades      = 10

	// The provenance term's Beta prior: mean provPriorMean (2 decades,
	// provenanceDecades) worth provPriorWeight new destinations.
	provPriorMean   = 0.01
	provPriorWeight = 30
	// The confidential-read term's, at a known domain: mean sensPriorMean
	// (1 decade, sensitiveDecades) worth sensPriorWeight destinations.
	sensPriorMean   = 0.1
	sensPriorWeight = 30
	// maxSources caps the output tools counted per tool; a source beyond
	// it keeps the prior's full weight.
	maxSources = 64
)

type tool struct {
	cfg      *Config
	gen      detect.Stamp
	set      hashset.Set
	calls    uint64 // calls with destinations
	uses     uint64 // uses of exact destinations (Good–Turing N)
	exact    uint32 // exact destinations in the set
	n1       uint32 // exact destinations used once
	n1src    uint32 // of them, learned when an output of the task named them
	first    int64  // event time of the first call (unix ns)
	overflow uint64
	over     baseline.HLL // distinct exact destinations that did not fit
	// learned counts the new exact destinations learned unflagged (after
	// successful calls); srcs how many of them an earlier output of the
	// task named, per output tool.
	learned uint64
	srcs    []srcCount
	// atKnown counts the learned new exact destinations at a known domain
	// (n), and of them those whose task had read confidential or
	// restricted data before (k).
	atKnown ctxCount
}

// ctxCount is how many learned new destinations (n) came with a context
// (k).
type ctxCount struct{ n, k uint64 }

// srcCount is how many of a tool's learned destinations came from the
// output of the tool whose name hashes to h.
type srcCount struct{ h, n uint64 }

type task struct {
	outs      []uint64 // hashes of destinations earlier outputs mentioned
	srcs      []uint64 // hash of the tool whose output named outs[i] first
	pos       int      // next slot to overwrite once outs is full
	sensitive bool     // an earlier call read confidential/restricted data
}

// source returns the hash of the tool whose output named h first, and
// whether one did.
func (t *task) source(h uint64) (uint64, bool) {
	if i := slices.Index(t.outs, h); i >= 0 {
		return t.srcs[i], true
	}
	return 0, false
}

type pkey struct {
	tool string
	h    uint64
}

// Statuses of an Entry.
const (
	StatusPending  = "pending"
	StatusRejected = "rejected"
)

// Entry is a flagged destination awaiting triage, or a rejected one, with
// its first alert. It holds only hashes.
type Entry struct {
	Tool        string `json:"tool"`
	Destination string `json:"destination"`
	// Domains are the record's domain hashes of the destination's type,
	// learned with it on Accept.
	Domains     []string  `json:"domains,omitempty"`
	Status      string    `json:"status"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Count       uint64    `json:"count"`
	Score       float64   `json:"score"` // of the first alert
	Fingerprint string    `json:"fingerprint"`
	Agent       string    `json:"agent"`
	TaskID      string    `json:"task_id,omitempty"`
	TraceID     string    `json:"trace_id"`
	SpanID      string    `json:"span_id"`
}

// Detector is the egress detector. Single-goroutine, like the engine: every
// method, triage included, runs on the engine's goroutine.
type Detector struct {
	params   *detect.Params[Config]
	tools    *baseline.Store[string, tool]
	tasks    *baseline.Store[uint64, task]
	pending  map[pkey]*Entry
	rejected map[pkey]*Entry
	unlisted uint64 // flagged destinations not listed: pending full
	gen      detect.Generation
	hs       [record.MaxDestinations]uint64
}

// New returns a detector; per-tool overrides are resolved when a tool is
// first seen.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	d := &Detector{
		params:   p,
		tools:    baseline.NewStore[string, tool](b.KeyCap(), b.IdleTTL),
		tasks:    baseline.NewStore[uint64, task](p.Base.MaxTasks, p.Base.TaskIdleTTL),
		pending:  make(map[pkey]*Entry),
		rejected: make(map[pkey]*Entry),
	}
	d.tasks.SetRecycle(func(t *task) { *t = task{outs: t.outs[:0], srcs: t.srcs[:0]} })
	return d
}

// SetParams swaps the configuration (hot reload); vocabularies, tasks and
// triage lists are kept. p must be validated.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.params = p
	d.gen.Next()
	d.tasks.SetLimits(p.Base.MaxTasks, p.Base.TaskIdleTTL)
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return Pattern }

// KeyStats implements detect.Stats: tools and tasks.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) {
	i1, c1 := d.tools.Evictions()
	i2, c2 := d.tasks.Evictions()
	return d.tools.Len() + d.tasks.Len(), i1 + i2, c1 + c2
}

func sensitive(r *record.Record) bool {
	c := r.Context.DataClassification
	return c == "confidential" || c == "restricted"
}

func taskKey(r *record.Record) uint64 {
	id := r.Context.TaskID
	if id == "" {
		id = r.TraceID
	}
	return baseline.Hash64(id)
}

func hash(s string) uint64 {
	if h := baseline.Hash64(s); h != 0 {
		return h
	}
	return 1
}

// Observe implements detect.Detector: judges the record's destinations
// against its tool's vocabulary and its task's provenance, then adds its
// output destinations and classification to the task.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	in := &r.Invocation
	sens := sensitive(r)
	if len(in.Destinations) == 0 && len(in.OutputDestinations) == 0 && !sens {
		return out
	}
	if len(in.Destinations) > 0 {
		out = d.judge(r, out)
	}
	if len(in.OutputDestinations) > 0 || sens {
		d.remember(r, sens)
	}
	return out
}

func (d *Detector) remember(r *record.Record, sens bool) {
	t, _ := d.tasks.Get(taskKey(r), r.Timestamp, nil)
	if t == nil {
		return
	}
	t.sensitive = t.sensitive || sens
	limit := d.params.Base.MaxTaskDestinations
	var src uint64
	for _, s := range r.Invocation.OutputDestinations {
		h := hash(s)
		if slices.Contains(t.outs, h) {
			continue
		}
		if src == 0 {
			src = hash(r.Tool.Name)
		}
		if len(t.outs) < limit {
			t.outs = append(t.outs, h)
			t.srcs = append(t.srcs, src)
			continue
		}
		t.pos %= len(t.outs)
		t.outs[t.pos], t.srcs[t.pos] = h, src
		t.pos++
	}
}

func (d *Detector) judge(r *record.Record, out []detect.Finding) []detect.Finding {
	name := r.Tool.Name
	t, created := d.tools.Get(name, r.Timestamp, nil)
	if t == nil {
		return out
	}
	ts := r.Timestamp.UnixNano()
	if created {
		t.cfg, t.gen, t.first = d.params.For("", name), d.gen.Stamp(), ts
	} else if !d.gen.Current(t.gen) {
		t.cfg, t.gen = d.params.For("", name), d.gen.Stamp()
	}
	if !t.cfg.Enabled {
		return out
	}
	t.calls++
	dests := r.Invocation.Destinations
	if len(dests) > record.MaxDestinations {
		// Only records built in-process can have more (the decoder
		// rejects them); judge the first MaxDestinations.
		dests = dests[:record.MaxDestinations]
	}
	hs := d.hs[:len(dests)]
	// A domain is the companion of an address or host in the same record;
	// in a record naming only domains, they are the destinations.
	hasExact := false
	for _, s := range dests {
		if !record.CoarseDestination(record.DestinationType(s)) {
			hasExact = true
			break
		}
	}
	var fresh uint64 // bit i: dests[i] is not in the vocabulary
	for i, s := range dests {
		hs[i] = hash(s)
		primary := !hasExact || !record.CoarseDestination(record.DestinationType(s))
		if primary {
			t.uses++
		}
		sl := t.set.Find(hs[i])
		if sl == nil {
			fresh |= 1 << i
			continue
		}
		if primary && sl.Flags&(flagRepeat|flagCoarse) == 0 {
			sl.Flags |= flagRepeat
			t.n1--
			if sl.Flags&flagSourced != 0 {
				t.n1src--
			}
		}
	}
	if fresh == 0 {
		return out
	}
	return d.novel(t, r, hs, fresh, hasExact, out)
}

// novel scores the record's destinations that are not in the vocabulary
// and learns them unless one of them is flagged.
func (d *Detector) novel(t *tool, r *record.Record, hs []uint64, fresh uint64, hasExact bool, out []detect.Finding) []detect.Finding {
	cfg := t.cfg
	dests := r.Invocation.Destinations[:len(hs)]
	ts := r.Timestamp.UnixNano()
	warm := t.calls > uint64(cfg.WarmupCalls) && ts-t.first >= int64(cfg.WarmupAge)
	o, rate := t.openness()
	var tk *task
	looked := false
	hold := false // something in the record is flagged: learn nothing
	for i, s := range dests {
		if fresh&(1<<i) == 0 {
			continue
		}
		typ := record.DestinationType(s)
		k := pkey{r.Tool.Name, hs[i]}
		if e := d.rejected[k]; e != nil { // a rejected domain too
			hold = true
			e.Count++
			e.LastSeen = r.Timestamp
			out = append(out, d.finding(t, r, s, rejectedDecades, o, rate, provenance{}, StatusRejected))
			continue
		}
		if record.CoarseDestination(typ) && hasExact {
			continue // judged with its address or host
		}
		e := d.pending[k]
		if e != nil {
			hold = true
			e.Count++
			e.LastSeen = r.Timestamp
		}
		oi := o
		if !warm || o >= 1 {
			if e == nil {
				continue
			}
			oi = math.Min(o, 0.999) // flagged before: judged as at a closed tool
		}
		if !looked {
			tk, looked = d.tasks.Peek(taskKey(r)), true
		}
		pv := provenanceOf(t, dests, hs, i, typ, tk)
		l := d.decades(t, pv, oi)
		f := d.finding(t, r, s, l, oi, rate, pv, StatusPending)
		if f.Score < cfg.MinScore {
			continue
		}
		hold = true
		if pv.domainIdx != 0 {
			f.Details["domains"] = pick(dests, pv.domainIdx)
		}
		if e == nil {
			d.addPending(k, r, &f, pick(dests, pv.domainIdx))
		}
		out = append(out, f)
	}
	if hold || r.Invocation.Status != record.StatusSuccess {
		return out // a failed or denied call sent nothing: teaches nothing
	}
	if !looked {
		tk = d.tasks.Peek(taskKey(r))
	}
	for i, s := range dests {
		if fresh&(1<<i) == 0 {
			continue
		}
		coarse := hasExact && record.CoarseDestination(record.DestinationType(s))
		if !t.learn(hs[i], coarse) || coarse {
			continue
		}
		if knownDomain(dests, fresh, record.DestinationType(s)) {
			t.atKnown.n++
			if tk != nil && tk.sensitive {
				t.atKnown.k++
			}
		}
		if t.countSource(tk, hs[i]) {
			if sl := t.set.Find(hs[i]); sl != nil {
				sl.Flags |= flagSourced
				t.n1src++
			}
		}
	}
	return out
}

// knownDomain reports whether the record names a domain of an exact
// destination of type typ and all such domains were known before it
// (fresh: the record's destinations not in the vocabulary).
func knownDomain(dests []string, fresh uint64, typ string) bool {
	want, known := domainType(typ), false
	for j, s := range dests {
		if want == "" || record.DestinationType(s) != want {
			continue
		}
		if fresh&(1<<j) != 0 {
			return false
		}
		known = true
	}
	return known
}

// countSource counts a learned (unflagged) new destination h for the
// provenance estimate: whether, and which tool's, earlier output of its
// task named it.
// It reports whether an output named it.
func (t *tool) countSource(tk *task, h uint64) bool {
	t.learned++
	if tk == nil {
		return false
	}
	src, ok := tk.source(h)
	if !ok {
		return false
	}
	for i := range t.srcs {
		if t.srcs[i].h == src {
			t.srcs[i].n++
			return true
		}
	}
	if len(t.srcs) < maxSources {
		t.srcs = append(t.srcs, srcCount{src, 1})
	}
	return true
}

// provenanceWeight is the provenance term in decades for a destination an
// output of tool src named: −log10 of the Beta-smoothed share of the
// tool's learned new destinations that came from src's outputs, at most
// provenanceDecades. A reply to whoever wrote is ordinary for a mail tool
// that always does so, and still evidence for one that never does.
func (t *tool) provenanceWeight(src uint64) float64 {
	if !t.cfg.LearnProvenance {
		return provenanceDecades
	}
	var k uint64
	for _, s := range t.srcs {
		if s.h == src {
			k = s.n
			break
		}
	}
	return betaDecades(k, t.learned, provPriorMean, provPriorWeight, maxProvenanceDecades)
}

// sensitiveWeight is the confidential-read term in decades. At a known
// domain it is learned like provenance: −log10 of the Beta-smoothed share
// of the tool's learned new destinations at known domains whose task had
// read confidential or restricted data, at most sensitiveDecades: a
// support mailbox whose every task reads customer records learns that a
// new customer address after such a read is its job. A never-seen domain
// (or none named) after a confidential read keeps the fixed decade: data
// leaving for a party the tool never reached is the exfiltration the term
// is there for.
func (t *tool) sensitiveWeight(pv provenance) float64 {
	if !t.cfg.LearnProvenance || !pv.hasDomain || pv.newDomain {
		return sensitiveDecades
	}
	return betaDecades(t.atKnown.k, t.atKnown.n, sensPriorMean, sensPriorWeight, sensitiveDecades)
}

// betaDecades is −log10 of the Beta posterior mean of the share k of n
// (prior mean m worth w destinations), at most max. Above the prior's
// mean, its lower 95 % bound (normal approximation): a term is discounted
// only as far as the counts surely allow.
func betaDecades(k, n uint64, m, w, max float64) float64 {
	a := float64(k) + m*w
	nn := float64(n) + w
	p := a / nn
	if p > m {
		p = math.Max(m, p-1.645*math.Sqrt(p*(1-p)/(nn+1)))
	}
	return math.Min(max, -math.Log10(p))
}

// provenance is what a new destination's record and task say about it.
type provenance struct {
	fromOutput, sensitive bool
	src                   uint64 // hash of the output's tool (fromOutput)
	hasDomain, newDomain  bool
	domainIdx             uint64 // bit i: dests[i] is a domain of the destination's type
}

func provenanceOf(t *tool, dests []string, hs []uint64, i int, typ string, tk *task) provenance {
	var pv provenance
	if tk != nil {
		pv.src, pv.fromOutput = tk.source(hs[i])
		pv.sensitive = tk.sensitive
	}
	want := domainType(typ)
	for j, s := range dests {
		if want == "" || record.DestinationType(s) != want {
			continue
		}
		pv.hasDomain = true
		pv.domainIdx |= 1 << j
		if t.set.Find(hs[j]) == nil {
			pv.newDomain = true
		}
	}
	return pv
}

// domainType is the coarse companion type of an exact destination type.
func domainType(typ string) string {
	switch typ {
	case "email":
		return "email_domain"
	case "host":
		return "domain"
	}
	return ""
}

func (d *Detector) decades(t *tool, pv provenance, o float64) float64 {
	// P(new, named by S) = P(new)·P(S | new); P(new, unexplained) counts
	// only the singletons no output explained.
	n1 := t.n1
	if !pv.fromOutput {
		n1 = t.singletons()
	}
	l := math.Min(maxHistoryDecades, -math.Log10((float64(n1)+1)/(float64(t.uses)+1)))
	l += closedDecades * math.Min(1, 2*(1-o))
	if pv.fromOutput {
		l += t.provenanceWeight(pv.src)
	}
	if pv.sensitive {
		l += t.sensitiveWeight(pv)
	}
	switch {
	case !pv.hasDomain:
		l += noDomainDecades
	case pv.newDomain:
		l += newDomainDecades
	}
	return l
}

// learn adds h to the vocabulary; it reports whether h was new.
func (t *tool) learn(h uint64, coarse bool) bool {
	if t.set.Find(h) != nil {
		return false
	}
	if coarse {
		if t.set.Len() < t.cfg.MaxDestinations*2 { // domains share the table
			t.set.Insert(h).Flags = flagCoarse
		}
		return true
	}
	if int(t.exact) >= t.cfg.MaxDestinations {
		t.overflow++
		t.over.InsertHash(h)
		return true
	}
	t.set.Insert(h)
	t.exact++
	t.n1++
	return true
}

// singletons is the Good–Turing n1; with learn_provenance, without the
// destinations an output of their task named (explained by the provenance
// term, they say nothing about how closed the vocabulary is otherwise).
func (t *tool) singletons() uint32 {
	if t.cfg.LearnProvenance {
		return t.n1 - t.n1src
	}
	return t.n1
}

// openness returns o and the Good–Turing new rate n1/N (package doc).
func (t *tool) openness() (o, rate float64) {
	if t.uses > 0 {
		rate = float64(t.singletons()) / float64(t.uses)
	}
	distinct := float64(t.exact) + float64(t.over.Estimate())
	if t.overflow > 0 {
		return 1, rate
	}
	o = math.Max(distinct/float64(t.cfg.OpenDistinct), rate/t.cfg.OpenNewRate)
	return math.Min(1, o), rate
}

func (d *Detector) addPending(k pkey, r *record.Record, f *detect.Finding, domains []string) {
	if len(d.pending) >= d.params.Base.MaxPending {
		d.unlisted++
		return
	}
	d.pending[k] = &Entry{
		Tool: strings.Clone(k.tool), Destination: strings.Clone(f.Detail), Domains: domains,
		Status: StatusPending, FirstSeen: r.Timestamp, LastSeen: r.Timestamp, Count: 1, Score: f.Score,
		Fingerprint: alert.Fingerprint(f), Agent: strings.Clone(r.AgentID),
		TaskID: strings.Clone(r.Context.TaskID), TraceID: strings.Clone(r.TraceID), SpanID: strings.Clone(r.SpanID),
	}
}

func (d *Detector) finding(t *tool, r *record.Record, dest string, l, o, rate float64, pv provenance, status string) detect.Finding {
	sc := score.FromDecades(l + score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment))
	sc = math.Round(sc*10) / 10
	known := t.known()
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = Pattern
	f.Detail = dest
	f.Score = sc
	f.Unit = "destinations"
	f.Observed, f.Expected = float64(known+1), float64(known)
	f.Summary = summary(r.Tool.Name, dest, known, o, pv, status)
	f.Details = map[string]any{
		"destination":           dest,
		"status":                status,
		"from_task_output":      pv.fromOutput,
		"sensitive_read_before": pv.sensitive,
		"domain_known":          pv.hasDomain && !pv.newDomain,
		"openness":              round3(o),
		"new_rate":              round3(rate),
		"known_destinations":    known,
		"calls":                 t.calls,
		"log10_p":               round3(-l),
	}
	if pv.fromOutput && t.cfg.LearnProvenance {
		f.Details["provenance_decades"] = round3(t.provenanceWeight(pv.src))
	}
	if pv.sensitive {
		f.Details["sensitive_decades"] = round3(t.sensitiveWeight(pv))
	}
	return f
}

// pick copies the destinations whose bit is set in mask (nil for none).
func pick(dests []string, mask uint64) []string {
	var ds []string
	for j, s := range dests {
		if mask&(1<<j) != 0 {
			ds = append(ds, strings.Clone(s))
		}
	}
	return ds
}

func summary(toolName, dest string, known uint64, o float64, pv provenance, status string) string {
	var b strings.Builder
	if status == StatusRejected {
		fmt.Fprintf(&b, "%s sent to %s, a destination rejected in triage", toolName, dest)
		return b.String()
	}
	fmt.Fprintf(&b, "%s sent to %s, a destination it never used (%d known", toolName, dest, known)
	if o <= 0.5 {
		b.WriteString(", a closed vocabulary")
	}
	b.WriteString(")")
	switch {
	case pv.hasDomain && !pv.newDomain:
		b.WriteString(" at a known domain")
	case pv.newDomain:
		b.WriteString(" at a new domain")
	}
	if pv.fromOutput {
		b.WriteString("; an earlier tool output of the same task mentioned it")
	}
	if pv.sensitive {
		b.WriteString("; the task read confidential or restricted data before")
	}
	return b.String()
}

func (t *tool) known() uint64 { return uint64(t.exact) + t.over.Estimate() }

// Tick implements detect.Detector: refreshes configs and HyperLogLog
// estimates and evicts idle tools and tasks. It emits nothing.
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	d.tools.Range(func(name string, t *tool) bool {
		if !d.gen.Current(t.gen) {
			t.cfg, t.gen = d.params.For("", name), d.gen.Stamp()
		}
		t.over.Refresh()
		return true
	})
	d.tools.Sweep(watermark)
	d.tasks.Sweep(watermark)
	return out
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// Triage lists the pending destinations, then the rejected ones, each by
// first seen. Engine goroutine only.
func (d *Detector) Triage() []Entry {
	out := make([]Entry, 0, len(d.pending)+len(d.rejected))
	for _, m := range []map[pkey]*Entry{d.pending, d.rejected} {
		n := len(out)
		for _, e := range m {
			c := *e
			c.Domains = slices.Clone(e.Domains)
			out = append(out, c)
		}
		slices.SortFunc(out[n:], func(a, b Entry) int {
			return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Tool, b.Tool), cmp.Compare(a.Destination, b.Destination))
		})
	}
	return out
}

// Unlisted is the number of flagged destinations not listed because the
// pending list was full.
func (d *Detector) Unlisted() uint64 { return d.unlisted }

// Accept confirms dest at tool: it joins the tool's vocabulary (with the
// domains recorded with its first alert) and leaves the pending and
// rejected lists. Accepting a destination never flagged pre-approves it.
// Engine goroutine only.
func (d *Detector) Accept(toolName, dest string) error {
	if err := checkArgs(toolName, dest); err != nil {
		return err
	}
	k := pkey{toolName, hash(dest)}
	e := d.pending[k]
	if e == nil {
		e = d.rejected[k]
	}
	t := d.tools.Peek(toolName)
	if t == nil {
		if e == nil {
			return fmt.Errorf("tool %q has no vocabulary", toolName)
		}
		t, _ = d.tools.Get(toolName, e.LastSeen, nil)
		if t == nil {
			return fmt.Errorf("tool %q: no room", toolName)
		}
		t.cfg, t.gen, t.first = d.params.For("", toolName), d.gen.Stamp(), e.FirstSeen.UnixNano()
	}
	t.learn(k.h, false) // accepted as a destination in its own right
	if e != nil {
		for _, dom := range e.Domains {
			t.learn(hash(dom), true)
		}
	}
	delete(d.pending, k)
	delete(d.rejected, k)
	return nil
}

// Reject marks dest at tool as not to be learned: it leaves the pending
// list (or the vocabulary, when it was learned before) and every later use
// alerts. Engine goroutine only.
func (d *Detector) Reject(toolName, dest string) error {
	if err := checkArgs(toolName, dest); err != nil {
		return err
	}
	k := pkey{toolName, hash(dest)}
	if d.rejected[k] != nil {
		return nil
	}
	e := d.pending[k]
	if e == nil {
		if len(d.rejected) >= d.params.Base.MaxPending {
			return fmt.Errorf("the rejected list is full (max_pending %d)", d.params.Base.MaxPending)
		}
		e = &Entry{Tool: toolName, Destination: dest}
	}
	if t := d.tools.Peek(toolName); t != nil {
		t.remove(k.h)
	}
	delete(d.pending, k)
	e.Status = StatusRejected
	d.rejected[k] = e
	return nil
}

func checkArgs(toolName, dest string) error {
	switch {
	case toolName == "":
		return fmt.Errorf("tool is required")
	case !record.ValidDestination(dest):
		return fmt.Errorf("destination must be a \"type:hex\" destination hash")
	}
	return nil
}

// remove drops h from the vocabulary (rare: a rejected destination or
// domain that was learned before), rebuilding the set.
func (t *tool) remove(h uint64) {
	sl := t.set.Find(h)
	if sl == nil {
		return
	}
	if sl.Flags&flagCoarse == 0 {
		if sl.Flags&flagRepeat == 0 {
			t.n1--
			if sl.Flags&flagSourced != 0 {
				t.n1src--
			}
		}
		t.exact--
	}
	t.set.Delete(h)
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stats    = (*Detector)(nil)
)
