// Package inputs is pattern 2, "input_novelty": a tool receiving an input
// shape (invocation.input_shape, see package shape) it has never received
// before — a DB-query tool getting SQL-injection patterns, a text tool
// getting binary data, a fixed-schema tool getting a new JSON structure.
//
// # State
//
// Per tool (not per agent) the detector keeps the tool's vocabulary of
// shapes: an exact set of 64-bit hashes of the shape strings, capped at
// max_shapes; shapes that do not fit are counted as overflow and their
// distinct number estimated with HyperLogLog (all-time and per
// distinct_window). Records without input_shape are skipped (counted). A
// shape the tool already knows is never an alert, even from an agent that
// never sent it before: agents share a tool's input contract.
//
// A tool is warm once it has had warmup_records records with a shape and
// warmup_age of event time has passed since its first one. Before that, new
// shapes are learned silently (except sql-injection, below).
//
// # Open and closed vocabularies
//
// Search or free-text tools keep producing new shapes; they must not alert
// on each. Openness o in [0,1] is
//
//	rate = shapes first seen among the tool's last novelty_window_records
//	       records, per 1000 records (this record's shape and dangerous
//	       shapes excluded: they alert on their own)
//	used = distinct shapes in use in the current or previous distinct_window
//	       (exact for known shapes, plus the HyperLogLog estimate of overflow)
//	o    = min(1, max(rate / open_new_per_1000, used / open_distinct))
//
// The vocabulary is open when o = 1 and closed when o <= 0.5. Stability q in
// [0,1] is the event time since the tool's last new (non-dangerous) shape, or
// since its first record, divided by stable_after (capped at 1).
//
// # Score (the detect/score probability scale)
//
// A first-seen shape is scored by how improbable a new shape is at this
// tool, L = −log10 p, score = score.FromDecades(L + risk prior):
//
//	L = −log10((n1 + 1) / (N + 1))      Good–Turing: the chance that the
//	                                    next record brings an unseen shape,
//	                                    n1 = shapes seen exactly once,
//	                                    N = records with a shape
//	  + max(closedness, class prior)
//	closedness  = 5·(0.5 + 0.5q)·min(1, 2(1−o)) decades (a closed, stable
//	              vocabulary; 0 when open)
//	class prior = sql-injection 10, binary at a tool whose known shapes are
//	              all text 8, other binary 4, anything else 0 decades
//
// The class and closedness terms are documented odds bounds (priors on how
// rarely such a shape appears in benign traffic), not measured rates; the
// Good–Turing term is the tool's own measured novelty. So a new plain shape
// at a closed, stable tool with 1,000 records scores about 60 and rises a
// decade (10 points) per tenfold history, a tool that keeps producing
// singletons scores near 0, and sql-injection is critical (>= 80) anywhere.
// The record's risk prior (score.Prior) is added on top.
//
// # Rejected calls
//
// A first-seen plain shape (no class prior) whose call failed (status
// "error": the tool rejected or could not process the input, so nothing it
// exists to do happened) is weaker evidence than one that executed: the
// usual benign cause is an agent misnaming an argument (customer_id →
// customerId), which the tool's schema rejects and the agent corrects on
// the next call. Its novelty L is lowered by rejectedDecades (5, a
// documented odds bound, not a measured rate): a new shape rejected at a
// closed, stable tool with 10^5 records scores about 40 instead of 90, at
// younger tools nothing. Such a shape is not learned either: the vocabulary
// is what the tool accepted, so the same shape executing later is still
// judged at full weight. Dangerous classes (sql-injection, binary) keep
// their class prior and are scored and learned as before whatever the
// status: an injection often fails with an SQL error.
//
// # Recombined fields
//
// Agents add and omit optional arguments all the time, so an open-ended
// tool (a search tool) keeps receiving JSON shapes that are only new
// combinations of fields it already gets. Each tool also keeps the set of
// (field path, type) pairs of its accepted shapes (fields.go: "query:str",
// "filter.id:num"; the type includes the content class, so str and
// str/sql differ), at most max_shapes pairs. A first-seen JSON object
// shape whose every pair is known is a recombination: its novelty L is
// lowered by recombinationDecades (3, a documented odds bound like
// rejectedDecades, not a measured rate) and the finding carries
// details.recombination true. A new shape at a half-open search tool
// (o ≈ 0.6) that scored about 52 scores about 22 (silent); at a closed,
// stable tool with 20,000 records a recombination still scores about 43
// (info) against 73. A shape with a new field, a field of a new type or
// class, a truncated ("...") or non-object shape, and dangerous shapes
// (sql-injection, binary) are judged as before. Pairs join only with a
// shape the tool accepts into its vocabulary: not from rejected,
// quarantined or dangerous shapes, and an opening drops the pairs first
// learned in its window (they may be the flood's). A recombination still
// counts as a new shape for openness, stability and openings, so a flood
// of recombinations is a vocabulary_opening as before.
//
// # Extensions (a tool release's new arguments)
//
// Tool releases add optional arguments, one or two at a time, and the
// first call that uses one is a first-seen shape at a closed, stable tool:
// it scored 63–78 (warning) on the fleet traffic (tools/sim/fleet), the
// only warning+ input_novelty false alerts there: 4 per seed-week, one per
// tool that got an argument. A first-seen shape is an extension when it
// is an accepted shape of the tool plus one or two new top-level fields
// (fields.go): the shape without them is in the vocabulary (not
// quarantined, not sql-injection), the shape itself was not quarantined
// by a flood, no new key has another type among the tool's pairs (str,
// num, bool, null, obj, arr[], arr[str|num|bool|obj] and the str content
// classes are probed), each
// value is plain — str without content class, num, bool, null, or an
// object of such values — and no key of it names a destination or code:
// the argument keys of the shape/dest built-ins (to, cc, bcc,
// recipients, webhook_url, ...), the keys to, cc, bcc, uri, cmd, code,
// eval, query, and keys containing mail, url, webhook, callback,
// endpoint, host, recipient, forward, redirect, upload, export, dest,
// exec, command, script, shell or sql. Its novelty L is lowered by
// extensionDecades (2, details.extension true): such a shape at a closed,
// stable tool with 2,000–50,000 records scores 43–58 (info) instead of
// 63–78, still emitted, while three or more new fields, a risky one
// among two, a new type or content class on a known key (query:str becoming query:str/sql), URL, path,
// long, base64 or binary values, and a cc, bcc or webhook_url added to
// send_email are judged as before. The 2 decades are a documented odds
// bound, chosen between "no discount" and recombinationDecades (a shape
// with no new pair is weaker evidence than one with a new field): of the
// first-seen plain shapes that alerted at warning or above on fleet
// seeds 1–6, all 24 were such extensions and none was an anomaly; the
// labeled non-dangerous shape anomalies (tools/sim's realistic
// export_all + fields:str, two new fields at once, one named for an
// export and one a new type on a known key) are not extensions. A field
// of a release still held (below) counts as one of the two: a release's
// second field often first shows in a later shape, next to the first
// (json{customer_id,history_days,include_history} while only
// json{customer_id,fields,include_history} is known). Once the first
// call is accepted the shape and its pairs are the tool's: other agents
// using the argument, alone or with the tool's other optional ones, send
// known shapes or recombinations and raise nothing. The record's
// tool.version is not used: on the fleet traffic arguments appear
// without a version change, and a version change with a new argument is
// also what a rug-pulled tool server looks like.
//
// # Releases held
//
// A release reaches the tool's agents and tasks over minutes to hours
// (instances pick up the new client at their own times, and a rarely
// used optional argument shows late, at night later still); an injected
// argument comes from one task of one agent. So an extension finding that
// scores info (below the warning band, 60) and whose call executed is
// held for extension_hold (default 3h) of event time (hold.go) instead of
// emitted: the shape and its pairs are learned at once as above. If
// within the hold a new field (one of its top-level pairs) is sent by
// rolloutOthers (2) distinct other (agent, task) pairs — in the held
// shape or in any shape first seen during the hold that carries it — it
// is a rollout: the finding is dropped. One other user by the hold's end
// is a rollout still reaching the callers: the hold goes on, up to
// holdSpan (2) × extension_hold in all (6h), and a second user within it
// drops the finding. Otherwise Tick emits it once the watermark is past
// the end of the hold (or of the longer one), with its original event
// time, identity and details plus details.held_for ("3h0m0s", or
// "6h0m0s" after the longer hold). On the fleet traffic (seeds 1–6) the
// second other user of a release's field came 16 minutes to 2h52m after
// its first use; at 10m every one of the 18 holds was emitted. Uses
// stamped after a hold's end do not count (nor after the longer one's),
// so the tick cadence never changes what is emitted. Warning+ extensions (a young or
// risky context), destination and code keys, and everything that is not
// an extension are emitted at once, never held. At most maxHeld (64)
// findings are held, all tools together; at the cap an extension finding
// is emitted at once (a bound never loses an alert); each hold keeps at
// most 8 shapes carrying its fields. Held findings are in the snapshot.
// The known-shape path costs one counter check at a tool with nothing
// held, and a time and hash compare per held finding at a tool with some
// (BenchmarkObserveKnownShapeHeld).
//
// Findings scoring below min_score (default 40, the info band) are not
// emitted. With always_alert_injection (default on) a record whose shape is
// sql-injection raises a finding every time, also during warm-up and when
// the shape is already known; the alert manager folds the repeats.
//
// # Long-term reference and openings (poisoning resistance)
//
// A flood of harmless new shapes (an attacker, a poisoned client) would
// make any vocabulary open, after which new shapes score near 0, and would
// become "known". So each tool also keeps a long-term reference:
//
//   - Shapes: a shape joins it once used in reference_min_windows (2)
//     distinct distinct_windows, never during an opening (below), at most
//     reference_max_shapes. It is a flag on the vocabulary's own slot (the
//     count of windows sits in the slot's flags too), so it costs no
//     memory and no work per record: the count moves on a shape's first
//     use in a window. Reference shapes are never aged out or displaced.
//   - Openness: at the end of each distinct window in which the tool was
//     warm, the window's o (the formula above with the novelty rate over
//     the whole window, per max(records, novelty_window_records)) moves
//     the reference openness by 1/reference_windows (the first such window
//     sets it). A window of an opening is left out unless new shapes in it
//     came from more than one agent: a fleet opening is the tool's nature
//     (a search tool is open in its reference from its first window), a
//     single agent's is not. The window's end also records the tool's
//     records, singletons and last new shape, which the reference judges
//     with.
//
// An opening starts when a warm tool whose reference is closed (openness
// <= 0.5) gets opening_new_shapes (16) first-seen shapes among its last
// novelty_window_records records (a fast flood) or in its current
// distinct window (a slow one). It raises one finding, Detail and
// details.kind "vocabulary_opening", naming the agent of the shape that
// tipped it, scored as a new plain shape judged against the reference
// (below) but at least min_score (it stands for the shapes it quarantines,
// so it is never dropped: at a young reference one new shape may score
// below it), with the novelty rate, new shapes, shapes in use and the
// reference's size and openness in details. Its first shapes (this
// window's singletons outside the reference) and the later new shapes of
// the opening's agents are quarantined: kept in the vocabulary flagged,
// not counted as singletons nor as the last new shape, not scored one by
// one (the opening finding stands for them) — as long as they keep
// flooding, i.e. one of them brings a new or quarantined shape at least
// once per novelty_window_records records; after a pause their next new
// shape (the real one after a flood) is judged like anyone's. The agent
// that tipped the opening is its first agent; another agent whose new
// shape comes while the flood still runs at the opening's rate is judged
// once and then joins (up to 8 agents), so a poisoned client on several
// agents costs one finding per agent, not one per shape. Until the vocabulary's
// o falls below 1 again (or the reference itself turns open), every
// judged first-seen shape is judged against the reference: its openness,
// stability since its last new shape and Good–Turing counters
// (details.judged_by "reference"). Right after a two-hour flood of 5,000
// shapes, a new shape at a closed tool with a day of history (4,320 calls)
// scores 66.4 where the flooded vocabulary alone gives 19.9 (the numbers
// of TestFloodOpensVocabularyReferenceHolds). A quarantined shape is
// judged as first-seen when another agent, or its agent after a pause,
// uses it, and then learned normally; quarantined shapes unused for a
// whole distinct window age out of the vocabulary.
//
// # Finding
//
// Detail is the shape (truncated to max_detail_bytes), so each new shape of a
// tool is its own alert. Observed is the number of distinct shapes the tool
// knows including this one, Expected the number it knew before, Unit
// "shapes". Details carry kind "shape", the shape, class, openness,
// stability, novelty rate, counts and the reference's size. A
// vocabulary_opening finding has Observed the shapes in use and Expected
// the reference's size.
//
// The hot path (a known shape) hashes the shape string and probes the set:
// no allocation, no lock, no clock. HyperLogLog estimates are refreshed only
// on Tick. A window's end rebuilds the set once when it holds quarantined
// shapes to age out.
//
// Hot reload (SetParams) keeps every tool's vocabulary; snapshots
// (MarshalState/UnmarshalState, state.go) hold every tool's shapes,
// counters, novelty ring, windows, sketches, reference, opening and field
// pairs. A known shape's path is unchanged; a new shape's fields are
// walked (no allocation) to learn its pairs, until the tool holds
// max_shapes of them, and to check for a recombination only when it would
// otherwise be emitted.
package inputs

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape"
)

