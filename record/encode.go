package record

import (
	"math"
	"strconv"

	"github.com/toolwatch/toolwatch/internal/jsonw"
)

// AppendJSON appends the canonical v1 JSON encoding of r to b: one line,
// nested objects and key order as in the docs/design.md §2 reference record,
// timestamp as RFC 3339 UTC with milliseconds. Required fields are always
// written; absent optional fields (""/Absent/empty slices) are omitted, and
// the "context" object is omitted when all its fields are. A non-finite
// float is written as null. Invalid UTF-8 in strings becomes U+FFFD.
// The "chain" object, when the record carries one (Chain.Seq > 0), comes
// last: producer, seq, prev (omitted at seq 1), hash, then checkpoint
// {key_id, sig} when KeyID is set; hashes and signature as lowercase hex.
// It does not allocate when b has enough capacity.
func (r *Record) AppendJSON(b []byte) []byte { return r.appendJSON(b, true) }

// AppendChainInput appends the bytes chain.hash is computed over: the
// canonical encoding (AppendJSON) without chain.hash and without
// chain.checkpoint. For a record without a chain it equals AppendJSON.
func (r *Record) AppendChainInput(b []byte) []byte { return r.appendJSON(b, false) }

func (r *Record) appendJSON(b []byte, seal bool) []byte {
	b = append(b, `{"trace_id":`...)
	b = jsonw.AppendString(b, r.TraceID)
	b = append(b, `,"span_id":`...)
	b = jsonw.AppendString(b, r.SpanID)
	b = optString(b, `,"parent_span_id":`, r.ParentSpanID)
	b = append(b, `,"timestamp":"`...)
	b = appendTimestamp(b, r.Timestamp)
	b = append(b, `","agent_id":`...)
	b = jsonw.AppendString(b, r.AgentID)

	t := &r.Tool
	b = append(b, `,"tool":{"name":`...)
	b = jsonw.AppendString(b, t.Name)
	b = optString(b, `,"version":`, t.Version)
	b = optString(b, `,"publisher":`, t.Publisher)
	b = optString(b, `,"trust_level":`, t.TrustLevel)
	if t.VerificationScore != Absent {
		b = append(b, `,"verification_score":`...)
		b = appendFloat(b, t.VerificationScore)
	}

	in := &r.Invocation
	b = append(b, `},"invocation":{`...)
	if in.InputHash != "" {
		b = append(b, `"input_hash":`...)
		b = append(jsonw.AppendString(b, in.InputHash), ',')
	}
	if in.OutputHash != "" {
		b = append(b, `"output_hash":`...)
		b = append(jsonw.AppendString(b, in.OutputHash), ',')
	}
	b = append(b, `"duration_ms":`...)
	b = appendFloat(b, in.DurationMS)
	b = append(b, `,"status":`...)
	b = jsonw.AppendString(b, in.Status)
	b = optStrings(b, `,"permissions_used":`, in.PermissionsUsed)
	b = optStrings(b, `,"permissions_denied":`, in.PermissionsDenied)
	b = optInt(b, `,"output_bytes":`, in.OutputBytes)
	b = optInt(b, `,"input_bytes":`, in.InputBytes)
	b = optString(b, `,"input_shape":`, in.InputShape)
	b = optStrings(b, `,"destinations":`, in.Destinations)
	b = optStrings(b, `,"output_destinations":`, in.OutputDestinations)
	b = append(b, '}')

	c := &r.Context
	if c.TaskID != "" || c.UserID != "" || c.DataClassification != "" || c.Environment != "" {
		b = append(b, `,"context":{`...)
		n := len(b)
		b = optString(b, `,"task_id":`, c.TaskID)
		b = optString(b, `,"user_id":`, c.UserID)
		b = optString(b, `,"data_classification":`, c.DataClassification)
		b = optString(b, `,"environment":`, c.Environment)
		b = append(b[:n], b[n+1:]...) // drop the first field's leading comma
		b = append(b, '}')
	}

	b = optString(b, `,"authorization_method":`, r.AuthorizationMethod)
	b = optString(b, `,"retention_policy":`, r.RetentionPolicy)
	b = optInt(b, `,"data_subjects_affected":`, r.DataSubjectsAffected)
	b = optString(b, `,"immutability_proof":`, r.ImmutabilityProof)
	if ch := &r.Chain; ch.Seq > 0 {
		b = append(b, `,"chain":{"producer":`...)
		b = jsonw.AppendString(b, ch.Producer)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, ch.Seq, 10)
		if ch.Seq > 1 {
			b = append(b, `,"prev":"`...)
			b = append(appendHex(b, ch.Prev[:]), '"')
		}
		if seal {
			b = append(b, `,"hash":"`...)
			b = append(appendHex(b, ch.Hash[:]), '"')
			if ch.KeyID != "" {
				b = append(b, `,"checkpoint":{"key_id":`...)
				b = jsonw.AppendString(b, ch.KeyID)
				b = append(b, `,"sig":"`...)
				b = append(appendHex(b, ch.Sig[:]), `"}`...)
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return jsonw.AppendString(b, s)
}

func optInt(b []byte, key string, n int64) []byte {
	if n == Absent {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, n, 10)
}

func optStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, s)
	}
	return append(b, ']')
}

// appendFloat writes f the way encoding/json does: shortest representation
// that parses back to the same float64, exponent form only for very small
// or very large magnitudes.
func appendFloat(b []byte, f float64) []byte {
	if f != 0 && f == math.Trunc(f) && math.Abs(f) < 1e15 {
		// Integral values (most durations) print as integers either way;
		// AppendInt is several times faster. 0 takes the general path,
		// which keeps -0.
		return strconv.AppendInt(b, int64(f), 10)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
