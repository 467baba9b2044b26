// Package record defines the v1 audit record (docs/design.md §2): one tool call made
// by an AI agent, decoded from one JSON object. Decoding validates required
// fields, types, enum values and size/depth limits; unknown fields are ignored.
//
// A Decoder checks the size limit, then decodes in one strict RFC 8259 pass
// (escapes, number grammar, nesting depth checked over the whole input,
// unknown fields included) with no intermediate tree, and reports the first
// problem as a precise, content-free *Error ("record: nesting deeper than
// 16", "invocation.status: must be one of ..."), in the precedence size,
// UTF-8, syntax and depth, first field error in document order, missing
// required fields. UTF-8 validity is checked in the same pass: the string
// scan flags bytes ≥ 0x80 (the grammar admits them nowhere else), and
// utf8.Valid runs over the input only for a record that has one or fails
// the syntax. A record laid out as AppendJSON writes it is read by a
// template (canonical.go: keys compared as words against constants, values
// read in place); at the first byte that does not fit, the general path
// decodes the record again from the start, so either path gives the same
// record and the same error. On the general path, keys written as
// AppendJSON writes them are matched a word at a time and dispatch through
// one table of field ids. A JSON null counts as an absent field. Timestamps are RFC 3339 with optional
// fractional seconds and are converted to UTC; the future-skew check belongs
// to the engine. Low-cardinality strings are interned in a bounded
// per-Decoder table; the high-cardinality ones (ids, hashes, proof) share one
// allocation per record.
//
// The optional "chain" object (Chain) links a producer's records into a
// hash chain with signed checkpoints; the decoder checks its syntax (hex
// lengths, seq range, prev absent exactly at seq 1), package chain the
// hashes and signatures.
//
// Record.AppendJSON writes the canonical v1 encoding (reference key order,
// absent optional fields omitted, millisecond UTC timestamps), which Decode
// reads back to an equal record.
package record

import "time"

// Status values of Invocation.Status.
const (
	StatusSuccess = "success"
	StatusError   = "error"
	StatusDenied  = "denied"
	StatusTimeout = "timeout"
)

// Absent marks an optional numeric field that the record did not carry.
const Absent = -1

// Record is one decoded, validated audit record. Optional numeric fields that
// were absent hold Absent (-1); optional strings that were absent are "".
// A Decoder reuses a Record's slices, so callers that keep a record past the
// next Decode must copy it (Clone).
type Record struct {
	TraceID      string
	SpanID       string
	ParentSpanID string
	Timestamp    time.Time // event time, UTC
	AgentID      string
	Tool         Tool
	Invocation   Invocation
	Context      Context

	// Compliance extension.
	AuthorizationMethod  string
	RetentionPolicy      string
	DataSubjectsAffected int64 // Absent when missing
	ImmutabilityProof    string

	// Chain is the optional tamper-evidence chain (Seq 0: none).
	Chain Chain
}

// Tool identifies the called tool.
type Tool struct {
	Name              string
	Version           string
	Publisher         string
	TrustLevel        string  // gold, silver, bronze, unverified, or ""
	VerificationScore float64 // 0..100, Absent when missing
}

// Invocation describes the call itself.
type Invocation struct {
	InputHash         string
	OutputHash        string
	DurationMS        float64
	Status            string // success, error, denied, timeout
	PermissionsUsed   []string
	PermissionsDenied []string // "type:action"
	OutputBytes       int64    // Absent when missing
	InputBytes        int64    // Absent when missing
	InputShape        string
	// Destinations are where the call sends data, OutputDestinations the
	// destinations its output mentioned: keyed hashes "type:hex" (see
	// ValidDestination), never raw values. nil when absent.
	Destinations       []string
	OutputDestinations []string
}

// Context is the task context of the call.
type Context struct {
	TaskID             string
	UserID             string
	DataClassification string
	Environment        string
}

// Reset clears r to an empty record, with the optional numeric fields (and
// the required Invocation.DurationMS, until set) at Absent, keeping the
// capacity of its slices. Producers building records can start from it.
func (r *Record) Reset() {
	used, denied := r.Invocation.PermissionsUsed[:0], r.Invocation.PermissionsDenied[:0]
	dests, outDests := r.Invocation.Destinations[:0], r.Invocation.OutputDestinations[:0]
	*r = Record{DataSubjectsAffected: Absent}
	r.Tool.VerificationScore = Absent
	r.Invocation.DurationMS = Absent // distinguishes "missing" from 0
	r.Invocation.OutputBytes = Absent
	r.Invocation.InputBytes = Absent
	r.Invocation.PermissionsUsed, r.Invocation.PermissionsDenied = used, denied
	r.Invocation.Destinations, r.Invocation.OutputDestinations = dests, outDests
}

// Clone returns a deep copy that does not share slices with r.
func (r *Record) Clone() *Record {
	c := *r
	c.Invocation.PermissionsUsed = append([]string(nil), r.Invocation.PermissionsUsed...)
	c.Invocation.PermissionsDenied = append([]string(nil), r.Invocation.PermissionsDenied...)
	c.Invocation.Destinations = append([]string(nil), r.Invocation.Destinations...)
	c.Invocation.OutputDestinations = append([]string(nil), r.Invocation.OutputDestinations...)
	return &c
}