// Kind bits of the shapes a tool knows.
const (
	kindJSON uint8 = 1 << iota
	kindText
	kindBinary
	kindBase64
	kindEmpty
	kindOther
)

var kindNames = []struct {
	bit  uint8
	name string
}{{kindJSON, "json"}, {kindText, "text"}, {kindBinary, "binary"}, {kindBase64, "base64"}, {kindEmpty, "empty"}, {kindOther, "other"}}

func kindBit(s string) uint8 {
	switch shape.Kind(s) {
	case "json":
		return kindJSON
	case "text":
		return kindText
	case shape.Binary:
		return kindBinary
	case shape.Base64:
		return kindBase64
	case shape.Empty:
		return kindEmpty
	}
	return kindOther
}

// tool is the per-tool state.
type tool struct {
	cfg     *Config
	gen     detect.Stamp // generation cfg was resolved under
	set     hashset.Set
	records uint64 // records with a shape
	first   int64  // event time (unix ns) of the first record
	lastNew int64  // event time of the last first-seen shape
	kinds   uint8  // kinds of the known shapes
	n1      uint32 // known shapes seen exactly once (Good–Turing)

	// Record numbers (1-based) of the last ringSize first-seen shapes.
	recent    [ringSize]uint64
	recentPos int

	// Distinct shapes in use per DistinctWindow.
	windowEnd    int64  // end of the current window (unix ns)
	window       uint32 // index of the current window, from 1
	curExact     uint32 // known shapes counted in the current window
	prevDistinct uint64 // distinct shapes in use in the previous window

	// Overflow: shapes that did not fit in the set.
	overflow uint64
	overAll  baseline.HLL // distinct overflow shapes, all time
	overCur  baseline.HLL // distinct overflow shapes, current window

	// Long-term reference: the shapes flagged flagRef in set, its openness
	// (a moving average over clean windows) and the counters as of the end
	// of the last clean window, which a shape is judged by during an
	// opening.
	// (Ordered to pack: 72 bytes.)
	refLen     uint32
	refWindows uint32 // clean windows folded into refOpen (0: no reference yet)
	refOpen    float64
	refRecords uint64
	refLastNew int64
	refN1      uint32

	// The current window, for the reference.
	winNew   uint32 // first-seen plain shapes while warm
	winStart uint64 // records before the window's first
	winAgent uint64 // hash of the first agent that brought one

	// Opening: nil when none is under way; floodShapes counts the shapes
	// flagged flagFlood.
	flood       *flooders
	floodShapes uint32
	winBits     uint8 // winMulti, winOpening

	// fields: the (field path, type) pairs of the accepted shapes
	// (fields.go); Window is the distinct window a pair was first learned in.
	fields hashset.Set

	// held counts the Detector's held findings of this tool (hold.go), so
	// that other tools' records skip the holds; derived, not in snapshots.
	held uint16
}

