package otlp

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/record"
)

// mapper turns tool-call spans into audit records. It is not safe for
// concurrent use (it reuses a record.Decoder and buffers); the receiver
// keeps one per in-flight request in a pool.
type mapper struct {
	sel    ToolSpans
	attrs  Attributes
	dec    *record.Decoder
	rec    record.Record // the record being built
	check  record.Record // the same record decoded back (validation)
	hexbuf [32]byte
}

func newMapper(sel ToolSpans, attrs Attributes, lim record.Limits) *mapper {
	return &mapper{sel: sel, attrs: attrs, dec: record.NewDecoder(lim)}
}

// rejection says why a tool span could not become a record. Field is the
// record field at fault (the metric's reason label, a bounded set); Reason
// is the human-readable text for partial_success.
type rejection struct {
	Field  string
	Reason string
}

func (r *rejection) Error() string { return r.Field + ": " + r.Reason }

func reject(field, reason string) *rejection { return &rejection{Field: field, Reason: reason} }

// isToolSpan reports whether sp is a tool call: its operation attribute
// names one of the tool operations, or (by_tool_name) it carries a tool
// name attribute. Only span attributes count, so a resource attribute
// cannot turn every span of a service into a tool call.
func (m *mapper) isToolSpan(sp ptrace.Span) bool {
	attrs := sp.Attributes()
	if len(m.sel.Operations) > 0 {
		for _, n := range m.attrs.Operation {
			if v, ok := attrs.Get(n); ok {
				op := v.AsString()
				for _, want := range m.sel.Operations {
					if op == want {
						return true
					}
				}
			}
		}
	}
	if m.sel.ByToolName {
		for _, n := range m.attrs.ToolName {
			if _, ok := attrs.Get(n); ok {
				return true
			}
		}
	}
	return false
}

// mapSpan builds the record of the tool span sp (of resource res), appends
// its canonical JSON to dst and returns it with the record's environment
// and agent (for the subject). The JSON is validated by decoding it back
// with the record package's decoder, so a published record is exactly one
// the consumer accepts.
func (m *mapper) mapSpan(dst []byte, res pcommon.Map, sp ptrace.Span) ([]byte, *record.Record, *rejection) {
	r := &m.rec
	r.Reset()
	if tid := sp.TraceID(); tid.IsEmpty() {
		return dst, nil, reject("trace_id", "span has no trace id")
	} else {
		r.TraceID = m.hex(tid[:])
	}
	if sid := sp.SpanID(); sid.IsEmpty() {
		return dst, nil, reject("span_id", "span has no span id")
	} else {
		r.SpanID = m.hex(sid[:])
	}
	if pid := sp.ParentSpanID(); !pid.IsEmpty() {
		r.ParentSpanID = m.hex(pid[:])
	}
	start, end := sp.StartTimestamp(), sp.EndTimestamp()
	if start == 0 {
		return dst, nil, reject("timestamp", "span has no start time")
	}
	r.Timestamp = start.AsTime().UTC()

	spanAttrs := sp.Attributes()
	get := func(names []string) (pcommon.Value, bool) { return lookup(names, spanAttrs, res) }
	str := func(names []string) string {
		if v, ok := get(names); ok {
			return v.AsString()
		}
		return ""
	}
	a := &m.attrs
	r.AgentID = str(a.AgentID)
	r.Tool.Name = str(a.ToolName)
	r.Tool.Version = str(a.ToolVersion)
	r.Tool.Publisher = str(a.ToolPublisher)
	r.Tool.TrustLevel = strings.ToLower(str(a.ToolTrustLevel))
	if v, ok := get(a.ToolVerificationScore); ok {
		f, ok := number(v)
		if !ok {
			return dst, nil, reject("tool.verification_score", "attribute is not a number")
		}
		r.Tool.VerificationScore = f
	}
	r.Invocation.InputHash = str(a.InputHash)
	r.Invocation.OutputHash = str(a.OutputHash)
	r.Invocation.InputShape = str(a.InputShape)

	if v, ok := get(a.DurationMS); ok {
		f, ok := number(v)
		if !ok {
			return dst, nil, reject("invocation.duration_ms", "attribute is not a number")
		}
		r.Invocation.DurationMS = f
	} else {
		if end == 0 || end < start {
			return dst, nil, reject("invocation.duration_ms", "no duration attribute and the span's end time is missing or before its start")
		}
		r.Invocation.DurationMS = float64(end-start) / 1e6
	}

	if s := str(a.Status); s != "" {
		r.Invocation.Status = strings.ToLower(s)
	} else {
		r.Invocation.Status = statusFromSpan(sp.Status().Code(), str(a.ErrorType))
	}
	var ok bool
	if r.Invocation.PermissionsUsed, ok = m.strings(r.Invocation.PermissionsUsed, a.PermissionsUsed, spanAttrs, res); !ok {
		return dst, nil, reject("invocation.permissions_used", "attribute is not a string or string array")
	}
	if r.Invocation.PermissionsDenied, ok = m.strings(r.Invocation.PermissionsDenied, a.PermissionsDenied, spanAttrs, res); !ok {
		return dst, nil, reject("invocation.permissions_denied", "attribute is not a string or string array")
	}
	var rej *rejection
	if r.Invocation.Destinations, rej = m.destinations(r.Invocation.Destinations, a.Destinations, spanAttrs, res, "invocation.destinations"); rej != nil {
		return dst, nil, rej
	}
	if r.Invocation.OutputDestinations, rej = m.destinations(r.Invocation.OutputDestinations, a.OutputDestinations, spanAttrs, res, "invocation.output_destinations"); rej != nil {
		return dst, nil, rej
	}
	if v, ok := get(a.OutputBytes); ok {
		n, ok := integer(v)
		if !ok {
			return dst, nil, reject("invocation.output_bytes", "attribute is not an integer")
		}
		r.Invocation.OutputBytes = n
	}
	if v, ok := get(a.InputBytes); ok {
		n, ok := integer(v)
		if !ok {
			return dst, nil, reject("invocation.input_bytes", "attribute is not an integer")
		}
		r.Invocation.InputBytes = n
	}
	r.Context.TaskID = str(a.TaskID)
	r.Context.UserID = str(a.UserID)
	r.Context.DataClassification = strings.ToLower(str(a.DataClassification))
	r.Context.Environment = str(a.Environment)

	n := len(dst)
	dst = r.AppendJSON(dst)
	if err := m.dec.Decode(dst[n:], &m.check); err != nil {
		field := "record"
		if e, ok := err.(*record.Error); ok {
			field = e.Field
		}
		return dst[:n], nil, &rejection{Field: field, Reason: strings.TrimPrefix(record.Reason(err), field+": ")}
	}
	return dst, &m.check, nil
}

