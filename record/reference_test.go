// Code in this file is test-only: the decoder as it was before issue 13's
// decode2 rewrite (main at 105ef15), frozen verbatim with its identifiers
// prefixed "ref", as the oracle of the differential tests and fuzz targets
// in decode2_test.go. Do not edit it to follow the production decoder.

package record

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// refDecoder decodes and validates v1 audit records in a single strict pass
// over the input (RFC 8259 grammar, UTF-8, nesting depth), with no
// intermediate tree. It owns a bounded intern table for low-cardinality
// strings (agent ids, tool names, permissions, ...), so that steady-state
// decoding allocates only the one string holding a record's high-cardinality
// ids and hashes. A refDecoder is reusable but not safe for concurrent use.
//
// Benchmarks chose this over fastjson (a strict pre-scan plus a reused
// fastjson.Parser, kept in fastjson_test.go) and encoding/json; see
// bench_test.go.
type refDecoder struct {
	lim    Limits
	s      refScanner // input, position and the first syntax error
	intern map[string]string
	maxInt int
	// recent is a direct-mapped cache in front of intern: a record's ~10
	// interned strings (agent id, tool name, version, environment, ...)
	// mostly repeat the previous records', and comparing bytes with one
	// slot is several times cheaper than hashing them into the map.
	recent [refInternRecent]string

	// High-cardinality strings are gathered into arena and turned into a
	// single string at the end of Decode (one allocation per record).
	arena   []byte
	pending []refPendingStr
	scratch []byte    // unescaped key or string value
	spans   []refSpan // arena spans of the destination list being read
	destMax int       // cap of the destination list being read

	r      *Record
	err    error // first field error, in document order
	seenTS bool
	chain  uint8 // presence bits of the chain fields
}

type refSpan struct{ start, end int }

type refPendingStr struct {
	dst        *string
	start, end int
}

// refNewDecoder returns a refDecoder enforcing l. Zero fields of l take the
// defaults of DefaultLimits.
func refNewDecoder(l Limits) *refDecoder {
	def := DefaultLimits()
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = def.MaxRecordBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = def.MaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthLimit)
	return &refDecoder{
		lim:    l,
		intern: make(map[string]string, 256),
		maxInt: DefaultInternEntries,
	}
}

// InternLen reports the number of interned strings (for metrics and tests).
func (d *refDecoder) InternLen() int { return len(d.intern) }

// Decode parses one JSON object from data into r and validates it. r's
// slices are reused; every field of r is overwritten, so nothing of a
// previous record survives. data is not retained. On error the returned
// error is an *Error and r holds unspecified (but safe) contents.
//
// Precedence: size limit, then syntax and depth errors anywhere in the
// input, then the first field error in document order, then missing
// required fields in DESIGN order.
func (d *refDecoder) Decode(data []byte, r *Record) error {
	r.Reset()
	if len(data) > d.lim.MaxRecordBytes {
		return fieldErr("record", "larger than "+strconv.Itoa(d.lim.MaxRecordBytes)+" bytes")
	}
	if !utf8.Valid(data) {
		return fieldErr("record", "invalid JSON: invalid UTF-8")
	}
	s := &d.s
	*s = refScanner{data: data, maxDepth: d.lim.MaxDepth}
	d.r, d.err, d.seenTS, d.chain = r, nil, false, 0
	d.arena, d.pending = d.arena[:0], d.pending[:0]

	s.ws()
	isObject := s.i < len(data) && data[s.i] == '{'
	if isObject {
		d.object(1, refObjTop)
	} else {
		s.value(0)
	}
	if s.err == nil {
		s.ws()
		if s.i != len(data) {
			s.fail("unexpected data after top-level value")
		}
	}
	d.r = nil
	err := s.err
	switch {
	case err != nil:
	case !isObject:
		err = fieldErr("record", "must be a JSON object")
	case d.err != nil:
		err = d.err
	default:
		if len(d.pending) > 0 {
			str := string(d.arena)
			for _, p := range d.pending {
				*p.dst = str[p.start:p.end]
			}
		}
		err = refCheckRequired(r, d.seenTS)
		if err == nil {
			err = refCheckChain(&r.Chain, d.chain)
		}
	}
	clear(d.pending) // drop pointers into r
	s.data = nil     // do not retain the input
	return err
}