// maxFlooders bounds the agents an opening quarantines.
const maxFlooders = 8

// flooders is an opening under way (allocated when one starts: rare).
type flooders struct {
	// Hashes of the agents whose new shapes are quarantined: agents[0]
	// opened it, the others joined while the flood ran at full rate.
	agents [maxFlooders]uint64
	n      int
	last   uint64 // record number of their last new or quarantined shape
}

func (f *flooders) has(ah uint64) bool {
	for _, a := range f.agents[:f.n] {
		if a == ah {
			return true
		}
	}
	return false
}

// Bits of tool.winBits.
const (
	winMulti   uint8 = 1 << iota // a second agent brought a first-seen shape this window
	winOpening                   // an opening was under way during this window
)

// Detector is the input_novelty detector. Single-goroutine, like the engine.
type Detector struct {
	params  *detect.Params[Config]
	store   *baseline.Store[baseline.Key, tool]
	skipped uint64
	overflo uint64
	// gen is next on SetParams; a tool whose stamp is not current
	// re-resolves its config on its next record or Tick.
	gen detect.Generation
	// shared: the consumer group's other partitions' shapes per tool
	// (share.go); nil in a single daemon.
	shared map[string]*hashset.Set
	// held: info extension findings waiting out extension_hold (hold.go),
	// in the order they were held; rollouts counts those dropped.
	held     []hold
	rollouts uint64
}

