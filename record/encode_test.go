package record

import (
	"encoding/json"
	"github.com/toolwatch/toolwatch/internal/jsonw"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	full := func() Record {
		r := minimalRecord()
		r.ParentSpanID = "p-1"
		r.Tool = Tool{Name: "sql", Version: "v1", Publisher: "pub", TrustLevel: "bronze", VerificationScore: 12.5}
		r.Invocation = Invocation{InputHash: "sha256:00", OutputHash: "sha256:ff", DurationMS: 0.125,
			Status: StatusDenied, PermissionsUsed: []string{"data_access:read", "network:connect"},
			PermissionsDenied: []string{"filesystem:write"}, OutputBytes: 0, InputBytes: 1 << 40,
			InputShape: "json{limit:num,query:str}"}
		r.Context = Context{TaskID: "task", UserID: "user", DataClassification: "confidential", Environment: "dev"}
		r.AuthorizationMethod, r.RetentionPolicy, r.DataSubjectsAffected, r.ImmutabilityProof = "mtls", "30d", 0, "sig"
		return r
	}
	tests := []struct {
		name string
		edit func(r *Record)
	}{
		{"minimal", func(r *Record) {}},
		{"full", func(r *Record) { *r = full() }},
		{"only one context field", func(r *Record) { r.Context.Environment = "production" }},
		{"only output hash", func(r *Record) { r.Invocation.OutputHash = "h" }},
		{"special characters", func(r *Record) {
			r.AgentID = "quote\" back\\ slash/ nl\n tab\t ctl\x00\x1f del\x7f é 😀 \u2028"
			r.Invocation.InputShape = `json{"k":str}`
			r.Invocation.PermissionsDenied = []string{"a\"b", ""}
		}},
		{"floats", func(r *Record) {
			r.Invocation.DurationMS = 0.1 + 0.2
			r.Tool.VerificationScore = 99.99999999999999
		}},
		{"tiny float", func(r *Record) { r.Invocation.DurationMS = 1e-7 }},
		{"max duration", func(r *Record) { r.Invocation.DurationMS = MaxDurationMS }},
		{"max bytes and count", func(r *Record) { r.Invocation.OutputBytes, r.DataSubjectsAffected = MaxBytes, MaxCount }},
		{"epoch", func(r *Record) { r.Timestamp = time.Unix(0, 0).UTC() }},
		{"year 1 and 9999", func(r *Record) { r.Timestamp = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC) }},
	}
	d := NewDecoder(DefaultLimits())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := minimalRecord()
			tc.edit(&want)
			b := want.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("AppendJSON produced invalid JSON: %s", b)
			}
			var got Record
			if err := d.Decode(b, &got); err != nil {
				t.Fatalf("Decode(AppendJSON) = %v for %s", err, b)
			}
			if !equalRecords(&got, &want) {
				t.Fatalf("round trip via %s:\n got %+v\nwant %+v", b, got, want)
			}
		})
	}
}