// statusFromSpan derives invocation.status when no status attribute is
// set: an Error span status is "timeout" or "denied" when error.type says
// so, else "error"; Ok and Unset are "success".
func statusFromSpan(code ptrace.StatusCode, errType string) string {
	if code != ptrace.StatusCodeError {
		return record.StatusSuccess
	}
	e := strings.ToLower(errType)
	switch {
	case strings.Contains(e, "timeout") || strings.Contains(e, "timed_out") || strings.Contains(e, "deadline"):
		return record.StatusTimeout
	case strings.Contains(e, "denied") || strings.Contains(e, "forbidden") || strings.Contains(e, "permission") ||
		strings.Contains(e, "unauthorized"):
		return record.StatusDenied
	}
	return record.StatusError
}

// lookup returns the first attribute of names present on the span, then on
// the resource, per name in order.
func lookup(names []string, span, res pcommon.Map) (pcommon.Value, bool) {
	for _, n := range names {
		if v, ok := span.Get(n); ok {
			return v, true
		}
		if v, ok := res.Get(n); ok {
			return v, true
		}
	}
	return pcommon.Value{}, false
}

// strings reads a string array attribute, or a comma-separated string.
func (m *mapper) strings(dst []string, names []string, span, res pcommon.Map) ([]string, bool) {
	dst = dst[:0]
	v, ok := lookup(names, span, res)
	if !ok {
		return dst, true
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := range s.Len() {
			e := s.At(i)
			if e.Type() != pcommon.ValueTypeStr {
				return dst, false
			}
			if t := strings.TrimSpace(e.Str()); t != "" {
				dst = append(dst, t)
			}
		}
	case pcommon.ValueTypeStr:
		for t := range strings.SplitSeq(v.Str(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				dst = append(dst, t)
			}
		}
	default:
		return dst, false
	}
	return dst, true
}

// number reads an int, double or numeric string attribute (SDKs that
// stringify every attribute are common).
func number(v pcommon.Value) (float64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case pcommon.ValueTypeStr:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// integer reads a non-fractional number attribute.
func integer(v pcommon.Value) (int64, bool) {
	if v.Type() == pcommon.ValueTypeInt {
		return v.Int(), true
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func (m *mapper) hex(b []byte) string {
	n := hex.Encode(m.hexbuf[:], b)
	return string(m.hexbuf[:n])
}

// appendSubject appends <subject_prefix>.<environment>.<agent_id>.
func appendSubject(dst []byte, cfg *Config, rec *record.Record) []byte {
	dst = append(dst, cfg.SubjectPrefix...)
	dst = append(dst, '.')
	dst = ingest.AppendSubjectToken(dst, rec.Context.Environment, cfg.DefaultEnvironment)
	dst = append(dst, '.')
	return ingest.AppendSubjectToken(dst, rec.AgentID, "_")
}