// New returns a detector; per-tool overrides are resolved when a tool is
// first seen.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	return &Detector{params: p, store: baseline.NewStore[baseline.Key, tool](b.KeyCap(), b.IdleTTL)}
}

// SetParams swaps the configuration (hot reload); p must be validated and
// is not modified afterwards. Every tool keeps its vocabulary, counters,
// novelty ring, distinct windows and sketches, and picks up its (possibly
// new) config on its next record or Tick. Nothing is reset: a changed
// distinct_window applies from the current window's end; a lowered
// max_shapes keeps the known shapes and only sends new ones to overflow;
// warm-up is re-judged against the new warmup_records/warmup_age.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.params = p
	d.gen.Next()
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return detect.PatternInputNovelty }

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) { return detect.StoreStats(d.store) }

// ShapeStats are the detector's counters.
type ShapeStats struct {
	Skipped   uint64 // records without input_shape
	Overflow  uint64 // records whose shape did not fit in a full set
	FullTools int    // live tools whose set is at max_shapes
}

// ShapeStats returns the counters.
func (d *Detector) ShapeStats() ShapeStats {
	s := ShapeStats{Skipped: d.skipped, Overflow: d.overflo}
	d.store.Range(func(_ baseline.Key, t *tool) bool {
		if t.set.Len() >= t.cfg.MaxShapes {
			s.FullTools++
		}
		return true
	})
	return s
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	s := r.Invocation.InputShape
	if s == "" {
		d.skipped++
		return out
	}
	t, created := d.store.Get(baseline.Key{Tool: r.Tool.Name}, r.Timestamp, nil)
	if t == nil {
		return out // store full: counted by the store
	}
	ts := r.Timestamp.UnixNano()
	if created {
		t.init(d.params.For("", r.Tool.Name), ts)
		t.gen = d.gen.Stamp()
	} else if !d.gen.Current(t.gen) {
		t.cfg, t.gen = d.params.For("", r.Tool.Name), d.gen.Stamp()
	}
	if !t.cfg.Enabled {
		return out
	}
	if ts >= t.windowEnd {
		t.rotate(ts)
	}
	t.records++
	h := baseline.Hash64(s)
	if h == 0 {
		h = 1
	}
	if sl := t.set.Find(h); sl != nil {
		if sl.Flags&flagFlood != 0 {
			return d.quarantined(t, r, s, h, ts, sl, out)
		}
		if t.held > 0 {
			d.heldUse(t, r, "", h)
		}
		if sl.Flags&flagRepeat == 0 {
			sl.Flags |= flagRepeat
			t.n1--
		}
		if sl.Window != t.window {
			sl.Window = t.window
			t.curExact++
			if sl.Flags&flagRef == 0 {
				t.probation(sl)
			}
		}
		if sl.Flags&flagInjection != 0 && t.cfg.AlwaysAlertInjection {
			return d.score(t, r, s, shape.ClassSQLi, false, false, false, out)
		}
		return out
	}
	if d.shared != nil && d.sharedShape(t, r, s, h) {
		return out // known to another partition of the group (share.go)
	}
	out = d.novel(t, r, s, h, ts, nil, out)
	if t.held > 0 && r.Invocation.Status != record.StatusError {
		d.heldUse(t, r, s, h)
	}
	return out
}

