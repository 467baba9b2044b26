package alert

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
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
	b = appendString(b, a.ID)
	b = append(b, `,"fingerprint":`...)
	b = appendString(b, a.Fingerprint)
	b = append(b, `,"status":`...)
	b = appendString(b, a.Status)
	b = append(b, `,"pattern":`...)
	b = appendString(b, a.Pattern)
	b = append(b, `,"severity":`...)
	b = appendString(b, a.Severity)
	b = append(b, `,"score":`...)
	b = appendFloat(b, a.Score, 64)
	b = append(b, `,"agent_id":`...)
	b = appendString(b, a.AgentID)
	b = append(b, `,"tool":`...)
	b = appendString(b, a.Tool)
	if a.ToolVersion != "" {
		b = append(b, `,"tool_version":`...)
		b = appendString(b, a.ToolVersion)
	}
	if a.Environment != "" {
		b = append(b, `,"environment":`...)
		b = appendString(b, a.Environment)
	}
	b = append(b, `,"observed":`...)
	b = appendFloat(b, a.Observed, 64)
	b = append(b, `,"expected":`...)
	b = appendFloat(b, a.Expected, 64)
	b = append(b, `,"unit":`...)
	b = appendString(b, a.Unit)
	b = append(b, `,"summary":`...)
	b = appendString(b, a.Summary)
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
	b = appendString(b, a.TraceID)
	b = append(b, `,"span_id":`...)
	b = appendString(b, a.SpanID)
	if a.TaskID != "" {
		b = append(b, `,"task_id":`...)
		b = appendString(b, a.TaskID)
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

const hexDigits = "0123456789abcdef"

// appendString quotes s like encoding/json without HTML escaping: invalid
// UTF-8 becomes U+FFFD, U+2028/U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
		b = appendString(b, k)
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
		return appendString(b, v)
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
			b = appendString(b, e)
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