func refCheckRequired(r *Record, seenTS bool) error {
	switch {
	case r.TraceID == "":
		return fieldErr("trace_id", "required")
	case r.SpanID == "":
		return fieldErr("span_id", "required")
	case !seenTS:
		return fieldErr("timestamp", "required")
	case r.AgentID == "":
		return fieldErr("agent_id", "required")
	case r.Tool.Name == "":
		return fieldErr("tool.name", "required")
	case r.Invocation.DurationMS == Absent:
		return fieldErr("invocation.duration_ms", "required")
	case r.Invocation.Status == "":
		return fieldErr("invocation.status", "required")
	}
	return nil
}

func (d *refDecoder) fail(field, reason string) {
	if d.err == nil {
		d.err = fieldErr(field, reason)
	}
}

// Objects the decoder knows the fields of.
const (
	refObjTop = iota
	refObjTool
	refObjInvocation
	refObjContext
	refObjChain
	refObjCheckpoint
)

// object decodes the object starting at s.i, at nesting depth, dispatching
// its members to the field table of kind. Syntax errors land in d.s.err.
func (d *refDecoder) object(depth, kind int) {
	s := &d.s
	if s.tooDeep(depth) {
		return
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return
	}
	next := 0 // refKeyOrder[kind][next] is the key expected next
	for {
		if s.i >= len(s.data) {
			s.fail("unexpected end of input")
			return
		}
		if s.data[s.i] != '"' {
			s.fail("expected object key")
			return
		}
		var key []byte
		if key, next = d.knownKey(refKeyWords[kind], next); key == nil {
			var ok bool
			if key, ok = d.readString(); !ok {
				return
			}
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			s.fail("expected ':'")
			return
		}
		s.i++
		s.ws()
		if s.i >= len(s.data) {
			s.fail("unexpected end of input")
			return
		}
		if d.err != nil {
			s.value(depth) // a field error is final; only check syntax
		} else {
			switch kind {
			case refObjTop:
				d.top(key, depth)
			case refObjTool:
				d.tool(key, depth)
			case refObjInvocation:
				d.invocation(key, depth)
			case refObjContext:
				d.context(key, depth)
			case refObjChain:
				d.chainField(key, depth)
			case refObjCheckpoint:
				d.checkpoint(key, depth)
			}
		}
		if s.err != nil {
			return
		}
		s.ws()
		if s.i >= len(s.data) {
			s.fail("unexpected end of input")
			return
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return
		default:
			s.fail("expected ',' or '}'")
			return
		}
	}
}

// refKeyOrder lists the keys of each kind of object in the order AppendJSON
// writes them (producers mostly keep it), for knownKey.
var refKeyOrder = [...][]string{
	refObjTop: {"trace_id", "span_id", "parent_span_id", "timestamp", "agent_id", "tool", "invocation", "context",
		"authorization_method", "retention_policy", "data_subjects_affected", "immutability_proof", "chain"},
	refObjTool: {"name", "version", "publisher", "trust_level", "verification_score"},
	refObjInvocation: {"input_hash", "output_hash", "duration_ms", "status", "permissions_used", "permissions_denied",
		"output_bytes", "input_bytes", "input_shape", "destinations", "output_destinations"},
	refObjContext:    {"task_id", "user_id", "data_classification", "environment"},
	refObjChain:      {"producer", "seq", "prev", "hash", "checkpoint"},
	refObjCheckpoint: {"key_id", "sig"},
}

// refKeyWord is a known key and its closing quote as three little-endian
// words (w) and the mask of their bytes (m); keys are at most 23 bytes.
type refKeyWord struct {
	n    int // key length
	w, m [3]uint64
}

var refKeyWords = func() (t [len(refKeyOrder)][]refKeyWord) {
	for kind, keys := range refKeyOrder {
		for _, k := range keys {
			var b, m [24]byte
			copy(b[:], k+`"`)
			for i := range len(k) + 1 {
				m[i] = 0xff
			}
			kw := refKeyWord{n: len(k)}
			for i := range 3 {
				kw.w[i] = binary.LittleEndian.Uint64(b[8*i:])
				kw.m[i] = binary.LittleEndian.Uint64(m[8*i:])
			}
			t[kind] = append(t[kind], kw)
		}
	}
	return t
}()

// knownKey reads the object key at s.i when it is one of keys[next:]
// written plainly ("name", no escapes) and returns it with the index after
// it; else it returns nil and next and consumes nothing. Such a key is
// exactly what readString would return, found by comparing three words
// instead of a scan and a string switch: keys are most of a record's
// strings. Keys in the last 24 bytes of the input take the long way.
func (d *refDecoder) knownKey(keys []refKeyWord, next int) ([]byte, int) {
	data, i := d.s.data, d.s.i+1
	if i+24 > len(data) {
		return nil, next
	}
	p := data[i : i+24]
	a, b, c := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), binary.LittleEndian.Uint64(p[16:])
	for j := next; j < len(keys); j++ {
		k := &keys[j]
		if (a^k.w[0])&k.m[0]|(b^k.w[1])&k.m[1]|(c^k.w[2])&k.m[2] == 0 {
			e := i + k.n
			d.s.i = e + 1
			return data[i:e], j + 1
		}
	}
	return nil, next
}