// probation counts a window in which a shape outside the reference was
// used and admits it once it is routine: used in reference_min_windows
// distinct windows, not during an opening, while the reference has room.
// Injection shapes never join (they alert on their own).
func (t *tool) probation(sl *hashset.Slot) {
	n := uses(sl.Flags) + 1
	sl.Flags = withUses(sl.Flags, n)
	if n >= t.cfg.ReferenceMinWindows && t.flood == nil && t.winBits&winOpening == 0 &&
		sl.Flags&flagInjection == 0 && int(t.refLen) < t.cfg.ReferenceMaxShapes {
		sl.Flags |= flagRef
		t.refLen++
	}
}

// quarantined handles a known shape learned from the agent of an opening:
// silent while that agent's flood goes on, otherwise judged as first-seen
// (it was never accepted into the vocabulary).
func (d *Detector) quarantined(t *tool, r *record.Record, s string, h uint64, ts int64, sl *hashset.Slot, out []detect.Finding) []detect.Finding {
	if t.flood != nil && t.flood.has(agentHash(r.AgentID)) && t.flooding() {
		t.flood.last = t.records
		if sl.Window != t.window {
			sl.Window = t.window
			t.curExact++
		}
		return out
	}
	return d.novel(t, r, s, h, ts, sl, out)
}

// flooding reports whether the opening's agents are still flooding: the
// last new or quarantined shape of one of them came within the last
// novelty_window_records records. After a pause their next new shape is
// judged like any other.
func (t *tool) flooding() bool {
	return t.records-t.flood.last < uint64(t.cfg.NoveltyWindowRecords)
}

func agentHash(a string) uint64 {
	if h := baseline.Hash64(a); h != 0 {
		return h
	}
	return 1
}

func (t *tool) init(cfg *Config, ts int64) {
	t.cfg = cfg
	t.first, t.lastNew = ts, ts
	t.window = 1
	t.windowEnd = ts + int64(cfg.DistinctWindow)
}

// rotate starts a new distinct window at or after ts. Estimates of the
// overflow sketch are the ones cached by the last Tick. The window that
// ends is folded into the reference, quarantined shapes unused in it age
// out, and an opening ends once the vocabulary is no longer open.
func (t *tool) rotate(ts int64) {
	distinct := uint64(t.curExact) + t.overCur.Estimate()
	t.fold(distinct)
	t.prevDistinct = distinct
	if ts >= t.windowEnd+int64(t.cfg.DistinctWindow) {
		t.prevDistinct = 0 // a whole window passed without records
	}
	w := int64(t.cfg.DistinctWindow)
	t.windowEnd += ((ts-t.windowEnd)/w + 1) * w
	t.window++
	t.curExact = 0
	t.overCur.Reset()
	t.winStart, t.winNew, t.winAgent, t.winBits = t.records, 0, 0, 0
	if t.floodShapes > 0 {
		// Keep those used in the window that just ended.
		t.floodShapes -= uint32(t.set.DeleteFunc(func(sl *hashset.Slot) bool {
			return sl.Flags&flagFlood != 0 && sl.Window+1 < t.window
		}))
	}
	t.endOpening()
	if t.flood != nil {
		t.winBits |= winOpening
	}
}

// fold adds the window ending now to the reference when the tool was warm
// at its end and the window was clean: no opening, or new shapes from more
// than one agent (an opening shared by the fleet is the tool's nature, a
// single agent's is not). Its openness is the package doc's o over the
// whole window; the first such window sets the reference openness, later
// ones move it by 1/reference_windows.
func (t *tool) fold(distinct uint64) {
	cfg := t.cfg
	n := t.records - t.winStart
	warm := t.records >= uint64(cfg.WarmupRecords) && t.windowEnd-t.first >= int64(cfg.WarmupAge)
	if !warm || n == 0 || t.winBits&winOpening != 0 && t.winBits&winMulti == 0 {
		return
	}
	rate := float64(t.winNew) * 1000 / float64(max(n, uint64(cfg.NoveltyWindowRecords)))
	o := math.Min(1, math.Max(rate/cfg.OpenNewPer1000, float64(distinct)/float64(cfg.OpenDistinct)))
	if t.refWindows == 0 {
		t.refOpen = o
	} else {
		t.refOpen += (o - t.refOpen) / float64(cfg.ReferenceWindows)
	}
	t.refWindows = min(t.refWindows+1, math.MaxUint32-1)
	t.refRecords, t.refN1, t.refLastNew = t.records, t.n1, t.lastNew
}

