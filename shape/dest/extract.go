package dest

import (
	"bytes"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/valyala/fastjson"
	"golang.org/x/net/publicsuffix"
)

// Direction says whether a raw value is a tool's input or its output.
type Direction int

// Directions.
const (
	Input Direction = iota
	Output
)

// Result is the destinations of one call.
type Result struct {
	// Destinations are the hashed entries, sorted, at most MaxInput or
	// MaxOutput.
	Destinations []string
	// Truncated reports that more distinct entries were found than kept.
	Truncated bool
	// Skipped names the argument paths whose values could not be read as
	// their kind (never the values), e.g. "recipients: 1 value without '@'".
	Skipped []string
}

// Extractor turns raw tool inputs and outputs into destinations. It is safe
// for concurrent use.
type Extractor struct {
	rules []rule
	h     *Hasher

	mu    sync.RWMutex
	cache map[string]*toolPaths // by tool name, bounded by maxCachedTools
}

type rule struct {
	glob   string // lower-cased
	input  []argPath
	output []argPath
}

type argPath struct {
	raw  string
	segs []string // nil for "."
	kind Kind
}

// toolPaths are the paths of all rules matching one tool.
type toolPaths struct{ input, output []argPath }

const (
	maxCachedTools = 4096
	maxArrayDepth  = 8
)

// New builds an Extractor from a validated configuration and the key.
func New(cfg Config, key []byte) (*Extractor, error) {
	if es := cfg.Validate(); len(es) > 0 {
		return nil, es
	}
	h, err := NewHasher(key)
	if err != nil {
		return nil, err
	}
	e := &Extractor{h: h, cache: map[string]*toolPaths{}}
	for _, r := range cfg.Rules() {
		e.rules = append(e.rules, rule{glob: toolKey(r.Tool), input: compile(r.Input), output: compile(r.Output)})
	}
	return e, nil
}

func compile(m map[string]Kind) []argPath {
	var ps []argPath
	for _, p := range sortedKeys(m) {
		ap := argPath{raw: p, kind: m[p]}
		if p != "." {
			ap.segs = strings.Split(p, ".")
		}
		ps = append(ps, ap)
	}
	return ps
}

// paths returns the merged paths of the rules matching tool.
func (e *Extractor) paths(tool string) *toolPaths {
	e.mu.RLock()
	tp := e.cache[tool]
	e.mu.RUnlock()
	if tp != nil {
		return tp
	}
	tp = &toolPaths{}
	lt := toolKey(tool)
	for _, r := range e.rules {
		if ok, _ := path.Match(r.glob, lt); ok {
			tp.input = append(tp.input, r.input...)
			tp.output = append(tp.output, r.output...)
		}
	}
	e.mu.Lock()
	if len(e.cache) < maxCachedTools {
		e.cache[tool] = tp
	}
	e.mu.Unlock()
	return tp
}

// toolKey lower-cases a tool name or glob and reads '/' as another byte,
// so that '*' also spans the '/' of names like "gmail/send_email".
func toolKey(s string) string {
	return strings.ReplaceAll(asciiLower(s), "/", "\x1f")
}

var parsers fastjson.ParserPool