// The field tables. key may live in d.scratch: switch on it before reading
// the value. Each case consumes exactly one value at s.i.

func (d *refDecoder) top(key []byte, depth int) {
	r := d.r
	switch string(key) {
	case "trace_id":
		d.copyStr("trace_id", depth, &r.TraceID)
	case "span_id":
		d.copyStr("span_id", depth, &r.SpanID)
	case "parent_span_id":
		d.copyStr("parent_span_id", depth, &r.ParentSpanID)
	case "timestamp":
		if b, ok := d.str("timestamp", depth); ok {
			if t, ok := refParseTimestamp(b); ok {
				r.Timestamp, d.seenTS = t, true
			} else {
				d.fail("timestamp", "must be an RFC 3339 time")
			}
		}
	case "agent_id":
		d.internStr("agent_id", depth, &r.AgentID)
	case "tool":
		d.subObject("tool", depth, refObjTool)
	case "invocation":
		d.subObject("invocation", depth, refObjInvocation)
	case "context":
		d.subObject("context", depth, refObjContext)
	case "authorization_method":
		d.internStr("authorization_method", depth, &r.AuthorizationMethod)
	case "retention_policy":
		d.internStr("retention_policy", depth, &r.RetentionPolicy)
	case "data_subjects_affected":
		d.count("data_subjects_affected", depth, MaxCount, "must be at most 10000000000", &r.DataSubjectsAffected)
	case "immutability_proof":
		d.copyStr("immutability_proof", depth, &r.ImmutabilityProof)
	case "chain":
		if d.s.data[d.s.i] == '{' {
			// A repeated "chain" replaces the earlier one whole.
			r.Chain, d.chain = Chain{Seq: Absent}, chainSeen
		}
		d.subObject("chain", depth, refObjChain)
	default:
		d.s.value(depth) // unknown fields are ignored
	}
}

func (d *refDecoder) chainField(key []byte, depth int) {
	c := &d.r.Chain
	switch string(key) {
	case "producer":
		if b, ok := d.str("chain.producer", depth); ok {
			if msg := refChainID(b); msg != "" {
				d.fail("chain.producer", msg)
				return
			}
			c.Producer = d.internBytes(b)
		}
	case "seq":
		d.count("chain.seq", depth, MaxSeq, seqTooBig, &c.Seq)
	case "prev":
		d.hexField("chain.prev", depth, c.Prev[:], hash64, chainPrev)
	case "hash":
		d.hexField("chain.hash", depth, c.Hash[:], hash64, chainHash)
	case "checkpoint":
		if d.s.data[d.s.i] == '{' {
			c.KeyID, c.Sig = "", [64]byte{}
			d.chain = d.chain&^(chainKeyID|chainSig) | chainCkpt
		}
		d.subObject("chain.checkpoint", depth, refObjCheckpoint)
	default:
		d.s.value(depth)
	}
}

func (d *refDecoder) checkpoint(key []byte, depth int) {
	c := &d.r.Chain
	switch string(key) {
	case "key_id":
		if b, ok := d.str("chain.checkpoint.key_id", depth); ok {
			if msg := refChainID(b); msg != "" {
				d.fail("chain.checkpoint.key_id", msg)
				return
			}
			c.KeyID = d.internBytes(b)
			d.chain |= chainKeyID
		}
	case "sig":
		d.hexField("chain.checkpoint.sig", depth, c.Sig[:], sig128, chainSig)
	default:
		d.s.value(depth)
	}
}

// hexField decodes a lowercase hex string of exactly len(dst) bytes.
func (d *refDecoder) hexField(field string, depth int, dst []byte, msg string, bit uint8) {
	if b, ok := d.str(field, depth); ok {
		if !refLowerHex(b, dst) {
			d.fail(field, msg)
			return
		}
		d.chain |= bit
	}
}

// The enum values, in the order of their error messages.
var (
	refTrustLevels     = []string{"gold", "silver", "bronze", "unverified"}
	refStatuses        = []string{StatusSuccess, StatusError, StatusDenied, StatusTimeout}
	refClassifications = []string{"public", "internal", "confidential", "restricted"}
)