// endOpening ends an opening once the vocabulary is no longer open, or
// once the reference itself has become open.
func (t *tool) endOpening() {
	if t.flood == nil {
		return
	}
	if o, _ := t.openness(); o < 1 || t.refOpen > 0.5 {
		t.flood = nil
	}
}

// refClosed reports whether the tool has a reference and it is closed.
func (t *tool) refClosed() bool { return t.refWindows > 0 && t.refOpen <= 0.5 }

// novel handles a shape not in the set (sl nil) or quarantined (sl its
// slot): score it against the vocabulary as it was, then learn it. During
// an opening its agents are not scored shape by shape while they flood
// (the vocabulary_opening finding stands for them) and their shapes are
// learned quarantined; other shapes are judged against the reference.
func (d *Detector) novel(t *tool, r *record.Record, s string, h uint64, ts int64, sl *hashset.Slot, out []detect.Finding) []detect.Finding {
	cfg := t.cfg
	class, dangerous := shape.Class(s)
	warm := t.records >= uint64(cfg.WarmupRecords) && ts-t.first >= int64(cfg.WarmupAge)
	rejected := !dangerous && r.Invocation.Status == record.StatusError
	var ah uint64
	if !dangerous && (warm || t.flood != nil) {
		ah = agentHash(r.AgentID)
	}
	var flood bool
	if !dangerous && t.flood != nil && t.flood.has(ah) {
		flood = t.flooding()
		t.flood.last = t.records
	}
	if !flood && (warm || class == shape.ClassSQLi && cfg.AlwaysAlertInjection) {
		out = d.score(t, r, s, class, true, rejected, !dangerous, out)
	}
	if rejected {
		return out // not accepted by the tool: not part of its vocabulary
	}

	switch {
	case sl != nil: // quarantined: accepted now, a fresh singleton
		t.floodShapes--
		sl.Flags = withUses(sl.Flags&^(flagFlood|flagRepeat), 1)
		if sl.Window != t.window {
			sl.Window = t.window
			t.curExact++
		}
	case t.set.Len() < cfg.MaxShapes:
		sl = t.set.Insert(h)
		sl.Window = t.window
		sl.Flags = withUses(0, 1)
		t.curExact++
	default:
		t.overflow++
		d.overflo++
		t.overAll.InsertHash(h)
		t.overCur.InsertHash(h)
	}
	if sl != nil {
		if flood {
			sl.Flags |= flagFlood // not part of the vocabulary: not a singleton either
			t.floodShapes++
		} else {
			t.n1++
		}
		if class == shape.ClassSQLi {
			sl.Flags |= flagInjection
		}
	}
	if !flood {
		t.kinds |= kindBit(s)
		if !dangerous {
			t.learnFields(s)
		}
	}
	if !dangerous {
		// Dangerous shapes alert on their own; they do not make the
		// vocabulary look open or unstable.
		if !flood {
			t.lastNew = ts
		}
		t.recent[t.recentPos] = t.records
		t.recentPos = (t.recentPos + 1) % ringSize
		if warm {
			t.winNew++
			switch {
			case t.winAgent == 0:
				t.winAgent = ah
			case t.winAgent != ah:
				t.winBits |= winMulti
			}
			if t.flood == nil {
				out = d.opening(t, r, ah, out)
			} else {
				t.join(ah)
				t.endOpening()
			}
		}
	}
	return out
}

// opening starts an opening when the tool's reference is closed and
// opening_new_shapes of its last novelty_window_records records, or of the
// current distinct window's, brought a first-seen shape (a fast or a slow
// flood): it quarantines the window's singletons outside the reference
// (the opening's first shapes) and emits one vocabulary_opening finding,
// scored like a new plain shape judged against the reference and never
// below min_score.
func (d *Detector) opening(t *tool, r *record.Record, ah uint64, out []detect.Finding) []detect.Finding {
	if !t.refClosed() {
		return out
	}
	n := t.recentNew()
	if n < t.cfg.OpeningNewShapes && int(t.winNew) < t.cfg.OpeningNewShapes {
		return out
	}
	t.flood = &flooders{agents: [maxFlooders]uint64{ah}, n: 1, last: t.records}
	t.winBits |= winOpening
	t.dropWindowFields() // the flood's pairs may be among them
	for sl := range t.set.All() {
		if sl.Flags&(flagRepeat|flagRef|flagFlood|flagInjection) == 0 && sl.Window == t.window {
			sl.Flags |= flagFlood
			t.floodShapes++
			t.n1--
		}
	}
	o, rate := t.openness()
	l, q := t.decades(r.Timestamp.UnixNano(), "", true)
	sc := score.FromDecades(l + score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment))
	// The opening stands for every shape it quarantines: never below min_score.
	sc = max(math.Round(sc*10)/10, t.cfg.MinScore)
	distinct := max(t.prevDistinct, uint64(t.curExact)+t.overCur.Estimate())
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = detect.PatternInputNovelty
	f.Detail = kindOpening
	f.Score = sc
	f.Unit = "shapes"
	f.Observed, f.Expected = float64(distinct), float64(t.refLen)
	f.Summary = fmt.Sprintf("%s's input vocabulary is opening: %d new shapes in its last %d records, %d in this window, the latest from %s; "+
		"its reference vocabulary of %d shapes is closed", r.Tool.Name, n, min(t.records, uint64(t.cfg.NoveltyWindowRecords)), t.winNew, r.AgentID, t.refLen)
	f.Details = map[string]any{
		"kind":               kindOpening,
		"new_shapes":         n,
		"new_in_window":      t.winNew,
		"novelty_per_1000":   round3(rate),
		"shapes_in_window":   distinct,
		"openness":           round3(o),
		"reference_shapes":   t.refLen,
		"reference_openness": round3(t.refOpen),
		"stability":          round3(q),
		"records":            t.records,
		"log10_p":            round3(-l),
	}
	return append(out, f)
}

