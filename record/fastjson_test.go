// Code in this file is test-only: the fastjson-based decoder, kept for comparison.

package record

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// fjDecoder is the first implementation of Decoder: the strict scan followed
// by a reused fastjson.Parser. It is kept in the tests as the benchmark
// baseline (BenchmarkDecodeFastjson) and as a differential oracle in
// FuzzDecode; the production Decoder decodes in one pass and is faster.
type fjDecoder struct {
	lim    Limits
	scan   scanner
	parser fastjson.Parser
	intern map[string]string
	maxInt int

	// High-cardinality strings are gathered into arena and turned into a
	// single string at the end of Decode (one allocation per record).
	arena   []byte
	pending []pendingStr
	num     []byte

	r      *Record
	err    error
	seenTS bool
	chain  uint8
}

func newFJDecoder(l Limits) *fjDecoder {
	return &fjDecoder{lim: l, intern: make(map[string]string, 256), maxInt: DefaultInternEntries}
}

// Decode parses one JSON object from data into r and validates it. r's
// slices are reused; every field of r is overwritten, so nothing of a
// previous record survives. data is not retained. On error the returned
// error is an *Error and r holds unspecified (but safe) contents.
func (d *fjDecoder) Decode(data []byte, r *Record) error {
	r.Reset()
	if len(data) > d.lim.MaxRecordBytes {
		return fieldErr("record", "larger than "+strconv.Itoa(d.lim.MaxRecordBytes)+" bytes")
	}
	if err := d.scan.check(data, d.lim.MaxDepth); err != nil {
		return err
	}
	v, err := d.parser.ParseBytes(data)
	if err != nil {
		// Unreachable after the strict scan; kept content-free regardless.
		return fieldErr("record", "invalid JSON")
	}
	o, err := v.Object()
	if err != nil {
		return fieldErr("record", "must be a JSON object")
	}
	d.r, d.err, d.seenTS, d.chain = r, nil, false, 0
	d.arena, d.pending = d.arena[:0], d.pending[:0]
	o.Visit(d.top)
	d.r = nil
	if d.err == nil && len(d.pending) > 0 {
		s := string(d.arena)
		for _, p := range d.pending {
			*p.dst = s[p.start:p.end]
		}
	}
	clear(d.pending) // drop pointers into r
	if d.err != nil {
		return d.err
	}
	if err := checkRequired(r, d.seenTS); err != nil {
		return err
	}
	return checkChain(&r.Chain, d.chain)
}

func (d *fjDecoder) fail(field, reason string) {
	if d.err == nil {
		d.err = fieldErr(field, reason)
	}
}

func (d *fjDecoder) top(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	r := d.r
	switch string(k) {
	case "trace_id":
		d.copyStr("trace_id", v, &r.TraceID)
	case "span_id":
		d.copyStr("span_id", v, &r.SpanID)
	case "parent_span_id":
		d.copyStr("parent_span_id", v, &r.ParentSpanID)
	case "timestamp":
		d.timestamp(v)
	case "agent_id":
		d.internStr("agent_id", v, &r.AgentID)
	case "tool":
		if o := d.object("tool", v); o != nil {
			o.Visit(d.tool)
		}
	case "invocation":
		if o := d.object("invocation", v); o != nil {
			o.Visit(d.invocation)
		}
	case "context":
		if o := d.object("context", v); o != nil {
			o.Visit(d.context)
		}
	case "authorization_method":
		d.internStr("authorization_method", v, &r.AuthorizationMethod)
	case "retention_policy":
		d.internStr("retention_policy", v, &r.RetentionPolicy)
	case "data_subjects_affected":
		d.count("data_subjects_affected", v, MaxCount, "must be at most 10000000000", &r.DataSubjectsAffected)
	case "immutability_proof":
		d.copyStr("immutability_proof", v, &r.ImmutabilityProof)
	case "chain":
		if v.Type() == fastjson.TypeObject {
			r.Chain, d.chain = Chain{Seq: Absent}, chainSeen
		}
		if o := d.object("chain", v); o != nil {
			o.Visit(d.chainField)
		}
	}
}

func (d *fjDecoder) chainField(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	c := &d.r.Chain
	switch string(k) {
	case "producer":
		if b, ok := d.str("chain.producer", v); ok {
			if msg := chainID(b); msg != "" {
				d.fail("chain.producer", msg)
				return
			}
			c.Producer = d.internBytes(b)
		}
	case "seq":
		d.count("chain.seq", v, MaxSeq, seqTooBig, &c.Seq)
	case "prev":
		d.hexField("chain.prev", v, c.Prev[:], hash64, chainPrev)
	case "hash":
		d.hexField("chain.hash", v, c.Hash[:], hash64, chainHash)
	case "checkpoint":
		if v.Type() == fastjson.TypeObject {
			c.KeyID, c.Sig = "", [64]byte{}
			d.chain = d.chain&^(chainKeyID|chainSig) | chainCkpt
		}
		if o := d.object("chain.checkpoint", v); o != nil {
			o.Visit(d.checkpoint)
		}
	}
}