// enum reads a string that must be one of values and stores the matching
// constant (no allocation); "" is treated as absent, like before.
func (d *refDecoder) enum(field string, depth int, values []string, msg string, dst *string) {
	b, ok := d.str(field, depth)
	if !ok || len(b) == 0 {
		return
	}
	for _, v := range values {
		if string(b) == v {
			*dst = v
			return
		}
	}
	d.fail(field, msg)
}

func (d *refDecoder) tool(key []byte, depth int) {
	t := &d.r.Tool
	switch string(key) {
	case "name":
		d.internStr("tool.name", depth, &t.Name)
	case "version":
		d.internStr("tool.version", depth, &t.Version)
	case "publisher":
		d.internStr("tool.publisher", depth, &t.Publisher)
	case "trust_level":
		d.enum("tool.trust_level", depth, refTrustLevels, "must be one of gold, silver, bronze, unverified", &t.TrustLevel)
	case "verification_score":
		if f, ok := d.number("tool.verification_score", "must be a number between 0 and 100", depth); ok {
			if f >= 0 && f <= 100 {
				t.VerificationScore = f
			} else {
				d.fail("tool.verification_score", "must be a number between 0 and 100")
			}
		}
	default:
		d.s.value(depth)
	}
}

func (d *refDecoder) invocation(key []byte, depth int) {
	in := &d.r.Invocation
	switch string(key) {
	case "input_hash":
		d.copyStr("invocation.input_hash", depth, &in.InputHash)
	case "output_hash":
		d.copyStr("invocation.output_hash", depth, &in.OutputHash)
	case "duration_ms":
		if f, ok := d.number("invocation.duration_ms", "must be a number >= 0", depth); ok {
			switch {
			case f < 0:
				d.fail("invocation.duration_ms", "must be a number >= 0")
			case f > MaxDurationMS:
				d.fail("invocation.duration_ms", "must be at most 604800000 (7 days)")
			default:
				in.DurationMS = f
			}
		}
	case "status":
		d.enum("invocation.status", depth, refStatuses, "must be one of success, error, denied, timeout", &in.Status)
	case "permissions_used":
		in.PermissionsUsed = d.strings("invocation.permissions_used", depth, in.PermissionsUsed[:0])
	case "permissions_denied":
		in.PermissionsDenied = d.strings("invocation.permissions_denied", depth, in.PermissionsDenied[:0])
	case "output_bytes":
		d.count("invocation.output_bytes", depth, MaxBytes, refMaxBytesReason, &in.OutputBytes)
	case "input_bytes":
		d.count("invocation.input_bytes", depth, MaxBytes, refMaxBytesReason, &in.InputBytes)
	case "destinations":
		in.Destinations = d.destinations("invocation.destinations", depth, in.Destinations[:0], MaxDestinations)
	case "output_destinations":
		in.OutputDestinations = d.destinations("invocation.output_destinations", depth, in.OutputDestinations[:0], MaxOutputDestinations)
	case "input_shape":
		if b, ok := d.str("invocation.input_shape", depth); ok {
			if len(b) > MaxInputShapeBytes {
				d.fail("invocation.input_shape", "longer than 256 bytes")
				return
			}
			in.InputShape = d.internBytes(b)
		}
	default:
		d.s.value(depth)
	}
}

func (d *refDecoder) context(key []byte, depth int) {
	c := &d.r.Context
	switch string(key) {
	case "task_id":
		d.copyStr("context.task_id", depth, &c.TaskID)
	case "user_id":
		d.internStr("context.user_id", depth, &c.UserID)
	case "data_classification":
		d.enum("context.data_classification", depth, refClassifications, "must be one of public, internal, confidential, restricted", &c.DataClassification)
	case "environment":
		d.internStr("context.environment", depth, &c.Environment)
	default:
		d.s.value(depth)
	}
}

// null consumes a JSON null at s.i; it reports whether there was one (a
// null counts as an absent field).
func (d *refDecoder) null() bool {
	s := &d.s
	if s.data[s.i] != 'n' {
		return false
	}
	s.lit("null") // a bad literal is a syntax error
	return true
}

// wrongType records a field error and skips the value at s.i.
func (d *refDecoder) wrongType(field, reason string, depth int) {
	d.fail(field, reason)
	d.s.value(depth)
}

func (d *refDecoder) subObject(field string, depth, kind int) {
	switch {
	case d.s.data[d.s.i] == '{':
		d.object(depth+1, kind)
	case d.null():
	default:
		d.wrongType(field, "must be an object", depth)
	}
}