// join adds agent ah to the opening's agents when its new shape (judged)
// came while the flood still runs at the opening's rate: opening_new_shapes
// new shapes among the last novelty_window_records records. So a flood
// from several agents (a poisoned client) costs one judged finding per
// agent, for up to maxFlooders agents.
func (t *tool) join(ah uint64) {
	if f := t.flood; f.n < maxFlooders && !f.has(ah) && t.recentNew() >= t.cfg.OpeningNewShapes {
		f.agents[f.n] = ah
		f.n++
		f.last = t.records
	}
}

// Finding kinds (details.kind; the opening's is also its Detail).
const (
	kindShape   = "shape"
	kindOpening = "vocabulary_opening"
)

// recentNew counts the first-seen shapes among the last
// novelty_window_records records.
func (t *tool) recentNew() int {
	win := uint64(t.cfg.NoveltyWindowRecords)
	var n int
	for _, at := range t.recent {
		if at != 0 && at+win > t.records {
			n++
		}
	}
	return n
}

// score appends a finding for shape s of class class if it scores at least
// min_score; firstSeen is false for a known sql-injection shape, rejected
// true for a plain shape whose call failed; with fields a recombination of
// known field pairs is discounted (see the package doc). The pairs are
// checked only when the shape would otherwise be emitted: the discount
// only lowers a score, and an open tool's new shapes rarely reach it.
func (d *Detector) score(t *tool, r *record.Record, s, class string, firstSeen, rejected, fields bool, out []detect.Finding) []detect.Finding {
	ref := t.flood != nil // an opening: judged against the reference
	o, rate := t.openness()
	l, q := t.decades(r.Timestamp.UnixNano(), class, ref)
	if ref {
		o = t.refOpen
	}
	if rejected {
		l = math.Max(0, l-rejectedDecades)
	}
	prior := score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment)
	sc := math.Round(score.FromDecades(l+prior)*10) / 10
	if sc < t.cfg.MinScore {
		return out
	}
	recomb := fields && t.recombination(s)
	var (
		ext   bool
		pairs [2]uint64
	)
	if fields && firstSeen && !recomb {
		pairs, ext = t.extensionField(s, d.pending(r))
	}
	if recomb || ext {
		if recomb {
			l = math.Max(0, l-recombinationDecades)
		} else {
			l = math.Max(0, l-extensionDecades)
		}
		if sc = math.Round(score.FromDecades(l+prior)*10) / 10; sc < t.cfg.MinScore {
			return out
		}
	}
	known := t.known()
	f := d.finding(t, r, s, class, firstSeen, sc)
	f.Observed, f.Expected = float64(known), float64(known)
	if firstSeen {
		f.Observed++
	}
	f.Summary = summary(r, s, firstSeen, known, t.kinds, o)
	f.Details["openness"] = round3(o)
	f.Details["stability"] = round3(q)
	f.Details["novelty_per_1000"] = round3(rate)
	f.Details["log10_p"] = round3(-l)
	f.Details["singletons"] = t.n1
	if rejected {
		f.Details["rejected"] = true
	}
	if recomb {
		f.Details["recombination"] = true
	}
	if ref {
		f.Details["judged_by"] = "reference"
	}
	if ext {
		f.Details["extension"] = true
		// An info extension waits for a rollout (hold.go); warning+ never does.
		if sc < warningBand && !rejected && d.holdExtension(t, r, f, pairs, nonZero(baseline.Hash64(s))) {
			return out
		}
	}
	return append(out, f)
}