func (d *fjDecoder) checkpoint(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	c := &d.r.Chain
	switch string(k) {
	case "key_id":
		if b, ok := d.str("chain.checkpoint.key_id", v); ok {
			if msg := chainID(b); msg != "" {
				d.fail("chain.checkpoint.key_id", msg)
				return
			}
			c.KeyID = d.internBytes(b)
			d.chain |= chainKeyID
		}
	case "sig":
		d.hexField("chain.checkpoint.sig", v, c.Sig[:], sig128, chainSig)
	}
}

func (d *fjDecoder) hexField(field string, v *fastjson.Value, dst []byte, msg string, bit uint8) {
	if b, ok := d.str(field, v); ok {
		if !lowerHex(b, dst) {
			d.fail(field, msg)
			return
		}
		d.chain |= bit
	}
}

func (d *fjDecoder) tool(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	t := &d.r.Tool
	switch string(k) {
	case "name":
		d.internStr("tool.name", v, &t.Name)
	case "version":
		d.internStr("tool.version", v, &t.Version)
	case "publisher":
		d.internStr("tool.publisher", v, &t.Publisher)
	case "trust_level":
		if b, ok := d.str("tool.trust_level", v); ok && len(b) > 0 {
			switch string(b) {
			case "gold":
				t.TrustLevel = "gold"
			case "silver":
				t.TrustLevel = "silver"
			case "bronze":
				t.TrustLevel = "bronze"
			case "unverified":
				t.TrustLevel = "unverified"
			default:
				d.fail("tool.trust_level", "must be one of gold, silver, bronze, unverified")
			}
		}
	case "verification_score":
		if f, ok := d.number(v); ok && f >= 0 && f <= 100 {
			t.VerificationScore = f
		} else if v.Type() != fastjson.TypeNull {
			d.fail("tool.verification_score", "must be a number between 0 and 100")
		}
	}
}

func (d *fjDecoder) invocation(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	in := &d.r.Invocation
	switch string(k) {
	case "input_hash":
		d.copyStr("invocation.input_hash", v, &in.InputHash)
	case "output_hash":
		d.copyStr("invocation.output_hash", v, &in.OutputHash)
	case "duration_ms":
		if f, ok := d.number(v); ok && f >= 0 && !math.IsInf(f, 0) {
			if f > MaxDurationMS {
				d.fail("invocation.duration_ms", "must be at most 604800000 (7 days)")
			} else {
				in.DurationMS = f
			}
		} else if v.Type() != fastjson.TypeNull {
			d.fail("invocation.duration_ms", "must be a number >= 0")
		}
	case "status":
		if b, ok := d.str("invocation.status", v); ok && len(b) > 0 {
			switch string(b) {
			case StatusSuccess:
				in.Status = StatusSuccess
			case StatusError:
				in.Status = StatusError
			case StatusDenied:
				in.Status = StatusDenied
			case StatusTimeout:
				in.Status = StatusTimeout
			default:
				d.fail("invocation.status", "must be one of success, error, denied, timeout")
			}
		}
	case "permissions_used":
		in.PermissionsUsed = d.strings("invocation.permissions_used", v, in.PermissionsUsed[:0])
	case "permissions_denied":
		in.PermissionsDenied = d.strings("invocation.permissions_denied", v, in.PermissionsDenied[:0])
	case "destinations":
		in.Destinations = d.destinations("invocation.destinations", v, in.Destinations[:0], MaxDestinations)
	case "output_destinations":
		in.OutputDestinations = d.destinations("invocation.output_destinations", v, in.OutputDestinations[:0], MaxOutputDestinations)
	case "output_bytes":
		d.count("invocation.output_bytes", v, MaxBytes, maxBytesReason, &in.OutputBytes)
	case "input_bytes":
		d.count("invocation.input_bytes", v, MaxBytes, maxBytesReason, &in.InputBytes)
	case "input_shape":
		if b, ok := d.str("invocation.input_shape", v); ok {
			if len(b) > MaxInputShapeBytes {
				d.fail("invocation.input_shape", "longer than 256 bytes")
				return
			}
			in.InputShape = d.internBytes(b)
		}
	}
}

func (d *fjDecoder) context(k []byte, v *fastjson.Value) {
	if d.err != nil {
		return
	}
	c := &d.r.Context
	switch string(k) {
	case "task_id":
		d.copyStr("context.task_id", v, &c.TaskID)
	case "user_id":
		d.internStr("context.user_id", v, &c.UserID)
	case "data_classification":
		if b, ok := d.str("context.data_classification", v); ok && len(b) > 0 {
			switch string(b) {
			case "public":
				c.DataClassification = "public"
			case "internal":
				c.DataClassification = "internal"
			case "confidential":
				c.DataClassification = "confidential"
			case "restricted":
				c.DataClassification = "restricted"
			default:
				d.fail("context.data_classification", "must be one of public, internal, confidential, restricted")
			}
		}
	case "environment":
		d.internStr("context.environment", v, &c.Environment)
	}
}