// str reads a string value (valid until the next read). ok is false for
// null, for other types (a field error) and on syntax errors.
func (d *refDecoder) str(field string, depth int) ([]byte, bool) {
	switch {
	case d.s.data[d.s.i] == '"':
		return d.readString()
	case d.null():
	default:
		d.wrongType(field, "must be a string", depth)
	}
	return nil, false
}

func (d *refDecoder) internStr(field string, depth int, dst *string) {
	if b, ok := d.str(field, depth); ok {
		*dst = d.internBytes(b)
	}
}

// internBytes returns b as a string shared with earlier records when
// possible. The table is capped; once full, new strings are allocated.
func (d *refDecoder) internBytes(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	// Slot from the length and three bytes: ids that differ in their last
	// characters (agent-01, agent-02) land in different slots.
	slot := &d.recent[(uint(n)*131+uint(b[0])*31+uint(b[n-1])*7+uint(b[n-1-n/4]))%refInternRecent]
	if *slot == string(b) { // no allocation for the comparison
		return *slot
	}
	s, ok := d.intern[string(b)] // no allocation for the lookup
	if !ok {
		s = string(b)
		if n <= maxInternLen && len(d.intern) < d.maxInt {
			d.intern[s] = s
		}
	}
	*slot = s
	return s
}

// refInternRecent is the size of refDecoder.recent.
const refInternRecent = 256

// copyStr defers a high-cardinality string to the per-record arena.
func (d *refDecoder) copyStr(field string, depth int, dst *string) {
	b, ok := d.str(field, depth)
	if !ok {
		return
	}
	// Empty strings are queued too: a later duplicate key must win.
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	d.pending = append(d.pending, refPendingStr{dst: dst, start: start, end: len(d.arena)})
}

func (d *refDecoder) strings(field string, depth int, dst []string) []string {
	return d.array(field, depth, dst, false)
}

// destinations reads a list of destination hashes (refValidDestination),
// at most max, copied to the per-record arena like copyStr.
// Pointers into dst are queued only once the list is complete, so growing
// dst cannot leave one dangling.
func (d *refDecoder) destinations(field string, depth int, dst []string, max int) []string {
	d.spans = d.spans[:0]
	d.destMax = max
	dst = d.array(field, depth, dst, true)
	n := len(dst)
	for range d.spans {
		dst = append(dst, "")
	}
	for i, sp := range d.spans {
		d.pending = append(d.pending, refPendingStr{dst: &dst[n+i], start: sp.start, end: sp.end})
	}
	return dst
}

// array reads an array of strings into dst (interned), or with dest into
// d.spans (validated destination hashes).
func (d *refDecoder) array(field string, depth int, dst []string, dest bool) []string {
	s := &d.s
	switch {
	case s.data[s.i] == '[':
	case d.null():
		return dst
	default:
		d.wrongType(field, "must be an array of strings", depth)
		return dst
	}
	if s.tooDeep(depth + 1) {
		return dst
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return dst
	}
	for {
		if s.i >= len(s.data) {
			s.fail("unexpected end of input")
			return dst
		}
		if s.data[s.i] == '"' && d.err == nil {
			b, ok := d.readString()
			if !ok {
				return dst
			}
			switch {
			case !dest:
				dst = append(dst, d.internBytes(b))
			case !refValidDestination(b):
				d.fail(field, destinationReason)
			case len(d.spans) >= d.destMax:
				d.fail(field, "more than "+strconv.Itoa(d.destMax)+" entries")
			default:
				start := len(d.arena)
				d.arena = append(d.arena, b...)
				d.spans = append(d.spans, refSpan{start, len(d.arena)})
			}
		} else {
			if s.data[s.i] != '"' {
				d.fail(field, "must be an array of strings")
			}
			if !s.value(depth + 1) {
				return dst
			}
		}
		s.ws()
		if s.i >= len(s.data) {
			s.fail("unexpected end of input")
			return dst
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return dst
		default:
			s.fail("expected ',' or ']'")
			return dst
		}
	}
}

// rawNumber reads a number token; ok is false for null, other types (a
// field error with reason) and syntax errors.
func (d *refDecoder) rawNumber(field, reason string, depth int) ([]byte, bool) {
	s := &d.s
	switch c := s.data[s.i]; {
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		if !s.number() {
			return nil, false
		}
		return s.data[start:s.i], true
	case d.null():
	default:
		d.wrongType(field, reason, depth)
	}
	return nil, false
}