func TestAppendJSONDetails(t *testing.T) {
	r := minimalRecord()
	r.Timestamp = time.Date(2026, 3, 23, 16, 30, 0, 123456789, time.FixedZone("x", 2*3600))
	r.AgentID = "bad\xffutf8"
	r.Invocation.DurationMS = math.NaN()
	got := string(r.AppendJSON(nil))
	want := `{"trace_id":"t1","span_id":"s1","timestamp":"2026-03-23T14:30:00.123Z","agent_id":"bad\ufffdutf8",` +
		`"tool":{"name":"n1"},"invocation":{"duration_ms":null,"status":"success"}}`
	if got != want {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	// encoding/json agrees on string escaping and float formatting.
	for _, f := range []float64{0, 1, 234, 0.1, 1e-7, 1e21, 123456789.125, 5e-324} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for _, s := range []string{"plain", "q\"b\\", "\n\r\t\x00\x1f", "é😀"} {
		var back string
		if err := json.Unmarshal(jsonw.AppendString(nil, s), &back); err != nil || back != s {
			t.Errorf("jsonw.AppendString(%q) -> %q, %v", s, back, err)
		}
	}
	// Appends to the given buffer.
	pre := []byte("x")
	if out := r.AppendJSON(pre); string(out[:1]) != "x" || !json.Valid(out[1:]) {
		t.Errorf("AppendJSON does not append: %s", out)
	}
}

// validRecord is an independent restatement of docs/design.md §2, used to check what
// the decoder accepts.
func validRecord(r *Record) string {
	in := map[string][]string{
		"trust":  {"", "gold", "silver", "bronze", "unverified"},
		"status": {"success", "error", "denied", "timeout"},
		"class":  {"", "public", "internal", "confidential", "restricted"},
	}
	oneOf := func(s string, set []string) bool {
		for _, x := range set {
			if s == x {
				return true
			}
		}
		return false
	}
	switch {
	case r.TraceID == "" || r.SpanID == "" || r.AgentID == "" || r.Tool.Name == "":
		return "empty required string"
	case r.Timestamp.Location() != time.UTC || r.Timestamp.Year() < 0 || r.Timestamp.Year() > 9999:
		return "timestamp"
	case !oneOf(r.Tool.TrustLevel, in["trust"]) || !oneOf(r.Invocation.Status, in["status"]) ||
		!oneOf(r.Context.DataClassification, in["class"]):
		return "enum"
	case r.Tool.VerificationScore != Absent && !(r.Tool.VerificationScore >= 0 && r.Tool.VerificationScore <= 100):
		return "verification_score"
	case !(r.Invocation.DurationMS >= 0 && r.Invocation.DurationMS <= MaxDurationMS):
		return "duration_ms"
	case r.Invocation.OutputBytes < Absent || r.Invocation.InputBytes < Absent || r.DataSubjectsAffected < Absent ||
		r.Invocation.OutputBytes > MaxBytes || r.Invocation.InputBytes > MaxBytes || r.DataSubjectsAffected > MaxCount:
		return "counts"
	case len(r.Invocation.InputShape) > 256:
		return "input_shape"
	case len(r.Invocation.Destinations) > MaxDestinations || len(r.Invocation.OutputDestinations) > MaxOutputDestinations:
		return "destinations cap"
	}
	for _, l := range [][]string{r.Invocation.Destinations, r.Invocation.OutputDestinations} {
		for _, x := range l {
			if !ValidDestination(x) {
				return "destination format"
			}
		}
	}
	return ""
}

// fuzzSeeds are the hand-written FuzzDecode seeds (also the differential
// tests' corpus, decode2_test.go).
func fuzzSeeds() [][]byte {
	return [][]byte{
		[]byte(minimal),
		[]byte(with(`"a1"`, `"a\u00e9\"\\\ud83d\ude00"`)),
		[]byte(with(`2026-03-23T14:30:00.123Z`, `2026-03-23T16:00:00.123456+01:30`)),
		[]byte(with(`"status":"success"`, `"status":"error","output_bytes":1e3,"permissions_denied":["a:b"]`)),
		[]byte(`{"a":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`),
		[]byte(with(`"tool"`, `"context":{"task_id":"x","data_classification":"public","environment":null},"z":[{"a":"\u0000"}],"tool"`)),
		[]byte(with(`{"name":"n1"}`, `{"name":"n1","trust_level":"gold","verification_score":99.5,"version":7}`)),
		[]byte(with(`"status":"success"`, `"status":"denied","permissions_denied":["network:connect",null],"input_shape":"text/sql"`)),
		[]byte(with(`"a1"`, `"\ud800\udbff\udfff"`)),
		[]byte(with(`"status":"success"`, `"status":"success","destinations":["email:0123456789abcdef","domain:0123456789abcdef0123"],"output_destinations":["chat:0123456789abcdef",null]`)),
		[]byte(with(`"status":"success"`, `"status":"success","destinations":["email:0123456789ABCDEF"]`)),
		[]byte(withChain(`{"producer":"rt-1","seq":2,"prev":"` + hashB + `","hash":"` + hashA + `","checkpoint":{"key_id":"k1","sig":"` + sigA + `"}}`)),
		[]byte(withChain(`{"producer":"rt-1","seq":1,"hash":"` + hashA + `","checkpoint":null}`)),
	}
}

func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	d := NewDecoder(DefaultLimits())
	d2 := NewDecoder(DefaultLimits())
	fj := newFJDecoder(DefaultLimits())
	var r, back, fjr Record
	// fastjson keeps a lone surrogate escape as literal text; we (like
	// encoding/json) decode it to U+FFFD. Skip the comparison there.
	loneSurrogate := regexp.MustCompile(`\\u[dD][89a-fA-F]`)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := d.Decode(data, &r)
		if !loneSurrogate.Match(data) {
			// Differential check against the fastjson-based decoder.
			fjErr := fj.Decode(data, &fjr)
			if Reason(err) != Reason(fjErr) {
				t.Fatalf("decoders disagree on %q:\n single pass: %v\n fastjson:    %v", data, err, fjErr)
			}
			if err == nil && !equalRecords(&r, &fjr) {
				t.Fatalf("decoders disagree on %q:\n single pass: %+v\n fastjson:    %+v", data, r, fjr)
			}
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			// Invalid UTF-8 is rejected on purpose (RFC 8259 §8.1); encoding/json allows it.
			if strings.HasPrefix(err.Error(), "record: invalid JSON") && json.Valid(data) && utf8.Valid(data) {
				t.Fatalf("rejected valid JSON %q: %v", data, err)
			}
			if strings.ContainsAny(Reason(err), "\n\r") {
				t.Fatalf("reason has a newline: %q", Reason(err))
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if why := validRecord(&r); why != "" {
			t.Fatalf("accepted invalid record (%s): %+v from %q", why, r, data)
		}
		enc := r.AppendJSON(nil)
		if err := d2.Decode(enc, &back); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		want := r
		// AppendJSON keeps milliseconds only.
		want.Timestamp = r.Timestamp.Add(-time.Duration(r.Timestamp.Nanosecond() % 1e6))
		if !equalRecords(&back, &want) {
			t.Fatalf("round trip mismatch via %s:\n got %+v\nwant %+v", enc, back, want)
		}
	})
}