// Extract returns the destinations in raw, the input or output of tool.
// A raw value that is not JSON is one string (only "." paths reach it).
// Extract never fails: what it cannot read is named in Result.Skipped.
func (e *Extractor) Extract(tool string, dir Direction, raw []byte) Result {
	p := parsers.Get()
	defer parsers.Put(p)
	x := e.collect(tool, dir, raw, p)
	res := Result{Skipped: x.skipped}
	if len(x.entries) == 0 {
		return res
	}
	// Distinct entries first: a listing may repeat one address many times.
	slices.SortFunc(x.entries, func(a, b entry) int {
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	x.entries = slices.Compact(x.entries)
	out := make([]string, 0, len(x.entries))
	var buf []byte
	for _, en := range x.entries {
		buf = e.h.Append(buf[:0], en.typ, en.value)
		out = append(out, string(buf))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	limit := MaxInput
	if dir == Output {
		limit = MaxOutput
	}
	if len(out) > limit {
		out, res.Truncated = out[:limit], true
	}
	res.Destinations = out
	return res
}

// Normalized returns the typed entries ("type:value", sorted, distinct)
// before hashing: for tests and for checking another runtime's
// implementation, never for records.
func (e *Extractor) Normalized(tool string, dir Direction, raw []byte) []string {
	var p fastjson.Parser
	x := e.collect(tool, dir, raw, &p)
	var out []string
	for _, en := range x.entries {
		out = append(out, en.typ+":"+en.value)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (e *Extractor) collect(tool string, dir Direction, raw []byte, p *fastjson.Parser) *extraction {
	tp := e.paths(tool)
	ps := tp.input
	if dir == Output {
		ps = tp.output
	}
	x := &extraction{scanLeft: ScanBytes}
	if len(ps) == 0 {
		return x
	}
	var root *fastjson.Value
	if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '"') {
		root, _ = p.ParseBytes(t)
	}
	notJSON := false
	for _, ap := range ps {
		switch {
		case root != nil:
			x.walk(ap, root, ap.segs, 0)
		case ap.segs == nil:
			if len(raw) > 0 {
				x.str(ap, string(raw))
			}
		default:
			notJSON = true
		}
	}
	if notJSON && len(bytes.TrimSpace(raw)) > 0 {
		x.skipped = append(x.skipped, "(value): not JSON, argument paths not applied")
	}
	return x
}

// extraction collects the entries of one call.
type extraction struct {
	entries  []entry
	skipped  []string
	scanLeft int
}

func (x *extraction) skip(ap argPath, why string) {
	s := ap.raw + ": " + why
	if !slices.Contains(x.skipped, s) {
		x.skipped = append(x.skipped, s)
	}
}

// walk follows segs from v, entering arrays transparently.
func (x *extraction) walk(ap argPath, v *fastjson.Value, segs []string, arrays int) {
	if v.Type() == fastjson.TypeArray && (len(segs) > 0 || ap.kind != KindText) {
		if arrays >= maxArrayDepth {
			x.skip(ap, "arrays nested too deep")
			return
		}
		a, _ := v.Array()
		for _, el := range a {
			x.walk(ap, el, segs, arrays+1)
		}
		return
	}
	if len(segs) == 0 {
		x.value(ap, v)
		return
	}
	if v.Type() != fastjson.TypeObject {
		return
	}
	o, _ := v.Object()
	if segs[0] == "*" {
		o.Visit(func(_ []byte, c *fastjson.Value) { x.walk(ap, c, segs[1:], arrays) })
		return
	}
	if c := o.Get(segs[0]); c != nil {
		x.walk(ap, c, segs[1:], arrays)
	}
}

// value reads one selected value by kind.
func (x *extraction) value(ap argPath, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		x.str(ap, string(s))
	case fastjson.TypeNull:
	case fastjson.TypeNumber:
		switch ap.kind {
		case KindAccount, KindChat, KindParty:
			lit := v.String()
			if allDigits(lit) && lit != "" {
				x.str(ap, lit)
				return
			}
		case KindText:
			return
		}
		x.skip(ap, "not a string")
	case fastjson.TypeObject, fastjson.TypeArray:
		if ap.kind == KindText {
			x.text(v, 0)
			return
		}
		x.skip(ap, "not a string")
	default:
		if ap.kind != KindText {
			x.skip(ap, "not a string")
		}
	}
}

// str normalises one string by kind.
func (x *extraction) str(ap argPath, s string) {
	if ap.kind == KindText {
		x.scan(s)
		return
	}
	s = clean(s)
	switch ap.kind {
	case KindEmail:
		var n int
		if x.entries, n = appendEmail(x.entries, s); n > 0 {
			x.skip(ap, "value without a valid address")
		}
	case KindURL:
		var ok bool
		if strings.TrimSpace(s) == "" {
			return
		}
		if x.entries, ok = appendURL(x.entries, s); !ok {
			x.skip(ap, "URL without a host")
		}
	case KindAccount:
		if a := normAccount(s); a != "" {
			x.entries = append(x.entries, entry{TypeAccount, a})
		}
	case KindChat:
		if c := normChat(s); c != "" {
			x.entries = append(x.entries, entry{TypeChat, c})
		}
	case KindParty:
		if c := normName(s); c != "" {
			x.entries = append(x.entries, entry{TypeParty, c})
		}
	}
}

// text scans every string and object key inside v.
func (x *extraction) text(v *fastjson.Value, depth int) {
	if depth > 64 || x.scanLeft <= 0 {
		return
	}
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		x.scan(string(s))
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, el := range a {
			x.text(el, depth+1)
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(k []byte, c *fastjson.Value) {
			x.scan(string(k))
			x.text(c, depth+1)
		})
	}
}

// TextPattern finds destinations in free text (kind text). Groups: 1
// scheme and 2 authority of a URL, 3 an e-mail address, 4 an IBAN-like
// token, 5 a bare domain (kept only when it ends in an ICANN public suffix
// and has a label before it). It is ASCII-only by construction (no (?i),
// explicit classes), so Python's re (with re.ASCII) and JavaScript
// RegExp read it the same way; leftmost-first alternation.
const TextPattern = `\b(?:` +
	`([Hh][Tt][Tt][Pp][Ss]?|[Ww][Ss][Ss]?|[Ff][Tt][Pp])://([^\t\n\v\f\r /?#<>"'` + "`" + `()\[\]{}|\\^,;]+)` +
	`|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)` +
	`|([A-Z]{2}[0-9]{2}(?:[A-Z0-9]{10,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{0,3}[0-9])?)\b)` +
	`|((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63})\b` +
	`)`

var textRE = regexp.MustCompile(TextPattern)

// scan finds destinations in free text, within the call's scan budget.
// TextPattern is run only on windows of space-separated tokens that can
// hold a match: one token with '@', "://" or a '.' before [A-Za-z0-9-], or
// an IBAN head with the 8 tokens after it. A match never spans white space
// except an IBAN's groups, so the windows give exactly the matches of the
// whole text, at a fraction of the cost (short inputs also let regexp use
// its backtracker instead of the slower NFA).
func (x *extraction) scan(s string) {
	if x.scanLeft <= 0 || len(s) == 0 {
		return
	}
	if len(s) > x.scanLeft {
		s = s[:x.scanLeft]
	}
	x.scanLeft -= len(s)
	start, end, extra := -1, -1, 0 // IBAN window; tokens still to add
	for i := 0; i < len(s); {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		j := i
		for j < len(s) && !isBlank(s[j]) {
			j++
		}
		tok := s[i:j]
		i = j
		if ibanHead(tok) {
			if start < 0 {
				start = j - len(tok)
			}
			end, extra = j, 8
			continue
		}
		if extra > 0 {
			end = j
			if extra--; extra == 0 {
				x.match(s[start:end])
				start = -1
			}
			continue
		}
		if strings.IndexByte(tok, '@') >= 0 || strings.Contains(tok, "://") || innerDot(tok) {
			x.match(tok)
		}
	}
	if start >= 0 {
		x.match(s[start:end])
	}
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// innerDot reports a '.' followed by [A-Za-z0-9-] (needed by a domain).
func innerDot(tok string) bool {
	for k := strings.IndexByte(tok, '.'); k >= 0 && k+1 < len(tok); {
		if c := tok[k+1]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			return true
		}
		n := strings.IndexByte(tok[k+1:], '.')
		if n < 0 {
			return false
		}
		k += 1 + n
	}
	return false
}

// ibanHead reports [A-Z]{2}[0-9]{2} anywhere in tok.
func ibanHead(tok string) bool {
	for k := 0; k+4 <= len(tok); k++ {
		if tok[k] >= 'A' && tok[k] <= 'Z' && tok[k+1] >= 'A' && tok[k+1] <= 'Z' &&
			tok[k+2] >= '0' && tok[k+2] <= '9' && tok[k+3] >= '0' && tok[k+3] <= '9' {
			return true
		}
	}
	return false
}

// match applies TextPattern to one window.
func (x *extraction) match(s string) {
	for _, m := range textRE.FindAllStringSubmatchIndex(s, -1) {
		switch {
		case m[2] >= 0:
			x.entries, _ = appendURL(x.entries, clean(s[m[2]:m[3]]+"://"+s[m[4]:m[5]]))
		case m[6] >= 0:
			x.entries, _ = appendEmail(x.entries, s[m[6]:m[7]])
		case m[8] >= 0:
			x.entries = append(x.entries, entry{TypeAccount, normAccount(s[m[8]:m[9]])})
		case m[10] >= 0:
			d := asciiLower(s[m[10]:m[11]])
			if suf, icann := publicsuffix.PublicSuffix(d); icann && len(suf) < len(d) {
				x.entries, _ = appendURL(x.entries, d)
			}
		}
	}
}