// number reads a finite JSON number exactly (strconv, correctly rounded, so
// AppendJSON round-trips). Out-of-range values are field errors.
func (d *refDecoder) number(field, reason string, depth int) (float64, bool) {
	if n, ok := d.s.plainUint(); ok {
		return float64(n), true
	}
	raw, ok := d.rawNumber(field, reason, depth)
	if !ok {
		return 0, false
	}
	if n, ok := refSmallUint(raw); ok {
		return float64(n), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		d.fail(field, reason)
		return 0, false
	}
	return f, true
}

// refSmallUint parses up to 15 plain digits, which convert to float64 exactly.
func refSmallUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

const refMaxBytesReason = "must be at most 1099511627776 (1 TiB)"

// count decodes an integer between 0 and max into dst (tooBig is the
// reason beyond max); integral forms such as 1e3 or 1042.0 are accepted.
func (d *refDecoder) count(field string, depth int, max int64, tooBig string, dst *int64) {
	const reason = "must be an integer >= 0"
	if n, ok := d.s.plainUint(); ok {
		if n > max {
			d.fail(field, tooBig)
		} else {
			*dst = n
		}
		return
	}
	raw, ok := d.rawNumber(field, reason, depth)
	if !ok {
		return
	}
	n, ok := refSmallUint(raw)
	if !ok {
		if v, err := strconv.ParseInt(string(raw), 10, 64); err == nil && v >= 0 {
			n, ok = v, true
		} else if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f >= 0 && f == math.Trunc(f) {
			if f > float64(max) {
				d.fail(field, tooBig)
				return
			}
			n, ok = int64(f), true
		}
	}
	switch {
	case !ok:
		d.fail(field, reason)
	case n > max:
		d.fail(field, tooBig)
	default:
		*dst = n
	}
}

// readString reads the string at s.i (its opening quote) and returns its
// unescaped bytes: a subslice of the input when it has no escapes, else
// d.scratch. Lone UTF-16 surrogates in \u escapes become U+FFFD, as in
// encoding/json.
func (d *refDecoder) readString() ([]byte, bool) {
	data := d.s.data
	start := d.s.i + 1
	// refSkipSafe, inlined: most strings are keys and short values.
	i := start
	for ; i+8 <= len(data); i += 8 {
		if m := refSpecials(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			if i += bits.TrailingZeros64(m) / 8; data[i] == '"' {
				d.s.i = i + 1
				return data[start:i], true // fast path: no escapes
			}
			return d.readEscaped(start, i)
		}
	}
	i = refSkipSafe(data, i)
	if i < len(data) && data[i] == '"' {
		d.s.i = i + 1
		return data[start:i], true
	}
	return d.readEscaped(start, i)
}