// FuzzAppendJSON builds records from fuzzed field values: every valid record
// must encode to valid JSON that decodes back to the same record.
func FuzzAppendJSON(f *testing.F) {
	f.Add("t1", "agent\n\"x\"", "json{a:str}", "data_access:read", 234.5, 94.0, int64(1042), int64(1774276200123456789))
	f.Add("\x00", "é", "", "", 0.0, -1.0, int64(-1), int64(0))
	f.Add("t", "a", "s", "p", 1e-300, 100.0, int64(math.MaxInt64), int64(-62135596800000000))
	d := NewDecoder(DefaultLimits())
	var back Record
	f.Fuzz(func(t *testing.T, trace, agent, shape, perm string, dur, score float64, out, nanos int64) {
		r := minimalRecord()
		r.TraceID, r.AgentID, r.Invocation.InputShape = trace, agent, shape
		r.Invocation.PermissionsUsed = []string{perm}
		r.Invocation.DurationMS, r.Tool.VerificationScore, r.Invocation.OutputBytes = dur, score, out
		ts := time.Unix(0, nanos).UTC()
		r.Timestamp = ts.Add(-time.Duration(ts.Nanosecond() % 1e6))
		if validRecord(&r) != "" || !(utf8.ValidString(trace) && utf8.ValidString(agent) && utf8.ValidString(shape) && utf8.ValidString(perm)) ||
			(score != Absent && (score < 0 || score > 100)) {
			return // not a valid record; Decode is fuzzed by FuzzDecode
		}
		enc := r.AppendJSON(nil)
		if !json.Valid(enc) {
			t.Fatalf("invalid JSON %q", enc)
		}
		if err := d.Decode(enc, &back); err != nil {
			t.Fatalf("Decode(%s): %v", enc, err)
		}
		if !equalRecords(&back, &r) {
			t.Fatalf("round trip via %s:\n got %+v\nwant %+v", enc, back, r)
		}
	})
}