// str returns the unescaped bytes of a string value (valid until the next
// parse). null counts as absent: ok is false and no error is recorded.
func (d *fjDecoder) str(field string, v *fastjson.Value) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return b, true
	case fastjson.TypeNull:
		return nil, false
	}
	d.fail(field, "must be a string")
	return nil, false
}

func (d *fjDecoder) internStr(field string, v *fastjson.Value, dst *string) {
	if b, ok := d.str(field, v); ok {
		*dst = d.internBytes(b)
	}
}

// internBytes returns b as a string shared with earlier records when
// possible. The table is capped; once full, new strings are allocated.
func (d *fjDecoder) internBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.intern[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(b) <= maxInternLen && len(d.intern) < d.maxInt {
		d.intern[s] = s
	}
	return s
}

// copyStr defers a high-cardinality string to the per-record arena.
func (d *fjDecoder) copyStr(field string, v *fastjson.Value, dst *string) {
	b, ok := d.str(field, v)
	if !ok {
		return
	}
	if len(b) == 0 {
		*dst = ""
		// A later duplicate key must still win over an earlier pending one.
		d.pending = append(d.pending, pendingStr{dst: dst})
		return
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	d.pending = append(d.pending, pendingStr{dst: dst, start: start, end: len(d.arena)})
}

func (d *fjDecoder) timestamp(v *fastjson.Value) {
	b, ok := d.str("timestamp", v)
	if !ok {
		return
	}
	t, ok := parseTimestamp(b)
	if !ok {
		d.fail("timestamp", "must be an RFC 3339 time")
		return
	}
	d.r.Timestamp, d.seenTS = t, true
}

func (d *fjDecoder) object(field string, v *fastjson.Value) *fastjson.Object {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		return o
	case fastjson.TypeNull:
		return nil
	}
	d.fail(field, "must be an object")
	return nil
}

func (d *fjDecoder) strings(field string, v *fastjson.Value, dst []string) []string {
	switch v.Type() {
	case fastjson.TypeArray:
	case fastjson.TypeNull:
		return dst
	default:
		d.fail(field, "must be an array of strings")
		return dst
	}
	a, _ := v.Array()
	for _, e := range a {
		if e.Type() != fastjson.TypeString {
			d.fail(field, "must be an array of strings")
			return dst
		}
		b, _ := e.StringBytes()
		dst = append(dst, d.internBytes(b))
	}
	return dst
}

func (d *fjDecoder) destinations(field string, v *fastjson.Value, dst []string, max int) []string {
	switch v.Type() {
	case fastjson.TypeArray:
	case fastjson.TypeNull:
		return dst
	default:
		d.fail(field, "must be an array of strings")
		return dst
	}
	a, _ := v.Array()
	for _, e := range a {
		if e.Type() != fastjson.TypeString {
			d.fail(field, "must be an array of strings")
			return dst
		}
		b, _ := e.StringBytes()
		switch {
		case !ValidDestination(b):
			d.fail(field, destinationReason)
			return dst
		case len(dst) >= max:
			d.fail(field, "more than "+strconv.Itoa(max)+" entries")
			return dst
		}
		dst = append(dst, string(b))
	}
	return dst
}

// number parses a JSON number exactly (fastfloat is not correctly rounded
// for long mantissas, which would break the AppendJSON round trip).
func (d *fjDecoder) number(v *fastjson.Value) (float64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	d.num = v.MarshalTo(d.num[:0]) // the raw number text, no allocation
	if n, ok := smallUint(d.num); ok {
		return float64(n), true
	}
	f, err := strconv.ParseFloat(string(d.num), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// count decodes an integer >= 0 into dst; integral forms such as 1e3 or
// 1042.0 are accepted.
func (d *fjDecoder) count(field string, v *fastjson.Value, max int64, tooBig string, dst *int64) {
	if v.Type() == fastjson.TypeNull {
		return
	}
	if v.Type() == fastjson.TypeNumber {
		d.num = v.MarshalTo(d.num[:0])
		n, ok := smallUint(d.num)
		if !ok {
			if i, err := strconv.ParseInt(string(d.num), 10, 64); err == nil && i >= 0 {
				n, ok = i, true
			} else if f, err := strconv.ParseFloat(string(d.num), 64); err == nil && f >= 0 && f == math.Trunc(f) {
				if f > float64(max) {
					d.fail(field, tooBig)
					return
				}
				n, ok = int64(f), true
			}
		}
		if ok && n > max {
			d.fail(field, tooBig)
			return
		}
		if ok {
			*dst = n
			return
		}
	}
	d.fail(field, "must be an integer >= 0")
}

// check validates data as exactly one JSON value.
func (s *scanner) check(data []byte, maxDepth int) error {
	*s = scanner{data: data, maxDepth: maxDepth}
	if !utf8.Valid(data) {
		return fieldErr("record", "invalid JSON: invalid UTF-8")
	}
	s.ws()
	if !s.value(0) {
		return s.err
	}
	s.ws()
	if s.i != len(data) {
		s.fail("unexpected data after top-level value")
		return s.err
	}
	return nil
}