// readEscaped is readString's slow path (out of line, so that the fast
// path keeps its registers): the string opened at start, whose first byte
// that is not refStrSafe is at i.
func (d *refDecoder) readEscaped(start, i int) ([]byte, bool) {
	s := &d.s
	data := s.data
	buf := append(d.scratch[:0], data[start:i]...)
	for {
		if i >= len(data) {
			s.i = i
			s.fail("unexpected end of input")
			return nil, false
		}
		c := data[i]
		switch {
		case c == '"':
			s.i = i + 1
			d.scratch = buf
			return buf, true
		case c < 0x20:
			s.i = i
			s.fail("control character in string")
			return nil, false
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			s.i = len(data)
			s.fail("unexpected end of input")
			return nil, false
		}
		switch e := data[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
			i += 2
		case 'b':
			buf, i = append(buf, '\b'), i+2
		case 'f':
			buf, i = append(buf, '\f'), i+2
		case 'n':
			buf, i = append(buf, '\n'), i+2
		case 'r':
			buf, i = append(buf, '\r'), i+2
		case 't':
			buf, i = append(buf, '\t'), i+2
		case 'u':
			r, ok := refHex4(data, i+2)
			if !ok {
				s.i = i
				if i+6 > len(data) {
					s.i = len(data)
					s.fail("unexpected end of input")
				} else {
					s.fail("invalid \\u escape")
				}
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A valid pair is two escapes; anything else is U+FFFD.
				if r2, ok := refHex4(data, i+2); ok && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			s.i = i
			s.fail("invalid escape")
			return nil, false
		}
	}
}

// refHex4 decodes the four hex digits at data[i:i+4].
func refHex4(data []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// refScanner is a strict RFC 8259 syntax checker that also enforces the
// nesting limit. The refDecoder uses it as its tokenizer and to skip (while
// still validating) values it does not decode, such as unknown fields. Its
// errors carry an offset and never quote record contents. Input must have
// passed utf8.Valid first.
type refScanner struct {
	data     []byte
	i        int
	maxDepth int
	err      error
}

// refStrSafe[c] is true for bytes that need no attention inside a string.
var refStrSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// refSkipSafe returns the index of the first byte at or after i that is not
// refStrSafe ('"', '\\' or a control character), or len(data), eight bytes a
// step (refSpecials). Strings are most of a record's bytes, and this loop was
// 10% of the pipeline.
func refSkipSafe(data []byte, i int) int {
	p := data[i:] // a shrinking slice: no bounds checks in the loop
	for len(p) >= 8 {
		if m := refSpecials(binary.LittleEndian.Uint64(p)); m != 0 {
			return len(data) - len(p) + bits.TrailingZeros64(m)/8
		}
		p = p[8:]
	}
	for len(p) > 0 && refStrSafe[p[0]] {
		p = p[1:]
	}
	return len(data) - len(p)
}

// refSpecials flags (bit 7 of the byte) the bytes of the little-endian word w
// that are not refStrSafe, SWAR: a byte b is flagged by the borrow of b − k for
// the zero bytes of b ^ '"' and b ^ '\\' and for b < 0x20; bytes ≥ 0x80
// never are. The borrows can flag bytes above the first special one, never
// below, so the lowest flag is exact. The three terms share one "&^ w": the
// xors leave bit 7 of every byte as it is in w.
func refSpecials(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b, c := (w^(lo*'"'))-lo, (w^(lo*'\\'))-lo, w-lo*0x20
	return (q | b | c) &^ w & hi
}

func (s *refScanner) fail(what string) bool {
	if s.err == nil {
		s.err = fieldErr("record", "invalid JSON: "+what+" at offset "+strconv.Itoa(s.i))
	}
	return false
}

// ws skips whitespace. Compact JSON has none: the test of one byte for
// that case inlines, the loop does not.
func (s *refScanner) ws() {
	if s.i < len(s.data) && s.data[s.i] > ' ' {
		return
	}
	s.wsLoop()
}

func (s *refScanner) wsLoop() {
	data, i := s.data, s.i
	for i < len(data) && refIsSpace[data[i]] {
		i++
	}
	s.i = i
}

var refIsSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *refScanner) value(depth int) bool {
	if s.i >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.str()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return s.fail("unexpected character")
	}
}

func (s *refScanner) tooDeep(depth int) bool {
	if depth > s.maxDepth {
		s.deep() // out of line, so that tooDeep inlines
		return true
	}
	return false
}

func (s *refScanner) deep() {
	if s.err == nil {
		s.err = fieldErr("record", "nesting deeper than "+strconv.Itoa(s.maxDepth))
	}
}

