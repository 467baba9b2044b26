package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// minimal is the smallest valid record; cases derive from it with with().
const minimal = `{"trace_id":"t1","span_id":"s1","timestamp":"2026-03-23T14:30:00.123Z",` +
	`"agent_id":"a1","tool":{"name":"n1"},"invocation":{"duration_ms":5,"status":"success"}}`

// with returns minimal with the first occurrence of old replaced by new.
func with(old, new string) string {
	if !strings.Contains(minimal, old) {
		panic("with: " + old + " not in minimal")
	}
	return strings.Replace(minimal, old, new, 1)
}

var refTime = time.Date(2026, 3, 23, 14, 30, 0, 123e6, time.UTC)

// minimalRecord is what minimal decodes to.
func minimalRecord() Record {
	return Record{
		TraceID: "t1", SpanID: "s1", Timestamp: refTime, AgentID: "a1",
		Tool:                 Tool{Name: "n1", VerificationScore: Absent},
		Invocation:           Invocation{DurationMS: 5, Status: "success", OutputBytes: Absent, InputBytes: Absent},
		DataSubjectsAffected: Absent,
	}
}

// equalRecords compares records treating nil and empty slices as equal and
// timestamps by instant and location name.
func equalRecords(a, b *Record) bool {
	x, y := *a, *b
	if !x.Timestamp.Equal(y.Timestamp) || x.Timestamp.Location().String() != y.Timestamp.Location().String() {
		return false
	}
	x.Timestamp, y.Timestamp = time.Time{}, time.Time{}
	for _, p := range []*[]string{&x.Invocation.PermissionsUsed, &y.Invocation.PermissionsUsed,
		&x.Invocation.PermissionsDenied, &y.Invocation.PermissionsDenied,
		&x.Invocation.Destinations, &y.Invocation.Destinations,
		&x.Invocation.OutputDestinations, &y.Invocation.OutputDestinations} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return reflect.DeepEqual(x, y)
}

func decode(t *testing.T, s string) (Record, error) {
	t.Helper()
	var r Record
	err := NewDecoder(DefaultLimits()).Decode([]byte(s), &r)
	return r, err
}

func TestDecodeReference(t *testing.T) {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Record{
		TraceID:   "agent-task-2026-03-23-abc123",
		SpanID:    "tool-call-007",
		Timestamp: refTime,
		AgentID:   "support-agent-prod-01",
		Tool: Tool{Name: "customer-lookup", Version: "2.3.1", Publisher: "acme-tools",
			TrustLevel: "gold", VerificationScore: 94},
		Invocation: Invocation{InputHash: "sha256:abc123def456", OutputHash: "sha256:789ghi012jkl",
			DurationMS: 234, Status: StatusSuccess, PermissionsUsed: []string{"data_access:read"},
			PermissionsDenied: nil, OutputBytes: 1042, InputBytes: Absent,
			InputShape: "json{customer_id:str}"},
		Context: Context{TaskID: "support-ticket-45678", UserID: "operator-jane",
			DataClassification: "internal", Environment: "production"},
		DataSubjectsAffected: Absent,
	}
	var r Record
	if err := NewDecoder(DefaultLimits()).Decode(data, &r); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("Decode reference:\n got %+v\nwant %+v", r, want)
	}
	if r.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp location = %v, want UTC", r.Timestamp.Location())
	}
}

