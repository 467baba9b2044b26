package inputs

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/shape/dest"
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
		end := fieldEnd(body, 0)
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

// extension reports whether s, a first-seen shape, is an accepted shape of
// the tool plus one or two new top-level fields of a plain type — a tool
// release's new optional arguments (package doc, "Extensions"): s without
// them is in the vocabulary (accepted: not quarantined nor
// sql-injection) and s did not come in a flood (quarantined), no new
// field's key has another type among the tool's pairs, each value is str
// (no content class), num, bool or null, or an object of such values, and
// no key of them names a destination or code (riskyKey). It runs only on
// a first-seen shape that would be emitted.
func (t *tool) extension(s string) bool {
	_, ok := t.extensionField(s, nil)
	return ok
}

// maxExtensionFields is how many new fields an extension may add: a
// release sometimes adds two optional arguments at once.
const maxExtensionFields = 2

// extensionField is extension, with the pair hashes of the new fields
// (the second 0 when there is one). A known pair among pending (the new
// fields of the tool's held extensions: a release still being judged)
// counts as one of the release's fields too: a release's second field
// often first shows in a later shape, next to the first one.
func (t *tool) extensionField(s string, pending []uint64) (pairs [2]uint64, ok bool) {
	if !strings.HasPrefix(s, "json{") || !strings.HasSuffix(s, "}") || t.fields.Len() == 0 {
		return pairs, false
	}
	if sl := t.set.Find(nonZero(baseline.Hash64(s))); sl != nil && sl.Flags&flagFlood != 0 {
		return pairs, false // a flood brought it: not a release's argument
	}
	body := s[len("json{") : len(s)-1]
	var (
		n     int
		plain = true
	)
	// The shape without the new fields (keys stay sorted).
	var rest strings.Builder
	rest.WriteString("json{")
	ok = eachTop(body, func(key, val string, from, to int) bool {
		typ := val
		if strings.HasPrefix(val, "obj{") {
			typ = "obj"
		}
		h := pairHash(0, key, typ)
		if t.fields.Find(h) != nil && !slices.Contains(pending, h) {
			if rest.Len() > len("json{") {
				rest.WriteByte(',')
			}
			rest.WriteString(body[from:to])
			return true
		}
		if n < maxExtensionFields {
			pairs[n] = h
		}
		n++
		plain = plain && plainValue(key, val) && (slices.Contains(pending, h) || !t.knownKey(key, val))
		return n <= maxExtensionFields && plain
	})
	if !ok || n == 0 || n > maxExtensionFields || !plain || rest.Len() == len("json{") {
		return [2]uint64{}, false
	}
	rest.WriteByte('}')
	sl := t.set.Find(nonZero(baseline.Hash64(rest.String())))
	return pairs, sl != nil && sl.Flags&(flagFlood|flagInjection) == 0
}

// fieldEnd is the index of the comma ending the field of body that starts
// at from (commas inside nested objects and arrays skipped), or len(body).
func fieldEnd(body string, from int) int {
	depth := 0
	for i := from; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return len(body)
}

// eachTop calls f with every top-level field of an object body (key,
// value, and the field's byte range) until f returns false; it reports
// false for a malformed or truncated ("...") body.
func eachTop(body string, f func(key, val string, from, to int) bool) bool {
	if body == "" {
		return false
	}
	for from := 0; from < len(body); {
		end := fieldEnd(body, from)
		field := body[from:end]
		colon := strings.IndexByte(field, ':')
		if colon <= 0 || field == "..." {
			return false
		}
		if !f(field[:colon], field[colon+1:], from, end) {
			return false
		}
		from = end + 1
	}
	return true
}

// plainTypes are the value types an extension's field may have.
var plainTypes = []string{"str", "num", "bool", "null"}

// plainValue reports whether a new field key:val is plain: a primitive
// type without content class, or an object of such fields, and no key
// risky.
func plainValue(key, val string) bool {
	if riskyKey(key) {
		return false
	}
	if slices.Contains(plainTypes, val) {
		return true
	}
	if !strings.HasPrefix(val, "obj{") || !strings.HasSuffix(val, "}") {
		return false
	}
	return eachTop(val[len("obj{"):len(val)-1], func(k, v string, _, _ int) bool {
		return !riskyKey(k) && slices.Contains(plainTypes, v)
	})
}

// otherTypes are the types probed for a known key: a key the tool accepted
// with any of them is not a new field but a new type on a known path.
// Rarer types (nested arrays, arrays of objects) are not probed.
var otherTypes = []string{"str", "num", "bool", "null", "obj", "arr[]", "arr[str]", "arr[num]", "arr[bool]", "arr[obj]",
	"str/url", "str/path", "str/sql", "str/long", "str/base64", "str/binary", "str/sql-injection"}

// knownKey reports whether the tool accepted key at the top with a type
// other than val's.
func (t *tool) knownKey(key, val string) bool {
	for _, typ := range otherTypes {
		if typ != val && t.fields.Find(pairHash(0, key, typ)) != nil {
			return true
		}
	}
	return false
}

// riskyKey reports whether a field name says where data goes or what runs:
// an argument key of the destination rules (shape/dest built-ins: to, cc,
// bcc, webhook_url, ...) or of riskyKeys, or a name containing one of
// riskyWords.
func riskyKey(key string) bool {
	if _, ok := destKeys[strings.ToLower(key)]; ok {
		return true
	}
	for _, k := range riskyKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	for _, w := range riskyWords {
		if containsFold(key, w) {
			return true
		}
	}
	return false
}

// riskyWords are name parts of exfiltration channels and code, matched
// case-insensitively anywhere in a key ("notify_email", "callbackUrl");
// riskyKeys are shorter ones matched as the whole key.
var (
	riskyWords = []string{"mail", "url", "webhook", "callback", "endpoint", "host", "recipient", "forward", "redirect",
		"upload", "export", "dest", "exec", "command", "script", "shell", "sql"}
	riskyKeys = []string{"to", "cc", "bcc", "uri", "cmd", "code", "eval", "query"}
)

// destKeys are the argument keys of the destination built-ins, any tool.
var destKeys = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, r := range dest.Builtins() {
		for k := range r.Input {
			m[strings.ToLower(k)] = struct{}{}
		}
	}
	return m
}()

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
