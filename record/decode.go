package record

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Field size and intern-table bounds.
const (
	// MaxInputShapeBytes bounds invocation.input_shape.
	MaxInputShapeBytes = 256
	// DefaultInternEntries caps a Decoder's intern table.
	DefaultInternEntries = 65536
	// maxInternLen keeps long strings out of the intern table, so the table
	// stays bounded in bytes as well as entries (65536 × 256 B = 16 MiB).
	maxInternLen = 256
	// maxDepthLimit bounds the recursion of the decoder whatever Limits say.
	maxDepthLimit = 1024
)

// Decoder decodes and validates v1 audit records in a single strict pass
// over the input (RFC 8259 grammar, UTF-8, nesting depth), with no
// intermediate tree. It owns a bounded intern table for low-cardinality
// strings (agent ids, tool names, permissions, ...), so that steady-state
// decoding allocates only the one string holding a record's high-cardinality
// ids and hashes. A Decoder is reusable but not safe for concurrent use.
//
// Benchmarks chose this over fastjson (a strict pre-scan plus a reused
// fastjson.Parser, kept in fastjson_test.go) and encoding/json; see
// bench_test.go.
type Decoder struct {
	lim    Limits
	s      scanner // input, position and the first syntax error
	intern map[string]string
	maxInt int
	// recent is a direct-mapped cache in front of intern: a record's ~10
	// interned strings (agent id, tool name, version, environment, ...)
	// mostly repeat the previous records', and comparing bytes with one
	// slot is several times cheaper than hashing them into the map.
	recent [internRecent]string

	// High-cardinality strings are gathered into arena and turned into a
	// single string at the end of Decode (one allocation per record).
	arena   []byte
	pending []pendingStr
	scratch []byte // unescaped key or string value
	spans   []span // arena spans of the destination list being read
	destMax int    // cap of the destination list being read

	r      *Record
	err    error // first field error, in document order
	seenTS bool
	chain  uint8 // presence bits of the chain fields
}

type span struct{ start, end int }

type pendingStr struct {
	dst        *string
	start, end int
}

// NewDecoder returns a Decoder enforcing l. Zero fields of l take the
// defaults of DefaultLimits.
func NewDecoder(l Limits) *Decoder {
	def := DefaultLimits()
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = def.MaxRecordBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = def.MaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthLimit)
	return &Decoder{
		lim:    l,
		intern: make(map[string]string, 256),
		maxInt: DefaultInternEntries,
	}
}

// InternLen reports the number of interned strings (for metrics and tests).
func (d *Decoder) InternLen() int { return len(d.intern) }

// Decode parses one JSON object from data into r and validates it. r's
// slices are reused; every field of r is overwritten, so nothing of a
// previous record survives. data is not retained. On error the returned
// error is an *Error and r holds unspecified (but safe) contents.
//
// Precedence: size limit, then syntax and depth errors anywhere in the
// input, then the first field error in document order, then missing
// required fields in DESIGN order.
func (d *Decoder) Decode(data []byte, r *Record) error {
	r.Reset()
	if len(data) > d.lim.MaxRecordBytes {
		return fieldErr("record", "larger than "+strconv.Itoa(d.lim.MaxRecordBytes)+" bytes")
	}
	s := &d.s
	d.start(data, r)
	isObject := true
	if d.lim.MaxDepth < 3 || !d.canonical(data) {
		// The general path, from the start: the template (canonical)
		// gave up, on a record laid out otherwise or at an error.
		r.Reset()
		d.start(data, r)
		isObject = d.general(data)
	}
	d.r = nil
	err := s.err
	switch {
	case (err != nil || s.high) && !utf8.Valid(data):
		// The UTF-8 check comes before the syntax in precedence but runs
		// after it, on the whole input, only when the scan met a byte ≥
		// 0x80 in a string or failed (the grammar admits such bytes
		// nowhere else): ASCII records, most, skip it.
		err = fieldErr("record", "invalid JSON: invalid UTF-8")
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
		err = checkRequired(r, d.seenTS)
		if err == nil {
			err = checkChain(&r.Chain, d.chain)
		}
	}
	clear(d.pending) // drop pointers into r
	s.data = nil     // do not retain the input
	return err
}