// TestAppendJSONGolden pins the canonical encoding of the reference record.
// Regenerate with UPDATE_GOLDEN=1 after an intended format change.
func TestAppendJSONGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := NewDecoder(DefaultLimits()).Decode(data, &r); err != nil {
		t.Fatal(err)
	}
	got := append(r.AppendJSON(nil), '\n')
	const golden = "testdata/reference.canonical.json"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		edit func(r *Record)
	}{
		{"minimal", minimal, func(r *Record) {}},
		{"whitespace", " \n\t" + minimal + "\r\n ", func(r *Record) {}},
		{"unknown fields ignored",
			with(`"agent_id"`, `"future":{"deep":[1,{"x":null}],"n":-1.5e3},"x":true,"agent_id"`),
			func(r *Record) {}},
		{"unknown nested fields ignored",
			with(`{"name":"n1"}`, `{"name":"n1","sbom":{"a":[]},"rating":"AAA"}`), func(r *Record) {}},
		{"fractional seconds 9 digits",
			with(`14:30:00.123Z`, `14:30:00.123456789Z`),
			func(r *Record) { r.Timestamp = time.Date(2026, 3, 23, 14, 30, 0, 123456789, time.UTC) }},
		{"no fractional seconds",
			with(`14:30:00.123Z`, `14:30:00Z`),
			func(r *Record) { r.Timestamp = time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC) }},
		{"offset converted to UTC",
			with(`2026-03-23T14:30:00.123Z`, `2026-03-23T16:00:00.5+01:30`),
			func(r *Record) { r.Timestamp = time.Date(2026, 3, 23, 14, 30, 0, 5e8, time.UTC) }},
		{"negative offset crosses midnight",
			with(`2026-03-23T14:30:00.123Z`, `2026-12-31T23:00:00-02:00`),
			func(r *Record) { r.Timestamp = time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC) }},
		{"lowercase t and z",
			with(`2026-03-23T14:30:00.123Z`, `2026-03-23t14:30:00.123z`), func(r *Record) {}},
		{"leap day", with(`2026-03-23`, `2024-02-29`),
			func(r *Record) { r.Timestamp = time.Date(2024, 2, 29, 14, 30, 0, 123e6, time.UTC) }},
		{"duration zero", with(`"duration_ms":5`, `"duration_ms":0`),
			func(r *Record) { r.Invocation.DurationMS = 0 }},
		{"duration fractional exponent", with(`"duration_ms":5`, `"duration_ms":2.5e1`),
			func(r *Record) { r.Invocation.DurationMS = 25 }},
		{"duration long mantissa exact", with(`"duration_ms":5`, `"duration_ms":0.30000000000000004`),
			func(r *Record) { r.Invocation.DurationMS = 0.30000000000000004 }},
		{"all optional fields",
			with(`"agent_id":"a1","tool":{"name":"n1"},"invocation":{"duration_ms":5,"status":"success"}}`,
				`"parent_span_id":"p1","agent_id":"a1",`+
					`"tool":{"name":"n1","version":"1.0","publisher":"pub","trust_level":"unverified","verification_score":0},`+
					`"invocation":{"input_hash":"sha256:aa","output_hash":"sha256:bb","duration_ms":5,"status":"success",`+
					`"permissions_used":["a:r","b:w"],"permissions_denied":["network:connect"],`+
					`"output_bytes":0,"input_bytes":12,"input_shape":"text/sql"},`+
					`"context":{"task_id":"task","user_id":"u","data_classification":"restricted","environment":"staging"},`+
					`"authorization_method":"oauth","retention_policy":"7y","data_subjects_affected":3,"immutability_proof":"proof"}`),
			func(r *Record) {
				r.ParentSpanID = "p1"
				r.Tool = Tool{Name: "n1", Version: "1.0", Publisher: "pub", TrustLevel: "unverified", VerificationScore: 0}
				r.Invocation = Invocation{InputHash: "sha256:aa", OutputHash: "sha256:bb", DurationMS: 5,
					Status: "success", PermissionsUsed: []string{"a:r", "b:w"},
					PermissionsDenied: []string{"network:connect"}, OutputBytes: 0, InputBytes: 12, InputShape: "text/sql"}
				r.Context = Context{TaskID: "task", UserID: "u", DataClassification: "restricted", Environment: "staging"}
				r.AuthorizationMethod, r.RetentionPolicy, r.DataSubjectsAffected, r.ImmutabilityProof = "oauth", "7y", 3, "proof"
			}},
		{"nulls are absent",
			with(`"tool":{"name":"n1"}`, `"parent_span_id":null,"context":null,"tool":{"name":"n1","verification_score":null,"trust_level":null}`),
			func(r *Record) {}},
		{"empty optional enum is absent",
			with(`{"name":"n1"}`, `{"name":"n1","trust_level":""}`), func(r *Record) {}},
		{"integral count forms", with(`"status":"success"`, `"status":"success","output_bytes":1e3,"input_bytes":7.0`),
			func(r *Record) { r.Invocation.OutputBytes, r.Invocation.InputBytes = 1000, 7 }},
		{"max bytes", with(`"status":"success"`, `"status":"success","output_bytes":1099511627776,"input_bytes":1.099511627776e12`),
			func(r *Record) { r.Invocation.OutputBytes, r.Invocation.InputBytes = 1<<40, 1<<40 }},
		{"max duration", with(`"duration_ms":5`, `"duration_ms":604800000`),
			func(r *Record) { r.Invocation.DurationMS = 604800000 }},
		{"max data subjects", with(`"tool"`, `"data_subjects_affected":1e10,"tool"`),
			func(r *Record) { r.DataSubjectsAffected = 1e10 }},
		{"escapes unescaped", with(`"agent_id":"a1"`, `"agent_id":"a\"\\\/\u00e9\ud83d\ude00\n"`),
			func(r *Record) { r.AgentID = "a\"\\/é😀\n" }},
		{"lone surrogates become U+FFFD", with(`"agent_id":"a1"`, `"agent_id":"\ud800x\udc00\ud83d\u0041"`),
			func(r *Record) { r.AgentID = "\ufffdx\ufffd\ufffdA" }},
		{"escaped enum value", with(`"success"`, `"\u0073uccess"`), func(r *Record) {}},
		{"escaped key", with(`"agent_id"`, `"agent\u005fid"`), func(r *Record) {}},
		{"duplicate key last wins", with(`"trace_id":"t1"`, `"trace_id":"t0","trace_id":"t1"`), func(r *Record) {}},
		{"duplicate key last wins even if empty then set", with(`"span_id":"s1"`, `"span_id":"x","span_id":"s1"`), func(r *Record) {}},
		{"input shape 256 bytes", with(`"status":"success"`, `"status":"success","input_shape":"`+strings.Repeat("x", 256)+`"`),
			func(r *Record) { r.Invocation.InputShape = strings.Repeat("x", 256) }},
		{"other statuses", with(`"success"`, `"timeout"`), func(r *Record) { r.Invocation.Status = StatusTimeout }},
		{"score 100", with(`{"name":"n1"}`, `{"name":"n1","verification_score":100}`),
			func(r *Record) { r.Tool.VerificationScore = 100 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(t, tc.in)
			if err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			want := minimalRecord()
			tc.edit(&want)
			if !equalRecords(&got, &want) {
				t.Fatalf("Decode(%s):\n got %+v\nwant %+v", tc.in, got, want)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty input", ``, `record: invalid JSON: unexpected end of input at offset 0`},
		{"truncated", minimal[:40], `record: invalid JSON: unexpected end of input at offset 40`},
		{"trailing data", minimal + `{}`, `record: invalid JSON: unexpected data after top-level value at offset 158`},
		{"not an object", `["trace_id"]`, `record: must be a JSON object`},
		{"NaN", with(`5`, `NaN`), `record: invalid JSON: unexpected character at offset 136`},
		{"leading zero", with(`:5`, `:05`), `record: invalid JSON: expected ',' or '}' at offset 137`},
		{"bad escape", with(`"a1"`, `"a\x"`), `record: invalid JSON: invalid escape at offset 84`},
		{"bad unicode escape", with(`"a1"`, `"\u12g4"`), `record: invalid JSON: invalid \u escape at offset 83`},
		{"raw control char", with(`"a1"`, "\"a\x01\""), `record: invalid JSON: control character in string at offset 84`},
		{"invalid utf8", with(`"a1"`, "\"a\xff\""), `record: invalid JSON: invalid UTF-8`},
		{"single quotes", `{'a':1}`, `record: invalid JSON: expected object key at offset 1`},
		{"missing colon", `{"a" 1}`, `record: invalid JSON: expected ':' at offset 5`},
		{"trailing comma", `{"a":1,}`, `record: invalid JSON: expected object key at offset 7`},
		{"trailing comma array", `{"a":[1,]}`, `record: invalid JSON: unexpected character at offset 8`},
		{"bad literal", `{"a":tru}`, `record: invalid JSON: invalid literal at offset 5`},
		{"bad exponent", `{"a":1e}`, `record: invalid JSON: invalid number at offset 7`},
		{"missing trace_id", with(`"trace_id":"t1",`, ``), `trace_id: required`},
		{"empty trace_id", with(`"t1"`, `""`), `trace_id: required`},
		{"null trace_id", with(`"t1"`, `null`), `trace_id: required`},
		{"missing span_id", with(`"span_id":"s1",`, ``), `span_id: required`},
		{"missing timestamp", with(`"timestamp":"2026-03-23T14:30:00.123Z",`, ``), `timestamp: required`},
		{"missing agent_id", with(`"agent_id":"a1",`, ``), `agent_id: required`},
		{"missing tool", with(`"tool":{"name":"n1"},`, ``), `tool.name: required`},
		{"missing tool name", with(`{"name":"n1"}`, `{"version":"1"}`), `tool.name: required`},
		{"missing duration", with(`"duration_ms":5,`, ``), `invocation.duration_ms: required`},
		{"missing status", with(`,"status":"success"`, ``), `invocation.status: required`},
		{"missing invocation", with(`,"invocation":{"duration_ms":5,"status":"success"}`, ``), `invocation.duration_ms: required`},
		{"trace_id number", with(`"t1"`, `7`), `trace_id: must be a string`},
		{"agent_id object", with(`"a1"`, `{}`), `agent_id: must be a string`},
		{"tool string", with(`{"name":"n1"}`, `"n1"`), `tool: must be an object`},
		{"invocation array", with(`{"duration_ms":5,"status":"success"}`, `[]`), `invocation: must be an object`},
		{"context number", with(`"tool"`, `"context":1,"tool"`), `context: must be an object`},
		{"negative duration", with(`:5`, `:-1`), `invocation.duration_ms: must be a number >= 0`},
		{"string duration", with(`:5`, `:"5"`), `invocation.duration_ms: must be a number >= 0`},
		{"infinite duration", with(`:5`, `:1e999`), `invocation.duration_ms: must be a number >= 0`},
		{"absurd duration", with(`:5`, `:1e308`), `invocation.duration_ms: must be at most 604800000 (7 days)`},
		{"duration over 7 days", with(`:5`, `:604800000.5`), `invocation.duration_ms: must be at most 604800000 (7 days)`},
		{"bad status", with(`"success"`, `"ok"`), `invocation.status: must be one of success, error, denied, timeout`},
		{"status wrong case", with(`"success"`, `"Success"`), `invocation.status: must be one of success, error, denied, timeout`},
		{"status number", with(`"success"`, `1`), `invocation.status: must be a string`},
		{"bad trust level", with(`{"name":"n1"}`, `{"name":"n1","trust_level":"platinum"}`),
			`tool.trust_level: must be one of gold, silver, bronze, unverified`},
		{"bad classification", with(`"tool"`, `"context":{"data_classification":"secret"},"tool"`),
			`context.data_classification: must be one of public, internal, confidential, restricted`},
		{"score over 100", with(`{"name":"n1"}`, `{"name":"n1","verification_score":100.5}`),
			`tool.verification_score: must be a number between 0 and 100`},
		{"score negative", with(`{"name":"n1"}`, `{"name":"n1","verification_score":-1}`),
			`tool.verification_score: must be a number between 0 and 100`},
		{"score string", with(`{"name":"n1"}`, `{"name":"n1","verification_score":"94"}`),
			`tool.verification_score: must be a number between 0 and 100`},
		{"negative output_bytes", with(`"status":"success"`, `"status":"success","output_bytes":-1`),
			`invocation.output_bytes: must be an integer >= 0`},
		{"fractional output_bytes", with(`"status":"success"`, `"status":"success","output_bytes":1.5`),
			`invocation.output_bytes: must be an integer >= 0`},
		{"overflow output_bytes", with(`"status":"success"`, `"status":"success","output_bytes":9223372036854775808`),
			`invocation.output_bytes: must be at most 1099511627776 (1 TiB)`},
		{"output_bytes over 1 TiB", with(`"status":"success"`, `"status":"success","output_bytes":1099511627777`),
			`invocation.output_bytes: must be at most 1099511627776 (1 TiB)`},
		{"input_bytes 1e300", with(`"status":"success"`, `"status":"success","input_bytes":1e300`),
			`invocation.input_bytes: must be at most 1099511627776 (1 TiB)`},
		{"data_subjects_affected over 1e10", with(`"tool"`, `"data_subjects_affected":10000000001,"tool"`),
			`data_subjects_affected: must be at most 10000000000`},
		{"string input_bytes", with(`"status":"success"`, `"status":"success","input_bytes":"3"`),
			`invocation.input_bytes: must be an integer >= 0`},
		{"negative data_subjects_affected", with(`"tool"`, `"data_subjects_affected":-3,"tool"`),
			`data_subjects_affected: must be an integer >= 0`},
		{"input shape too long", with(`"status":"success"`, `"status":"success","input_shape":"`+strings.Repeat("x", 257)+`"`),
			`invocation.input_shape: longer than 256 bytes`},
		{"permissions not array", with(`"status":"success"`, `"status":"success","permissions_used":"a:r"`),
			`invocation.permissions_used: must be an array of strings`},
		{"permissions element number", with(`"status":"success"`, `"status":"success","permissions_denied":["a:r",1]`),
			`invocation.permissions_denied: must be an array of strings`},
		{"permissions element null", with(`"status":"success"`, `"status":"success","permissions_denied":[null]`),
			`invocation.permissions_denied: must be an array of strings`},
		{"syntax error beats earlier field error", strings.TrimSuffix(with(`"success"`, `"ok"`), "}"),
			`record: invalid JSON: unexpected end of input at offset 152`},
		{"syntax error in array after field error", with(`"status":"success"`, `"status":"success","permissions_used":[1,"a" "b"]`),
			`record: invalid JSON: expected ',' or ']' at offset 183`},
		{"syntax error in skipped unknown field", with(`"tool"`, `"x":{"y":[1,2,}],"tool"`),
			`record: invalid JSON: unexpected character at offset 101`},
		{"first error wins", with(`"t1"`, `1`) /* then span_id is fine */, `trace_id: must be a string`},
		{"type error before required", with(`"trace_id":"t1",`, `"agent_id":5,`), `agent_id: must be a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, tc.in)
			if err == nil {
				t.Fatalf("Decode(%q) = nil error, want %q", tc.in, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("Decode(%q) error:\n got %q\nwant %q", tc.in, err.Error(), tc.want)
			}
			if Reason(err) != tc.want {
				t.Fatalf("Reason = %q, want %q", Reason(err), tc.want)
			}
		})
	}
}

func TestTimestamps(t *testing.T) {
	valid := []string{
		"2026-03-23T14:30:00Z", "2026-03-23T14:30:00.1Z", "2026-03-23T14:30:00.123456789Z",
		"2026-03-23T14:30:00+05:45", "2026-03-23T14:30:00.5-08:00", "2000-02-29T00:00:00Z",
		"1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
		"2026-03-23T00:30:00+23:59",
	}
	for _, s := range valid {
		got, ok := parseTimestamp([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			t.Errorf("parseTimestamp(%q) ok=%v, time.Parse err=%v", s, ok, err)
			continue
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, want %v in UTC", s, got, want.UTC())
		}
	}
	invalid := []string{
		"", "2026-03-23", "2026-03-23 14:30:00Z", "2026-03-23T14:30:00", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-03-23T24:00:00Z", "2026-03-23T14:60:00Z", "2026-03-23T14:30:60Z", "2026-03-23T14:30:00.Z",
		"2026-03-23T14:30:00.1234567890Z", "2026-03-23T14:30:00+0100", "2026-03-23T14:30:00+24:00",
		"2026-03-23T14:30:00+01:60", "2026-03-23T14:30:00ZZ", "+026-03-23T14:30:00Z", "2026-3-23T14:30:00Z",
		"0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "2026-03-23T14:30:00 Z",
	}
	for _, s := range invalid {
		if got, ok := parseTimestamp([]byte(s)); ok {
			t.Errorf("parseTimestamp(%q) = %v, want failure", s, got)
		}
	}
	if _, err := decode(t, with(`2026-03-23T14:30:00.123Z`, `2026-03-23`)); err == nil ||
		err.Error() != "timestamp: must be an RFC 3339 time" {
		t.Errorf("bad timestamp error = %v", err)
	}
}

func TestDecoderReuse(t *testing.T) {
	full := with(`"agent_id":"a1","tool":{"name":"n1"},"invocation":{"duration_ms":5,"status":"success"}}`,
		`"parent_span_id":"p1","agent_id":"a1",`+
			`"tool":{"name":"n1","version":"1.0","publisher":"pub","trust_level":"gold","verification_score":50},`+
			`"invocation":{"input_hash":"h1","output_hash":"h2","duration_ms":5,"status":"success",`+
			`"permissions_used":["a:r","b:w","c:x"],"permissions_denied":["network:connect"],`+
			`"output_bytes":10,"input_bytes":12,"input_shape":"text/sql"},`+
			`"context":{"task_id":"task","user_id":"u","data_classification":"public","environment":"prod"},`+
			`"authorization_method":"oauth","retention_policy":"7y","data_subjects_affected":3,"immutability_proof":"proof"}`)
	d := NewDecoder(DefaultLimits())
	var r Record
	if err := d.Decode([]byte(full), &r); err != nil {
		t.Fatal(err)
	}
	first := r.Clone()
	if err := d.Decode([]byte(minimal), &r); err != nil {
		t.Fatal(err)
	}
	want := minimalRecord()
	if !equalRecords(&r, &want) {
		t.Fatalf("second decode leaked fields:\n got %+v\nwant %+v", r, want)
	}
	// The clone of the first record is unaffected by reuse.
	if err := d.Decode([]byte(strings.Replace(full, `"a:r"`, `"z:z"`, 1)), &r); err != nil {
		t.Fatal(err)
	}
	if first.Invocation.PermissionsUsed[0] != "a:r" || r.Invocation.PermissionsUsed[0] != "z:z" {
		t.Fatalf("clone shares slices: %v / %v", first.Invocation.PermissionsUsed, r.Invocation.PermissionsUsed)
	}
	if first.TraceID != "t1" || first.ImmutabilityProof != "proof" {
		t.Fatalf("clone strings changed: %+v", first)
	}
	// A failed decode does not poison the next one.
	if err := d.Decode([]byte(with(`"success"`, `"ok"`)), &r); err == nil {
		t.Fatal("want error")
	}
	if err := d.Decode([]byte(minimal), &r); err != nil || !equalRecords(&r, &want) {
		t.Fatalf("decode after error: err=%v rec=%+v", err, r)
	}
}

func TestLimits(t *testing.T) {
	l := Limits{MaxRecordBytes: 512, MaxDepth: 4}
	d := NewDecoder(l)
	var r Record
	pad := func(n int) string { // minimal padded to exactly n bytes
		return with(`"agent_id"`, `"pad":"`+strings.Repeat("x", n-len(minimal)-9)+`","agent_id"`)
	}
	if s := pad(512); len(s) != 512 || d.Decode([]byte(s), &r) != nil {
		t.Fatalf("512-byte record rejected (len %d): %v", len(s), d.Decode([]byte(s), &r))
	}
	if err := d.Decode([]byte(pad(513)), &r); err == nil || err.Error() != "record: larger than 512 bytes" {
		t.Fatalf("513-byte record: %v", err)
	}
	// Depth 4: record(1) > x(2) > [3] > {4} is fine, one more level is not.
	ok := with(`"agent_id"`, `"x":{"y":[{"z":1}]},"agent_id"`)
	if err := d.Decode([]byte(ok), &r); err != nil {
		t.Fatalf("depth 4: %v", err)
	}
	deep := with(`"agent_id"`, `"x":{"y":[{"z":[]}]},"agent_id"`)
	if err := d.Decode([]byte(deep), &r); err == nil || err.Error() != "record: nesting deeper than 4" {
		t.Fatalf("depth 5: %v", err)
	}
	// Known containers count too.
	for _, tc := range []struct {
		depth int
		want  string
	}{{3, ""}, {2, "record: nesting deeper than 2"}} {
		in := with(`"status":"success"`, `"status":"success","permissions_used":["a"]`)
		err := NewDecoder(Limits{MaxDepth: tc.depth}).Decode([]byte(in), &r)
		if got := Reason(err); got != tc.want {
			t.Errorf("permissions at depth 3, limit %d: %q, want %q", tc.depth, got, tc.want)
		}
	}
	if err := NewDecoder(Limits{MaxDepth: 1}).Decode([]byte(minimal), &r); Reason(err) != "record: nesting deeper than 1" {
		t.Errorf("tool at depth 2, limit 1: %v", err)
	}
	// Brackets inside strings do not count.
	strs := with(`"agent_id"`, `"x":"[[[[[{{{{{","agent_id"`)
	if err := d.Decode([]byte(strs), &r); err != nil {
		t.Fatalf("brackets in strings: %v", err)
	}
	// Default depth 16 stops a deeply nested bomb before parsing.
	bomb := `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	if _, err := decode(t, bomb); err == nil || err.Error() != "record: nesting deeper than 16" {
		t.Fatalf("bomb: %v", err)
	}
	// Zero limits take the defaults.
	if got := NewDecoder(Limits{}).lim; got != DefaultLimits() {
		t.Fatalf("zero limits = %+v", got)
	}
}

func TestInternBounded(t *testing.T) {
	d := NewDecoder(DefaultLimits())
	d.maxInt = 10
	var r Record
	for i := range 50 {
		in := with(`"a1"`, fmt.Sprintf(`"agent-%d"`, i))
		if err := d.Decode([]byte(in), &r); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("agent-%d", i); r.AgentID != want {
			t.Fatalf("AgentID = %q, want %q", r.AgentID, want)
		}
	}
	if d.InternLen() != 10 {
		t.Fatalf("intern table has %d entries, want cap 10", d.InternLen())
	}
	// Long strings are never interned.
	d2 := NewDecoder(DefaultLimits())
	long := strings.Repeat("a", maxInternLen+1)
	if err := d2.Decode([]byte(with(`"a1"`, `"`+long+`"`)), &r); err != nil || r.AgentID != long {
		t.Fatalf("long agent: %v", err)
	}
	if _, ok := d2.intern[long]; ok {
		t.Fatal("long string was interned")
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" {
		t.Error("Reason(nil) != \"\"")
	}
	wrapped := fmt.Errorf("decode: %w", &Error{Field: "trace_id", Reason: "required"})
	if got := Reason(wrapped); got != "trace_id: required" {
		t.Errorf("Reason(wrapped) = %q", got)
	}
	long := errors.New(strings.Repeat("é", 200)) // 400 bytes
	if got := Reason(long); len(got) > maxReasonLen || !strings.HasPrefix(long.Error(), got) || len(got)%2 != 0 {
		t.Errorf("Reason(long) = %d bytes, cut mid-rune or too long", len(got))
	}
}

func TestDecodeDoesNotRetainInput(t *testing.T) {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(DefaultLimits())
	var r Record
	if err := d.Decode(data, &r); err != nil {
		t.Fatal(err)
	}
	want := r.Clone()
	for i := range data {
		data[i] = 'X'
	}
	// Parse something else too: fastjson's buffer is reused.
	if err := d.Decode([]byte(minimal), &Record{}); err != nil {
		t.Fatal(err)
	}
	if !equalRecords(&r, want) || r.TraceID != "agent-task-2026-03-23-abc123" || r.Tool.Name != "customer-lookup" {
		t.Fatalf("record changed after input was overwritten: %+v", r)
	}
}

func TestInternShares(t *testing.T) {
	d := NewDecoder(DefaultLimits())
	var a, b Record
	if err := d.Decode([]byte(minimal), &a); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte(minimal), &b); err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(a.AgentID) != unsafe.StringData(b.AgentID) ||
		unsafe.StringData(a.Tool.Name) != unsafe.StringData(b.Tool.Name) {
		t.Fatal("low-cardinality strings are not interned")
	}
	if unsafe.StringData(a.TraceID) == unsafe.StringData(b.TraceID) {
		t.Fatal("high-cardinality strings unexpectedly shared between records")
	}
}