func (s *refScanner) object(depth int) bool {
	if s.tooDeep(depth) {
		return false
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		if s.data[s.i] != '"' {
			return s.fail("expected object key")
		}
		if !s.str() {
			return false
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.fail("expected ':'")
		}
		s.i++
		s.ws()
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

func (s *refScanner) array(depth int) bool {
	if s.tooDeep(depth) {
		return false
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return true
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

func (s *refScanner) str() bool {
	data := s.data
	i := s.i + 1 // opening quote
	for {
		i = refSkipSafe(data, i) // fast path: bytes that need no attention
		if i >= len(data) {
			s.i = i
			return s.fail("unexpected end of input")
		}
		switch c := data[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c < 0x20:
			s.i = i
			return s.fail("control character in string")
		}
		// Backslash escape.
		if i+1 >= len(data) {
			s.i = len(data)
			return s.fail("unexpected end of input")
		}
		switch data[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(data) {
				s.i = len(data)
				return s.fail("unexpected end of input")
			}
			for _, h := range data[i+2 : i+6] {
				if !refIsHex(h) {
					s.i = i
					return s.fail("invalid \\u escape")
				}
			}
			i += 6
		default:
			s.i = i
			return s.fail("invalid escape")
		}
	}
}

func refIsHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *refScanner) digits() int {
	n := 0
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *refScanner) number() bool {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	if s.data[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.fail("invalid number")
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	return true
}

// plainUint reads, in one pass, a number at s.i written as 1 to 15 plain
// digits (no sign, fraction, exponent or leading zero), which converts to
// float64 exactly (number would accept it and refSmallUint parse it the same);
// anything else (ok false) consumes nothing and takes number's way, with
// its errors.
func (s *refScanner) plainUint() (n int64, ok bool) {
	p := s.data[s.i:]
	k := 0
	for k < len(p) && k < 16 && p[k]-'0' <= 9 {
		n = n*10 + int64(p[k]-'0')
		k++
	}
	if k == 0 || k > 15 || (k > 1 && p[0] == '0') {
		return 0, false
	}
	if k < len(p) && (p[k] == '.' || p[k]|0x20 == 'e') {
		return 0, false
	}
	s.i += k
	return n, true
}

func (s *refScanner) lit(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.i += len(word)
	return true
}

// refParseTimestamp parses an RFC 3339 date-time (fractional seconds of 1–9
// digits optional, "Z" or a ±hh:mm offset) and returns it in UTC. It is a
// hand-written fast path: no allocation, and it rejects what time.Parse
// would also reject (out-of-range fields, leap second 60), plus UTC years
// outside 0000–9999, which the canonical encoding cannot write.
func refParseTimestamp(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	year, ok1 := refNum(b[0:4])
	month, ok2 := refNum(b[5:7])
	day, ok3 := refNum(b[8:10])
	hour, ok4 := refNum(b[11:13])
	minute, ok5 := refNum(b[14:16])
	sec, ok6 := refNum(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > refDaysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if i > 9 {
				return time.Time{}, false
			}
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	var offset int // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := refNum(rest[1:3])
		om, ok2 := refNum(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	// time.Unix(…).UTC() is the Time time.Date(…, time.UTC) returns
	// (TestUnixDays), without Date's normalization (the fields are in range).
	unix := refUnixDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	t := time.Unix(unix, int64(nsec)).UTC()
	if offset != 0 {
		if y := t.Year(); y < 0 || y > 9999 {
			return time.Time{}, false
		}
	}
	return t, true
}

// refUnixDays is the number of days from 1970-01-01 to the given proleptic
// Gregorian date (negative before), for years 0–9999 (Hinnant's
// days_from_civil on eras of 400 years; year 0 reads as era −1).
func refUnixDays(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // floor(y/400) for y ≥ −400
	yoe := y - era*400
	mp := (month + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func refNum(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func refDaysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// refChainID checks a producer or key id: printable ASCII, no space, so it
// needs no escaping in JSON and cannot contain the checkpoint message's
// separator.
func refChainID(b []byte) string {
	if len(b) == 0 || len(b) > MaxChainIDBytes {
		return "must be 1 to 128 printable ASCII characters without spaces"
	}
	for _, c := range b {
		if c <= 0x20 || c >= 0x7f {
			return "must be 1 to 128 printable ASCII characters without spaces"
		}
	}
	return ""
}

// refLowerHex decodes b, which must be exactly 2·len(dst) lowercase hex digits.
func refLowerHex(b, dst []byte) bool {
	if len(b) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := refHexVal[b[2*i]], refHexVal[b[2*i+1]]
		if hi|lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// refCheckChain validates a decoded chain object whose presence bits are seen.
func refCheckChain(c *Chain, seen uint8) error {
	if seen&chainSeen == 0 {
		return nil
	}
	switch {
	case c.Producer == "":
		return fieldErr("chain.producer", "required")
	case c.Seq == Absent:
		return fieldErr("chain.seq", "required")
	case c.Seq == 0:
		return fieldErr("chain.seq", "must be an integer >= 1")
	case seen&chainPrev == 0 && c.Seq > 1:
		return fieldErr("chain.prev", "required when chain.seq > 1")
	case seen&chainPrev != 0 && c.Seq == 1:
		return fieldErr("chain.prev", "must be absent when chain.seq is 1")
	case seen&chainHash == 0:
		return fieldErr("chain.hash", "required")
	case seen&chainCkpt != 0 && seen&chainKeyID == 0:
		return fieldErr("chain.checkpoint.key_id", "required")
	case seen&chainCkpt != 0 && seen&chainSig == 0:
		return fieldErr("chain.checkpoint.sig", "required")
	}
	return nil
}

// refHexVal maps a lowercase hex digit to its value, anything else to 0xff.
var refHexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range hexDigitsLC {
		t[c] = byte(i)
	}
	return t
}()

// refValidDestination reports whether b is a well-formed destination hash.
func refValidDestination[T string | []byte](b T) bool {
	colon := -1
	for i := 0; i < len(b) && i < 13; i++ {
		if b[i] == ':' {
			colon = i
			break
		}
	}
	if colon < 0 || !refKnownDestinationType(b[:colon]) {
		return false
	}
	h := b[colon+1:]
	if len(h) < MinDestinationHex || len(h) > MaxDestinationHex || len(h)%2 != 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func refKnownDestinationType[T string | []byte](t T) bool {
	for _, k := range DestinationTypes {
		if string(t) == k {
			return true
		}
	}
	return false
}