// decades is a first-seen shape's novelty L before the record's risk prior
// (package doc) and the stability q it used: from the tool's vocabulary,
// or with ref from its reference (openness, and the counters and last new
// shape as of the last clean window).
func (t *tool) decades(ts int64, class string, ref bool) (l, q float64) {
	n1, records, lastNew := t.n1, t.records, t.lastNew
	var o float64
	if ref {
		n1, records, lastNew, o = t.refN1, t.refRecords, t.refLastNew, t.refOpen
	} else {
		o, _ = t.openness()
	}
	q = math.Max(0, math.Min(1, float64(ts-lastNew)/float64(t.cfg.StableAfter)))
	l = -math.Log10((float64(n1) + 1) / (float64(records) + 1))
	prior := closedDecades * (0.5 + 0.5*q) * math.Min(1, 2*(1-o))
	switch {
	case class == shape.ClassSQLi:
		prior = max(prior, sqliDecades)
	case class == shape.ClassBinary && t.kinds != 0 && t.kinds&^(kindText|kindEmpty) == 0:
		prior = max(prior, binaryTextDecades)
	case class == shape.ClassBinary:
		prior = max(prior, binaryDecades)
	}
	return l + prior, q
}

func (d *Detector) finding(t *tool, r *record.Record, s, class string, firstSeen bool, score float64) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = detect.PatternInputNovelty
	f.Detail = truncate(s, t.cfg.MaxDetailBytes)
	f.Score = score
	f.Unit = "shapes"
	f.Details = map[string]any{
		"kind":             kindShape,
		"reference_shapes": t.refLen,
		"shape":            s,
		"class":            class,
		"first_seen":       firstSeen,
		"known_kinds":      kindList(t.kinds),
		"records":          t.records,
		"shapes_in_window": uint64(t.curExact) + t.overCur.Estimate(),
		"overflow_records": t.overflow,
	}
	return f
}

// openness returns o and the novelty rate per 1000 records (see package doc).
func (t *tool) openness() (o, rate float64) {
	cfg := t.cfg
	span := min(t.records, uint64(cfg.NoveltyWindowRecords))
	n := t.recentNew()
	if span > 0 {
		rate = float64(n) * 1000 / float64(span)
	}
	used := max(t.prevDistinct, uint64(t.curExact)+t.overCur.Estimate())
	o = math.Max(rate/cfg.OpenNewPer1000, float64(used)/float64(cfg.OpenDistinct))
	return math.Min(1, o), rate
}

// Priors of the score, in decades (see the package doc).
const (
	closedDecades     = 5
	sqliDecades       = 10
	binaryTextDecades = 8
	binaryDecades     = 4
	// rejectedDecades discounts a plain new shape whose call failed.
	rejectedDecades = 5
	// recombinationDecades discounts a new shape made only of known field
	// pairs (optional arguments added or omitted).
	recombinationDecades = 3
	// extensionDecades discounts a known shape plus one new plain field
	// (a tool release's optional argument).
	extensionDecades = 2
	// warningBand is the default warning severity band: an extension
	// scoring below it (info) is held for a rollout, one at or above it
	// is emitted at once.
	warningBand = 60
)

func (t *tool) stability(ts int64) float64 {
	q := float64(ts-t.lastNew) / float64(t.cfg.StableAfter)
	return math.Max(0, math.Min(1, q))
}

// known is the number of distinct shapes the tool knows: exact, plus the
// estimate of the overflow.
func (t *tool) known() uint64 { return uint64(t.set.Len()) + t.overAll.Estimate() }

// Tick implements detect.Detector: emits the held extension findings
// whose hold ended before the watermark, rotates distinct windows,
// refreshes the HyperLogLog estimates (only of tools that overflowed) and
// evicts idle tools.
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	wm := watermark.UnixNano()
	if len(d.held) > 0 {
		out = d.emitHeld(wm, out)
	}
	d.store.Range(func(k baseline.Key, t *tool) bool {
		if !d.gen.Current(t.gen) {
			t.cfg, t.gen = d.params.For("", k.Tool), d.gen.Stamp()
		}
		t.overAll.Refresh()
		t.overCur.Refresh()
		if wm >= t.windowEnd {
			t.rotate(wm)
		}
		t.endOpening()
		return true
	})
	d.store.Sweep(watermark)
	return out
}

func summary(r *record.Record, s string, first bool, known uint64, kinds uint8, o float64) string {
	var b strings.Builder
	if first {
		fmt.Fprintf(&b, "%s received a new input shape %s from %s", r.Tool.Name, s, r.AgentID)
	} else {
		fmt.Fprintf(&b, "%s received input shape %s from %s again", r.Tool.Name, s, r.AgentID)
	}
	switch names := kindList(kinds); {
	case known == 0:
		b.WriteString("; it had no known shapes")
	case len(names) == 1 && known == 1:
		fmt.Fprintf(&b, "; its 1 known shape is %s", names[0])
	case len(names) == 1:
		fmt.Fprintf(&b, "; its %d known shapes are all %s", known, names[0])
	default:
		fmt.Fprintf(&b, "; its %d known shapes are %s", known, strings.Join(names, ", "))
	}
	if o >= 1 {
		b.WriteString(" (open vocabulary)")
	}
	return b.String()
}

func kindList(k uint8) []string {
	var out []string
	for _, kn := range kindNames {
		if k&kn.bit != 0 {
			out = append(out, kn.name)
		}
	}
	return out
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stats    = (*Detector)(nil)
)
