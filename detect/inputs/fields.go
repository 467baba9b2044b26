package inputs

import (
	"math/bits"
	"strings"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
)

// Field pairs: the (field path, type) pairs of a JSON object shape, e.g.
// json{filter:obj{id:num},q:str/url} has "filter:obj", "filter.id:num"
// and "q:str/url". A type is the shape's text for the value (content class
// included: str and str/sql differ), and a nested object is expanded one
// level (as the shape grammar does). Each tool keeps the hashes of the
// pairs of its accepted shapes (tool.fields) so that a first-seen shape
// made only of known pairs (a recombination of optional arguments) can be
// told from one with a new field or a field with a new type.

// eachPair calls f with the hash of every field pair of shape s and
// reports whether s is a JSON object shape whose pairs are all listed:
// not for other kinds, an empty object, or one truncated with "...".
// It does not allocate (f does not escape).
func eachPair(s string, f func(h uint64)) bool {
	if !strings.HasPrefix(s, "json{") || !strings.HasSuffix(s, "}") {
		return false
	}
	return eachField(s[len("json{"):len(s)-1], 0, f)
}

// eachField walks the comma-separated fields of an object body at depth 0;
// parent is the hash of the enclosing field's key (0 at the top).
func eachField(body string, parent uint64, f func(uint64)) bool {
	if body == "" {
		return false
	}
	for body != "" {
		end, depth := len(body), 0
	scan:
		for i := 0; i < len(body); i++ {
			switch body[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case ',':
				if depth == 0 {
					end = i
					break scan
				}
			}
		}
		field := body[:end]
		if end < len(body) {
			body = body[end+1:]
		} else {
			body = ""
		}
		colon := strings.IndexByte(field, ':')
		if colon <= 0 || field == "..." {
			return false
		}
		key, val := field[:colon], field[colon+1:]
		if parent == 0 && strings.HasPrefix(val, "obj{") && strings.HasSuffix(val, "}") {
			f(pairHash(0, key, "obj"))
			if !eachField(val[len("obj{"):len(val)-1], nonZero(baseline.Hash64(key)), f) {
				return false
			}
			continue
		}
		f(pairHash(parent, key, val))
	}
	return true
}

// pairHash hashes the pair key:typ under parent (the enclosing key's
// hash, 0 at the top) without building the string.
func pairHash(parent uint64, key, typ string) uint64 {
	h := baseline.Hash64(key) ^ bits.RotateLeft64(baseline.Hash64(typ), 29)
	if parent != 0 {
		h ^= bits.RotateLeft64(parent*0x9e3779b97f4a7c15, 31)
	}
	return nonZero(h)
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// recombination reports whether s, a first-seen shape, is a JSON object
// whose every field pair the tool has already accepted.
func (t *tool) recombination(s string) bool {
	if t.fields.Len() == 0 {
		return false
	}
	all := true
	ok := eachPair(s, func(h uint64) {
		if all && t.fields.Find(h) == nil {
			all = false
		}
	})
	return ok && all
}

// learnFields adds the field pairs of accepted shape s, up to max_shapes
// pairs; each remembers the distinct window it was first learned in (an
// opening drops the current window's: they may be the flood's).
func (t *tool) learnFields(s string) {
	if t.fields.Len() >= t.cfg.MaxShapes {
		return // full: an overflowing tool's every record is "new", skip the walk
	}
	eachPair(s, func(h uint64) {
		if t.fields.Len() < t.cfg.MaxShapes && t.fields.Find(h) == nil {
			t.fields.Insert(h).Window = t.window
		}
	})
}

// dropWindowFields forgets the pairs first learned in the current window
// (at the start of an opening, with the shapes it quarantines).
func (t *tool) dropWindowFields() {
	if t.fields.Len() > 0 {
		t.fields.DeleteFunc(func(sl *hashset.Slot) bool { return sl.Window == t.window })
	}
}
