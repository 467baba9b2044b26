package inputs

import (
	"math/bits"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Held extensions (package doc, "Releases held"): an info extension
// finding waits extension_hold of event time; if the tool's other agents
// or tasks start sending its new field in that time, it was a release's
// rollout and is dropped, otherwise it is emitted with its original event
// time.

// maxHeld bounds the findings held at once, all tools together; at the
// cap a new extension finding is emitted at once (an alert is never lost
// to the bound).
const maxHeld = 64

// rolloutOthers is how many distinct other (agent, task) users of the new
// field within the hold make it a rollout.
const rolloutOthers = 2

// maxHoldShapes bounds the shapes remembered per hold as carrying the new
// field (the held shape and new shapes with it learned during the hold);
// a known shape not among them is not recognised as a use.
const maxHoldShapes = 8

// hold is one held extension finding.
type hold struct {
	f      detect.Finding
	due    int64  // event time (unix ns) at the end of the hold
	pair   uint64 // pairHash of the new top-level field
	origin uint64 // userHash of the finding's agent and task
	others [rolloutOthers]uint64
	n      int // distinct other users so far
	shapes []uint64
}

// userHash identifies an (agent, task) pair.
func userHash(agent, task string) uint64 {
	return nonZero(baseline.Hash64(agent) ^ bits.RotateLeft64(baseline.Hash64(task), 17))
}

// holdExtension holds f (an info extension of tool t carrying new field
// pair, shape hash h) and reports true, or reports false when f is to be
// emitted now: holds off or at the cap.
func (d *Detector) holdExtension(t *tool, r *record.Record, f detect.Finding, pair, h uint64) bool {
	if t.cfg.ExtensionHold <= 0 || len(d.held) >= maxHeld {
		return false
	}
	f.Details["held_for"] = t.cfg.ExtensionHold.String()
	d.held = append(d.held, hold{f: f, due: r.Timestamp.UnixNano() + int64(t.cfg.ExtensionHold), pair: pair,
		origin: userHash(r.AgentID, r.Context.TaskID), shapes: []uint64{h}})
	return true
}

// heldUse counts record r (tool's shape hash h, accepted) as a use of the
// new fields of the holds of its tool whose shapes include h, or, when s
// is given (a shape first seen now), whose field s carries; a hold whose
// field rolloutOthers distinct other users sent within it is dropped.
func (d *Detector) heldUse(r *record.Record, s string, h uint64) {
	ts := r.Timestamp.UnixNano()
	var user uint64
	for i := 0; i < len(d.held); i++ {
		hd := &d.held[i]
		if ts > hd.due || hd.f.Tool != r.Tool.Name {
			continue
		}
		if !slices.Contains(hd.shapes, h) {
			if s == "" || !carries(s, hd.pair) {
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
			i--
		}
	}
}

// carries reports whether shape s has the field pair p.
func carries(s string, p uint64) bool {
	var found bool
	eachPair(s, func(h uint64) {
		if h == p {
			found = true
		}
	})
	return found
}

// emitHeld appends the held findings whose hold ended before watermark wm
// (unix ns), in the order they were held. A record stamped at or before
// the end of a hold is late by then, so when a tick comes does not change
// what is emitted.
func (d *Detector) emitHeld(wm int64, out []detect.Finding) []detect.Finding {
	n := 0
	for _, hd := range d.held {
		if hd.due < wm {
			out = append(out, hd.f)
			continue
		}
		d.held[n] = hd
		n++
	}
	clear(d.held[n:])
	d.held = d.held[:n]
	return out
}

// Held reports the extension findings held now and the holds dropped as
// rollouts so far.
func (d *Detector) Held() (pending int, rollouts uint64) { return len(d.held), d.rollouts }
