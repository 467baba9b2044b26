// Package record defines the v1 audit record (DESIGN §2): one tool call made
// by an AI agent, decoded from one JSON object. Decoding validates required
// fields, types, enum values and size/depth limits; unknown fields are ignored.
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
}

// Context is the task context of the call.
type Context struct {
	TaskID             string
	UserID             string
	DataClassification string
	Environment        string
}

// Clone returns a deep copy that does not share slices with r.
func (r *Record) Clone() *Record {
	c := *r
	c.Invocation.PermissionsUsed = append([]string(nil), r.Invocation.PermissionsUsed...)
	c.Invocation.PermissionsDenied = append([]string(nil), r.Invocation.PermissionsDenied...)
	return &c
}
