package alert

import (
	"bytes"
	"encoding/json"
	"github.com/toolwatch/toolwatch/internal/jsonw"
	"math"
	"slices"
	"strconv"
	"time"
)

// TimeFormat is the alert timestamp format: RFC 3339 in UTC with as many
// fractional digits as needed ("2026-03-23T14:30:00.123Z"), as
// encoding/json writes a time.Time.
const TimeFormat = time.RFC3339Nano

// MarshalJSONLine appends a to buf as one JSON object followed by '\n'.
// Keys are in struct order, details keys sorted, times UTC in TimeFormat,
// no HTML escaping; non-finite numbers are written as null (encoding/json
// would fail). For finite values the bytes equal those of a json.Encoder
// with SetEscapeHTML(false), so it is the single wire form of an alert:
// replay output, webhook body and NATS message.
func MarshalJSONLine(a *Alert, buf []byte) []byte {
	return append(appendAlert(buf, a), '\n')
}

// MarshalJSON makes encoding/json use the same encoding as MarshalJSONLine
// (without the newline).
func (a Alert) MarshalJSON() ([]byte, error) {
	return appendAlert(make([]byte, 0, 512), &a), nil
}

func appendAlert(b []byte, a *Alert) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.AppendString(b, a.ID)
	b = append(b, `,"fingerprint":`...)
	b = jsonw.AppendString(b, a.Fingerprint)
	b = append(b, `,"status":`...)
	b = jsonw.AppendString(b, a.Status)
	b = append(b, `,"pattern":`...)
	b = jsonw.AppendString(b, a.Pattern)
	b = append(b, `,"severity":`...)
	b = jsonw.AppendString(b, a.Severity)
	b = append(b, `,"score":`...)
	b = appendFloat(b, a.Score, 64)
	b = append(b, `,"agent_id":`...)
	b = jsonw.AppendString(b, a.AgentID)
	b = append(b, `,"tool":`...)
	b = jsonw.AppendString(b, a.Tool)
	if a.ToolVersion != "" {
		b = append(b, `,"tool_version":`...)
		b = jsonw.AppendString(b, a.ToolVersion)
	}
	if a.Environment != "" {
		b = append(b, `,"environment":`...)
		b = jsonw.AppendString(b, a.Environment)
	}
	b = append(b, `,"observed":`...)
	b = appendFloat(b, a.Observed, 64)
	b = append(b, `,"expected":`...)
	b = appendFloat(b, a.Expected, 64)
	b = append(b, `,"unit":`...)
	b = jsonw.AppendString(b, a.Unit)
	b = append(b, `,"summary":`...)
	b = jsonw.AppendString(b, a.Summary)
	if len(a.Details) > 0 {
		b = append(b, `,"details":`...)
		b = appendMap(b, a.Details)
	}
	b = append(b, `,"event_time":`...)
	b = appendTime(b, a.EventTime)
	b = append(b, `,"starts_at":`...)
	b = appendTime(b, a.StartsAt)
	if a.EndsAt != nil {
		b = append(b, `,"ends_at":`...)
		b = appendTime(b, *a.EndsAt)
	}
	b = append(b, `,"trace_id":`...)
	b = jsonw.AppendString(b, a.TraceID)
	b = append(b, `,"span_id":`...)
	b = jsonw.AppendString(b, a.SpanID)
	if a.TaskID != "" {
		b = append(b, `,"task_id":`...)
		b = jsonw.AppendString(b, a.TaskID)
	}
	if a.TraceURL != "" {
		b = append(b, `,"trace_url":`...)
		b = jsonw.AppendString(b, a.TraceURL)
	}
	if a.RunbookURL != "" {
		b = append(b, `,"runbook_url":`...)
		b = jsonw.AppendString(b, a.RunbookURL)
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeFormat)
	return append(b, '"')
}

// appendFloat formats like encoding/json (ES6 number formatting).
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			fmt = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, fmt, -1, bits)
	if fmt == 'e' {
		// e-09 -> e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendMap(b []byte, m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

// appendValue writes the value kinds detectors put in details directly and
// hands anything else to encoding/json (null if it cannot be encoded).
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonw.AppendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case float64:
		return appendFloat(b, v, 64)
	case float32:
		return appendFloat(b, float64(v), 32)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case map[string]any:
		if v == nil {
			return append(b, "null"...)
		}
		return appendMap(b, v)
	case []any:
		if v == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case []string:
		if v == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, e)
		}
		return append(b, ']')
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return append(b, "null"...)
		}
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
	}
}