// TestAllocs pins the allocation budget: one string per record for the
// high-cardinality fields, none for encoding.
func TestAllocs(t *testing.T) {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(DefaultLimits())
	var r Record
	if n := testing.AllocsPerRun(100, func() {
		if err := d.Decode(data, &r); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Decode allocs = %v, want <= 1", n)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocs = %v, want 0", n)
	}
}

func TestDestinations(t *testing.T) {
	const e1, d1 = "email:0123456789abcdef0123456789abcdef", "email_domain:fedcba9876543210"
	long := "account:" + strings.Repeat("ab", 32)
	withDests := func(v string) string {
		return with(`"status":"success"`, `"status":"success",`+v)
	}
	many := make([]string, MaxDestinations+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"host:%016x"`, i)
	}
	tests := []struct {
		name       string
		in         string
		dests, out []string
		err        string
	}{
		{"both", withDests(`"destinations":["` + e1 + `","` + d1 + `"],"output_destinations":["` + long + `"]`),
			[]string{e1, d1}, []string{long}, ""},
		{"null and empty", withDests(`"destinations":null,"output_destinations":[]`), nil, nil, ""},
		{"escaped", withDests(`"destinations":["host:\u0030123456789abcdef"]`), []string{"host:0123456789abcdef"}, nil, ""},
		{"duplicate key, last wins", withDests(`"destinations":["chat:0000000000000000","chat:1111111111111111"],"destinations":["party:2222222222222222"]`),
			[]string{"party:2222222222222222"}, nil, ""},
		{"exactly the cap", withDests(`"destinations":[` + strings.Join(many[:MaxDestinations], ",") + `]`), nil, nil, ""},
	}
	bad := map[string]string{
		"unknown type":  `"destinations":["phone:0123456789abcdef"]`,
		"no type":       `"destinations":["0123456789abcdef"]`,
		"upper hex":     `"destinations":["email:0123456789ABCDEF"]`,
		"short":         `"destinations":["email:0123456789abcde"]`,
		"odd":           `"output_destinations":["email:0123456789abcdef0"]`,
		"too long":      `"destinations":["email:` + strings.Repeat("a", 66) + `"]`,
		"raw value":     `"destinations":["email:alice@example.com"]`,
		"raw in output": `"output_destinations":["host:evil.example.com"]`,
	}
	for name, v := range bad {
		field := "invocation.destinations"
		if strings.HasPrefix(v, `"output`) {
			field = "invocation.output_destinations"
		}
		tests = append(tests, struct {
			name       string
			in         string
			dests, out []string
			err        string
		}{name, withDests(v), nil, nil, field + ": " + destinationReason})
	}
	tests = append(tests, struct {
		name       string
		in         string
		dests, out []string
		err        string
	}{"over the cap", withDests(`"destinations":[` + strings.Join(many, ",") + `]`), nil, nil, "invocation.destinations: more than 64 entries"},
		struct {
			name       string
			in         string
			dests, out []string
			err        string
		}{"not strings", withDests(`"destinations":[1]`), nil, nil, "invocation.destinations: must be an array of strings"})
	d := NewDecoder(DefaultLimits())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			err := d.Decode([]byte(tc.in), &r)
			if Reason(err) != tc.err {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if err != nil {
				return
			}
			if tc.name == "exactly the cap" {
				if len(r.Invocation.Destinations) != MaxDestinations {
					t.Fatalf("%d destinations", len(r.Invocation.Destinations))
				}
				return
			}
			if !reflect.DeepEqual(nilIfEmpty(r.Invocation.Destinations), tc.dests) ||
				!reflect.DeepEqual(nilIfEmpty(r.Invocation.OutputDestinations), tc.out) {
				t.Fatalf("got %q / %q, want %q / %q", r.Invocation.Destinations, r.Invocation.OutputDestinations, tc.dests, tc.out)
			}
			var back Record
			if err := NewDecoder(DefaultLimits()).Decode(r.AppendJSON(nil), &back); err != nil || !equalRecords(&back, &r) {
				t.Fatalf("round trip: %v %+v", err, back)
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestDestinationsReuse: the decoder reuses the lists' storage, a clone
// does not share it, and decoding them adds no allocation.
func TestDestinationsReuse(t *testing.T) {
	in := with(`"status":"success"`, `"status":"success","destinations":["email:0123456789abcdef","email_domain:0123456789abcdee"],"output_destinations":["host:00000000000000aa"]`)
	d := NewDecoder(DefaultLimits())
	var r Record
	if err := d.Decode([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	c := r.Clone()
	p := unsafe.SliceData(r.Invocation.Destinations)
	if err := d.Decode([]byte(strings.Replace(in, "0123456789abcdef", "ffffffffffffffff", 1)), &r); err != nil {
		t.Fatal(err)
	}
	if unsafe.SliceData(r.Invocation.Destinations) != p {
		t.Error("destinations storage not reused")
	}
	if c.Invocation.Destinations[0] != "email:0123456789abcdef" || r.Invocation.Destinations[0] != "email:ffffffffffffffff" {
		t.Fatalf("clone shares: %q / %q", c.Invocation.Destinations, r.Invocation.Destinations)
	}
	if err := d.Decode([]byte(minimal), &r); err != nil || len(r.Invocation.Destinations) != 0 || len(r.Invocation.OutputDestinations) != 0 {
		t.Fatalf("absent lists not cleared: %v %q", err, r.Invocation.Destinations)
	}
	data := []byte(in)
	if n := testing.AllocsPerRun(100, func() {
		if err := d.Decode(data, &r); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Decode with destinations allocs = %v, want <= 1", n)
	}
}

// parseTimestamp builds its Time from unixDays and time.Unix; it must be
// the Time time.Date returns, bit for bit (==, not only Equal), on every
// day of years 0–9999 and at every offset step.
func TestUnixDays(t *testing.T) {
	for y := 0; y <= 9999; y++ {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 15, daysIn(m, y)} {
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400 // exact
				if got := unixDays(y, m, d); got != want {
					t.Fatalf("unixDays(%d, %d, %d) = %d, want %d", y, m, d, got, want)
				}
			}
		}
	}
	for _, s := range []string{
		"2026-03-23T14:30:00.123Z", "0000-01-01T00:00:00Z", "0000-03-01T00:00:00.5Z",
		"1969-12-31T23:59:59.999999999Z", "2000-02-29T12:00:00+05:45", "9999-12-31T23:59:59-00:00",
		"2024-02-29T23:59:59.1-23:59", "1600-03-01T00:00:00+01:00",
	} {
		got, ok := parseTimestamp([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			t.Fatalf("%s: ok=%v, err=%v", s, ok, err)
		}
		if want = want.UTC(); got != want {
			t.Errorf("%s: got %#v, want %#v", s, got, want)
		}
	}
}

// Keys written plainly are matched by knownKey, keys with an escape go
// through readString: both must decode the same record, in the canonical
// order, in another order, with unknown keys between, and at the end of
// the input where knownKey does not look.
func TestKnownKeys(t *testing.T) {
	full := withChain(`{"producer":"rt-1","seq":2,"prev":"` + hashB + `","hash":"` + hashA + `","checkpoint":{"key_id":"k1","sig":"` + sigA + `"}}`)
	full = strings.Replace(full, `"status":"success"`, `"status":"success","permissions_denied":["a:b"],"input_bytes":7,"destinations":["email:0123456789abcdef"],"output_destinations":["chat:0123456789abcdef"]`, 1)
	var want Record
	if err := NewDecoder(DefaultLimits()).Decode([]byte(full), &want); err != nil {
		t.Fatal(err)
	}
	canonical := string(want.AppendJSON(nil))
	keyRE := regexp.MustCompile(`"([a-z_]+)":`)
	escape := func(s string) string { // "name": → "\u006eame":
		return keyRE.ReplaceAllStringFunc(s, func(m string) string { return fmt.Sprintf(`"\u%04x%s`, m[1], m[2:]) })
	}
	reverse := func(s string) string { // top-level members in reverse order
		var r Record
		if err := NewDecoder(DefaultLimits()).Decode([]byte(s), &r); err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Reverse(keys)
		out := "{"
		for i, k := range keys {
			if i > 0 {
				out += `,"unknown_` + k + `":{"name":"x"},`
			}
			out += strconv.Quote(k) + ":" + string(m[k])
		}
		return out + "}"
	}
	for name, in := range map[string]string{
		"canonical":         canonical,
		"escaped":           escape(canonical),
		"reversed":          reverse(canonical),
		"reversed, escaped": escape(reverse(canonical)),
		"short":             minimal,
		"input as given":    full,
	} {
		var got Record
		if err := NewDecoder(DefaultLimits()).Decode([]byte(in), &got); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, in)
		}
		w := want
		if name == "short" {
			if err := NewDecoder(DefaultLimits()).Decode([]byte(escape(minimal)), &w); err != nil {
				t.Fatal(err)
			}
		}
		if !equalRecords(&got, &w) || got.Chain != w.Chain {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
	}
}