// start sets the decoder up for decoding data into r.
func (d *Decoder) start(data []byte, r *Record) {
	d.s = scanner{data: data, maxDepth: d.lim.MaxDepth}
	d.r, d.err, d.seenTS, d.chain = r, nil, false, 0
	d.arena, d.pending = d.arena[:0], d.pending[:0]
}

// general decodes data on the general path (any layout, every error) and
// reports whether it is a JSON object.
func (d *Decoder) general(data []byte) bool {
	s := &d.s
	s.ws()
	isObject := s.i < len(data) && data[s.i] == '{'
	if isObject {
		d.object(1, objTop)
	} else {
		s.value(0)
	}
	if s.err == nil {
		s.ws()
		if s.i != len(data) {
			s.fail("unexpected data after top-level value")
		}
	}
	return isObject
}

func checkRequired(r *Record, seenTS bool) error {
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

func (d *Decoder) fail(field, reason string) {
	if d.err == nil {
		d.err = fieldErr(field, reason)
	}
}

// Objects the decoder knows the fields of.
const (
	objTop = iota
	objTool
	objInvocation
	objContext
	objChain
	objCheckpoint
)

// Field ids: the members of every kind of object, numbered in keyOrder's
// order, so that a matched key dispatches through one jump table (field)
// instead of a string switch per kind.
const (
	fUnknown = iota
	fTraceID
	fSpanID
	fParentSpanID
	fTimestamp
	fAgentID
	fTool
	fInvocation
	fContext
	fAuthorizationMethod
	fRetentionPolicy
	fDataSubjectsAffected
	fImmutabilityProof
	fChain
	fToolName
	fToolVersion
	fToolPublisher
	fTrustLevel
	fVerificationScore
	fInputHash
	fOutputHash
	fDurationMS
	fStatus
	fPermissionsUsed
	fPermissionsDenied
	fOutputBytes
	fInputBytes
	fInputShape
	fDestinations
	fOutputDestinations
	fTaskID
	fUserID
	fDataClassification
	fEnvironment
	fProducer
	fSeq
	fPrev
	fHash
	fCheckpoint
	fKeyID
	fSig
	fieldCount
)

// keyOrder lists the keys of each kind of object in the order AppendJSON
// writes them (producers mostly keep it), for knownKey; the n-th key of
// all kinds together has field id n+1.
var keyOrder = [...][]string{
	objTop: {"trace_id", "span_id", "parent_span_id", "timestamp", "agent_id", "tool", "invocation", "context",
		"authorization_method", "retention_policy", "data_subjects_affected", "immutability_proof", "chain"},
	objTool: {"name", "version", "publisher", "trust_level", "verification_score"},
	objInvocation: {"input_hash", "output_hash", "duration_ms", "status", "permissions_used", "permissions_denied",
		"output_bytes", "input_bytes", "input_shape", "destinations", "output_destinations"},
	objContext:    {"task_id", "user_id", "data_classification", "environment"},
	objChain:      {"producer", "seq", "prev", "hash", "checkpoint"},
	objCheckpoint: {"key_id", "sig"},
}

// keyWord is a known key followed by `":` as three little-endian words
// (w) and the mask of their bytes (m); keys are at most 22 bytes.
type keyWord struct {
	w, m [3]uint64
	n    int   // bytes from after the opening quote to after the colon
	id   uint8 // field id
}

var keyWords = func() (t [len(keyOrder)][]keyWord) {
	id := uint8(fUnknown)
	for kind, keys := range keyOrder {
		for _, k := range keys {
			id++
			var b, m [24]byte
			copy(b[:], k+`":`)
			for i := range len(k) + 2 {
				m[i] = 0xff
			}
			kw := keyWord{n: len(k) + 2, id: id}
			for i := range 3 {
				kw.w[i] = binary.LittleEndian.Uint64(b[8*i:])
				kw.m[i] = binary.LittleEndian.Uint64(m[8*i:])
			}
			t[kind] = append(t[kind], kw)
		}
	}
	if id != fieldCount-1 {
		panic("record: keyOrder and the field ids disagree")
	}
	return t
}()

// fieldID returns the field id of key in objects of kind, fUnknown when
// the kind has no such field (the way of keys that knownKey did not match).
func fieldID(kind int, key []byte) uint8 {
	for j, k := range keyOrder[kind] {
		if string(key) == k {
			return keyWords[kind][j].id
		}
	}
	return fUnknown
}

// object decodes the object starting at s.i, at nesting depth, dispatching
// its members to field. Syntax errors land in d.s.err. Compact JSON takes
// the short ways: the expected key tested in line, the value and the next
// key without a whitespace call.
func (d *Decoder) object(depth, kind int) {
	s := &d.s
	if s.tooDeep(depth) {
		return
	}
	data := s.data
	s.i++ // '{'
	s.ws()
	if s.i < len(data) && data[s.i] == '}' {
		s.i++
		return
	}
	keys := keyWords[kind]
	next := 0 // keys[next] is the key expected next
	for {
		i := s.i
		if i >= len(data) {
			s.fail("unexpected end of input")
			return
		}
		if data[i] != '"' {
			s.fail("expected object key")
			return
		}
		var id uint8
		if j := next; j < len(keys) && i+25 <= len(data) && keys[j].is(data[i+1:i+25]) {
			id, next = keys[j].id, j+1
			s.i = i + 1 + keys[j].n // key and colon consumed
		} else if j := d.knownKey(keys, next+1); j >= 0 {
			id, next = keys[j].id, j+1
		} else {
			key, ok := d.readString("", depth) // at a quote
			if !ok {
				return
			}
			id = fieldID(kind, key)
			s.ws()
			if s.i >= len(data) || data[s.i] != ':' {
				s.fail("expected ':'")
				return
			}
			s.i++
		}
		if i = s.i; i >= len(data) || data[i] <= ' ' {
			s.ws()
			if s.i >= len(data) {
				s.fail("unexpected end of input")
				return
			}
		}
		if d.err != nil || id == fUnknown {
			s.value(depth) // a field error is final; only check syntax
		} else {
			d.field(id, depth)
		}
		if s.err != nil {
			return
		}
		if i = s.i; i+1 < len(data) && data[i] == ',' && data[i+1] == '"' {
			s.i = i + 1
			continue
		}
		s.ws()
		if s.i >= len(data) {
			s.fail("unexpected end of input")
			return
		}
		switch data[s.i] {
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

// is reports whether p (24 bytes from after a key's opening quote) starts
// with the key and `":`.
func (k *keyWord) is(p []byte) bool {
	_ = p[23]
	a, b, c := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), binary.LittleEndian.Uint64(p[16:])
	return (a^k.w[0])&k.m[0]|(b^k.w[1])&k.m[1]|(c^k.w[2])&k.m[2] == 0
}

// knownKey consumes the object key at s.i and its colon when they are
// `"k":` for one of keys[next:] (plainly written, no escape, no space
// before the colon) and returns its index, else -1, consuming nothing.
// Such a key is exactly what readString would return, found by comparing
// three words instead of a scan and a string compare: keys are most of a
// record's strings. Keys in the last 24 bytes of the input take the long
// way.
func (d *Decoder) knownKey(keys []keyWord, next int) int {
	data, i := d.s.data, d.s.i+1
	if i+24 > len(data) {
		return -1
	}
	p := data[i : i+24]
	a, b, c := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), binary.LittleEndian.Uint64(p[16:])
	for j := next; j < len(keys); j++ {
		if k := &keys[j]; (a^k.w[0])&k.m[0]|(b^k.w[1])&k.m[1]|(c^k.w[2])&k.m[2] == 0 {
			d.s.i = i + k.n
			return j
		}
	}
	return -1
}

// field decodes the value at s.i of the member id of the object being
// read; it consumes exactly one value.
func (d *Decoder) field(id uint8, depth int) {
	r := d.r
	switch id {
	case fTraceID:
		d.copyStr("trace_id", depth, &r.TraceID)
	case fSpanID:
		d.copyStr("span_id", depth, &r.SpanID)
	case fParentSpanID:
		d.copyStr("parent_span_id", depth, &r.ParentSpanID)
	case fTimestamp:
		if b, ok := d.str("timestamp", depth); ok {
			if t, ok := parseTimestamp(b); ok {
				r.Timestamp, d.seenTS = t, true
			} else {
				d.fail("timestamp", "must be an RFC 3339 time")
			}
		}
	case fAgentID:
		d.internStr("agent_id", depth, &r.AgentID)
	case fTool:
		d.subObject("tool", depth, objTool)
	case fInvocation:
		d.subObject("invocation", depth, objInvocation)
	case fContext:
		d.subObject("context", depth, objContext)
	case fAuthorizationMethod:
		d.internStr("authorization_method", depth, &r.AuthorizationMethod)
	case fRetentionPolicy:
		d.internStr("retention_policy", depth, &r.RetentionPolicy)
	case fDataSubjectsAffected:
		d.count("data_subjects_affected", depth, MaxCount, "must be at most 10000000000", &r.DataSubjectsAffected)
	case fImmutabilityProof:
		d.copyStr("immutability_proof", depth, &r.ImmutabilityProof)
	case fChain:
		if d.s.data[d.s.i] == '{' {
			// A repeated "chain" replaces the earlier one whole.
			r.Chain, d.chain = Chain{Seq: Absent}, chainSeen
		}
		d.subObject("chain", depth, objChain)

	case fToolName:
		d.internStr("tool.name", depth, &r.Tool.Name)
	case fToolVersion:
		d.internStr("tool.version", depth, &r.Tool.Version)
	case fToolPublisher:
		d.internStr("tool.publisher", depth, &r.Tool.Publisher)
	case fTrustLevel:
		d.enum("tool.trust_level", depth, trustLevels, "must be one of gold, silver, bronze, unverified", &r.Tool.TrustLevel)
	case fVerificationScore:
		if f, ok := d.number("tool.verification_score", "must be a number between 0 and 100", depth); ok {
			if f >= 0 && f <= 100 {
				r.Tool.VerificationScore = f
			} else {
				d.fail("tool.verification_score", "must be a number between 0 and 100")
			}
		}

	case fInputHash:
		d.copyStr("invocation.input_hash", depth, &r.Invocation.InputHash)
	case fOutputHash:
		d.copyStr("invocation.output_hash", depth, &r.Invocation.OutputHash)
	case fDurationMS:
		if f, ok := d.number("invocation.duration_ms", "must be a number >= 0", depth); ok {
			switch {
			case f < 0:
				d.fail("invocation.duration_ms", "must be a number >= 0")
			case f > MaxDurationMS:
				d.fail("invocation.duration_ms", "must be at most 604800000 (7 days)")
			default:
				r.Invocation.DurationMS = f
			}
		}
	case fStatus:
		d.enum("invocation.status", depth, statuses, "must be one of success, error, denied, timeout", &r.Invocation.Status)
	case fPermissionsUsed:
		in := &r.Invocation
		in.PermissionsUsed = d.strings("invocation.permissions_used", depth, in.PermissionsUsed[:0])
	case fPermissionsDenied:
		in := &r.Invocation
		in.PermissionsDenied = d.strings("invocation.permissions_denied", depth, in.PermissionsDenied[:0])
	case fOutputBytes:
		d.count("invocation.output_bytes", depth, MaxBytes, maxBytesReason, &r.Invocation.OutputBytes)
	case fInputBytes:
		d.count("invocation.input_bytes", depth, MaxBytes, maxBytesReason, &r.Invocation.InputBytes)
	case fInputShape:
		if b, ok := d.str("invocation.input_shape", depth); ok {
			if len(b) > MaxInputShapeBytes {
				d.fail("invocation.input_shape", "longer than 256 bytes")
				return
			}
			r.Invocation.InputShape = d.internBytes(b)
		}
	case fDestinations:
		in := &r.Invocation
		in.Destinations = d.destinations("invocation.destinations", depth, in.Destinations[:0], MaxDestinations)
	case fOutputDestinations:
		in := &r.Invocation
		in.OutputDestinations = d.destinations("invocation.output_destinations", depth, in.OutputDestinations[:0], MaxOutputDestinations)

	case fTaskID:
		d.copyStr("context.task_id", depth, &r.Context.TaskID)
	case fUserID:
		d.internStr("context.user_id", depth, &r.Context.UserID)
	case fDataClassification:
		d.enum("context.data_classification", depth, classifications, "must be one of public, internal, confidential, restricted", &r.Context.DataClassification)
	case fEnvironment:
		d.internStr("context.environment", depth, &r.Context.Environment)

	case fProducer:
		if b, ok := d.str("chain.producer", depth); ok {
			if msg := chainID(b); msg != "" {
				d.fail("chain.producer", msg)
				return
			}
			r.Chain.Producer = d.internBytes(b)
		}
	case fSeq:
		d.count("chain.seq", depth, MaxSeq, seqTooBig, &r.Chain.Seq)
	case fPrev:
		d.hexField("chain.prev", depth, r.Chain.Prev[:], hash64, chainPrev)
	case fHash:
		d.hexField("chain.hash", depth, r.Chain.Hash[:], hash64, chainHash)
	case fCheckpoint:
		if d.s.data[d.s.i] == '{' {
			r.Chain.KeyID, r.Chain.Sig = "", [64]byte{}
			d.chain = d.chain&^(chainKeyID|chainSig) | chainCkpt
		}
		d.subObject("chain.checkpoint", depth, objCheckpoint)

	case fKeyID:
		if b, ok := d.str("chain.checkpoint.key_id", depth); ok {
			if msg := chainID(b); msg != "" {
				d.fail("chain.checkpoint.key_id", msg)
				return
			}
			r.Chain.KeyID = d.internBytes(b)
			d.chain |= chainKeyID
		}
	case fSig:
		d.hexField("chain.checkpoint.sig", depth, r.Chain.Sig[:], sig128, chainSig)
	default:
		d.s.value(depth)
	}
}

// hexField decodes a lowercase hex string of exactly len(dst) bytes.
func (d *Decoder) hexField(field string, depth int, dst []byte, msg string, bit uint8) {
	if b, ok := d.str(field, depth); ok {
		if !lowerHex(b, dst) {
			d.fail(field, msg)
			return
		}
		d.chain |= bit
	}
}

// The enum values, in the order of their error messages.
var (
	trustLevels     = []string{"gold", "silver", "bronze", "unverified"}
	statuses        = []string{StatusSuccess, StatusError, StatusDenied, StatusTimeout}
	classifications = []string{"public", "internal", "confidential", "restricted"}
)

// enum reads a string that must be one of values and stores the matching
// constant (no allocation); "" is treated as absent, like before.
func (d *Decoder) enum(field string, depth int, values []string, msg string, dst *string) {
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

// null consumes a JSON null at s.i; it reports whether there was one (a
// null counts as an absent field).
func (d *Decoder) null() bool {
	s := &d.s
	if s.data[s.i] != 'n' {
		return false
	}
	s.lit("null") // a bad literal is a syntax error
	return true
}

// wrongType records a field error and skips the value at s.i.
func (d *Decoder) wrongType(field, reason string, depth int) {
	d.fail(field, reason)
	d.s.value(depth)
}

func (d *Decoder) subObject(field string, depth, kind int) {
	switch {
	case d.s.data[d.s.i] == '{':
		d.object(depth+1, kind)
	case d.null():
	default:
		d.wrongType(field, "must be an object", depth)
	}
}

// str reads a string value (valid until the next read) with readString;
// ok is false for null, for other types (a field error) and on syntax
// errors.
func (d *Decoder) str(field string, depth int) ([]byte, bool) {
	return d.readString(field, depth)
}

// notStr is str's way for a value at s.i that is not a string.
func (d *Decoder) notStr(field string, depth int) ([]byte, bool) {
	if !d.null() {
		d.wrongType(field, "must be a string", depth)
	}
	return nil, false
}

func (d *Decoder) internStr(field string, depth int, dst *string) {
	if b, ok := d.str(field, depth); ok {
		*dst = d.internBytes(b)
	}
}

// internBytes returns b as a string shared with earlier records when
// possible. The table is capped; once full, new strings are allocated.
func (d *Decoder) internBytes(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	// Slot from the length and three bytes: ids that differ in their last
	// characters (agent-01, agent-02) land in different slots.
	slot := &d.recent[(uint(n)*131+uint(b[0])*31+uint(b[n-1])*7+uint(b[n-1-n/4]))%internRecent]
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

// internRecent is the size of Decoder.recent (16 KiB): at 256 slots the
// default simulation's ~230 interned strings still missed into the map
// about once a record (issue 13: decode2).
const internRecent = 1024

// copyStr defers a high-cardinality string to the per-record arena.
func (d *Decoder) copyStr(field string, depth int, dst *string) {
	b, ok := d.str(field, depth)
	if !ok {
		return
	}
	// Empty strings are queued too: a later duplicate key must win.
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	d.pending = append(d.pending, pendingStr{dst: dst, start: start, end: len(d.arena)})
}

func (d *Decoder) strings(field string, depth int, dst []string) []string {
	return d.array(field, depth, dst, false)
}

// destinations reads a list of destination hashes (ValidDestination),
// at most max, copied to the per-record arena like copyStr.
// Pointers into dst are queued only once the list is complete, so growing
// dst cannot leave one dangling.
func (d *Decoder) destinations(field string, depth int, dst []string, max int) []string {
	d.spans = d.spans[:0]
	d.destMax = max
	dst = d.array(field, depth, dst, true)
	n := len(dst)
	for range d.spans {
		dst = append(dst, "")
	}
	for i, sp := range d.spans {
		d.pending = append(d.pending, pendingStr{dst: &dst[n+i], start: sp.start, end: sp.end})
	}
	return dst
}

// array reads an array of strings into dst (interned), or with dest into
// d.spans (validated destination hashes).
func (d *Decoder) array(field string, depth int, dst []string, dest bool) []string {
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
			b, ok := d.readString(field, depth) // at a quote
			if !ok {
				return dst
			}
			switch {
			case !dest:
				dst = append(dst, d.internBytes(b))
			case !ValidDestination(b):
				d.fail(field, destinationReason)
			case len(d.spans) >= d.destMax:
				d.fail(field, "more than "+strconv.Itoa(d.destMax)+" entries")
			default:
				start := len(d.arena)
				d.arena = append(d.arena, b...)
				d.spans = append(d.spans, span{start, len(d.arena)})
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
func (d *Decoder) rawNumber(field, reason string, depth int) ([]byte, bool) {
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
func (d *Decoder) number(field, reason string, depth int) (float64, bool) {
	if n, ok := d.s.plainUint(); ok {
		return float64(n), true
	}
	raw, ok := d.rawNumber(field, reason, depth)
	if !ok {
		return 0, false
	}
	if n, ok := smallUint(raw); ok {
		return float64(n), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		d.fail(field, reason)
		return 0, false
	}
	return f, true
}

// smallUint parses up to 15 plain digits, which convert to float64 exactly.
func smallUint(b []byte) (int64, bool) {
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

const maxBytesReason = "must be at most 1099511627776 (1 TiB)"

// count decodes an integer between 0 and max into dst (tooBig is the
// reason beyond max); integral forms such as 1e3 or 1042.0 are accepted.
func (d *Decoder) count(field string, depth int, max int64, tooBig string, dst *int64) {
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
	n, ok := smallUint(raw)
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
// encoding/json. A value at s.i that is not a string is field's problem
// (notStr): the test is here, not in a separate layer, because strings are
// most of a record's values.
func (d *Decoder) readString(field string, depth int) ([]byte, bool) {
	data := d.s.data
	if data[d.s.i] != '"' {
		return d.notStr(field, depth)
	}
	start := d.s.i + 1
	i := start
	// Eight bytes a step; plain ASCII strings (most) never leave this loop
	// but through the fast return.
	for ; i >= 0 && i+8 <= len(data); i += 8 {
		if m := stopBytes(binary.LittleEndian.Uint64(data[i : i+8])); m != 0 {
			if i += bits.TrailingZeros64(m) / 8; data[i] == '"' {
				d.s.i = i + 1
				return data[start:i], true // fast path: no escapes
			}
			return d.readSlow(start, i)
		}
	}
	for ; i >= 0 && i < len(data) && strASCII[data[i]]; i++ {
	}
	if i >= 0 && i < len(data) && data[i] == '"' {
		d.s.i = i + 1
		return data[start:i], true
	}
	return d.readSlow(start, i)
}

// readSlow is readString's way (out of line, so that the fast path keeps
// its registers) from the first byte at i that is not strASCII: a byte ≥
// 0x80 is noted for Decode's UTF-8 check and the scan goes on without
// stopping at such bytes; an escape or a control byte goes to readEscaped.
func (d *Decoder) readSlow(start, i int) ([]byte, bool) {
	data := d.s.data
	if i < len(data) && data[i] >= 0x80 {
		d.s.high = true
		if i = skipSafe(data, i); i < len(data) && data[i] == '"' {
			d.s.i = i + 1
			return data[start:i], true
		}
	}
	return d.readEscaped(start, i)
}

// readEscaped is readString's slow path (out of line, so that the fast
// path keeps its registers): the string opened at start, whose first byte
// that is not strSafe is at i.
func (d *Decoder) readEscaped(start, i int) ([]byte, bool) {
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
			if c >= 0x80 {
				s.high = true
			}
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
			r, ok := hex4(data, i+2)
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
				if r2, ok := hex4(data, i+2); ok && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
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

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
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
