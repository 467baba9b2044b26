package inputs

import (
	"maps"
	"math/bits"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Held extensions (package doc, "Releases held"): an info extension
// finding waits extension_hold of event time; if the tool's other agents
// or tasks start sending its new field in that time, it was a release's
// rollout and is dropped. A finding whose field one other user sent
// within the hold is a rollout still reaching the tool's callers: it
// keeps waiting, up to holdSpan × extension_hold in all. Otherwise it is
// emitted with its original event time.

// maxHeld bounds the findings held at once, all tools together; at the
// cap a new extension finding is emitted at once (an alert is never lost
// to the bound).
const maxHeld = 64

// rolloutOthers is how many distinct other (agent, task) users of the new
// field within the hold make it a rollout.
const rolloutOthers = 2

// holdSpan: a hold whose field one other user sent by its end lasts up to
// this many extension_holds in all.
const holdSpan = 2

// maxHoldShapes bounds the shapes remembered per hold as carrying the new
// field (the held shape and new shapes with it learned during the hold);
// a known shape not among them is not recognised as a use.
const maxHoldShapes = 8

// hold is one held extension finding.
type hold struct {
	f      detect.Finding
	due    int64     // event time (unix ns) at the end of the hold
	last   int64     // end of the longest hold (a partial rollout: n > 0 by due)
	pairs  [2]uint64 // pairHash of the new top-level fields (the second 0 if one)
	origin uint64    // userHash of the finding's agent and task
	others [rolloutOthers]uint64
	n      int // distinct other users so far
	shapes []uint64
}

// userHash identifies an (agent, task) pair.
func userHash(agent, task string) uint64 {
	return nonZero(baseline.Hash64(agent) ^ bits.RotateLeft64(baseline.Hash64(task), 17))
}

// holdExtension holds f (an info extension of tool t carrying new fields
// pairs, shape hash h) and reports true, or reports false when f is to be
// emitted now: holds off or at the cap.
func (d *Detector) holdExtension(t *tool, r *record.Record, f detect.Finding, pairs [2]uint64, h uint64) bool {
	if t.cfg.ExtensionHold <= 0 || len(d.held) >= maxHeld {
		return false
	}
	f.Details["held_for"] = t.cfg.ExtensionHold.String()
	ts, hl := r.Timestamp.UnixNano(), int64(t.cfg.ExtensionHold)
	d.held = append(d.held, hold{f: f, due: ts + hl, last: ts + holdSpan*hl, pairs: pairs,
		origin: userHash(r.AgentID, r.Context.TaskID), shapes: []uint64{h}})
	t.held++
	return true
}

// open reports whether a use at ts still counts: within the hold, or
// within its longest span once another user sent the field by its end.
func (hd *hold) open(ts int64) bool {
	return ts <= hd.due || hd.n > 0 && ts <= hd.last
}

// heldUse counts record r (tool t's shape hash h, accepted) as a use of
// the new fields of the holds of its tool whose shapes include h, or, when
// s is given (a shape first seen now), whose fields s carries; a hold
// whose field rolloutOthers distinct other users sent within it is
// dropped.
func (d *Detector) heldUse(t *tool, r *record.Record, s string, h uint64) {
	ts := r.Timestamp.UnixNano()
	var user uint64
	for i := 0; i < len(d.held); i++ {
		hd := &d.held[i]
		if !hd.open(ts) || hd.f.Tool != r.Tool.Name {
			continue
		}
		if !slices.Contains(hd.shapes, h) {
			if s == "" || !carries(s, hd.pairs) {
				continue
			}
			if len(hd.shapes) < maxHoldShapes {
				hd.shapes = append(hd.shapes, h)
			}
		}
		if user == 0 {
			user = userHash(r.AgentID, r.Context.TaskID)
		}
		if user == hd.origin || slices.Contains(hd.others[:hd.n], user) {
			continue
		}
		hd.others[hd.n] = user
		if hd.n++; hd.n >= rolloutOthers {
			d.held = slices.Delete(d.held, i, i+1) // a rollout: the field is the tool's
			d.rollouts++
			t.held--
			i--
		}
	}
}

// pending returns the new fields' pairs of the holds of r's tool still
// open at r's time (nil when none; only on a finding's path).
func (d *Detector) pending(r *record.Record) []uint64 {
	var out []uint64
	ts := r.Timestamp.UnixNano()
	for i := range d.held {
		if hd := &d.held[i]; hd.open(ts) && hd.f.Tool == r.Tool.Name {
			for _, p := range hd.pairs {
				if p != 0 && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// carries reports whether shape s has one of the field pairs p (0: none).
func carries(s string, p [2]uint64) bool {
	var found bool
	eachPair(s, func(h uint64) {
		if h == p[0] || h != 0 && h == p[1] {
			found = true
		}
	})
	return found
}

// emitHeld appends the held findings whose hold ended before watermark wm
// (unix ns) with no other user, or whose longest span ended, in the order
// they were held. A record stamped at or before the end of a hold is late
// by then, so when a tick comes does not change what is emitted.
func (d *Detector) emitHeld(wm int64, out []detect.Finding) []detect.Finding {
	n := 0
	for _, hd := range d.held {
		if hd.due < wm && hd.n == 0 || hd.last < wm {
			f := hd.f
			if hd.n > 0 {
				// Held longer than extension_hold: say so. A copy: a captured
				// snapshot may still be encoding the held map.
				f.Details = maps.Clone(f.Details)
				f.Details["held_for"] = time.Duration(hd.last - f.EventTime.UnixNano()).String()
			}
			out = append(out, f)
			d.unheld(f.Tool)
			continue
		}
		d.held[n] = hd
		n++
	}
	clear(d.held[n:])
	d.held = d.held[:n]
	return out
}

// unheld uncounts a held finding of tool name at its tool. A tool evicted
// and seen again meanwhile counts none: its holds then miss uses, so they
// are emitted rather than dropped.
func (d *Detector) unheld(name string) {
	if t := d.store.Peek(baseline.Key{Tool: name}); t != nil && t.held > 0 {
		t.held--
	}
}

// Held reports the extension findings held now and the holds dropped as
// rollouts so far.
func (d *Detector) Held() (pending int, rollouts uint64) { return len(d.held), d.rollouts }
