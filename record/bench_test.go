package record

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

func loadReference(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkDecode is the production path: one strict pass with validation.
func BenchmarkDecode(b *testing.B) {
	data := loadReference(b)
	d := NewDecoder(DefaultLimits())
	var r Record
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFastjson is the runner-up: strict scan + reused
// fastjson.Parser + the same validation (fastjson_test.go).
func BenchmarkDecodeFastjson(b *testing.B) {
	data := loadReference(b)
	d := newFJDecoder(DefaultLimits())
	var r Record
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan is the strict syntax/depth pre-scan alone.
func BenchmarkScan(b *testing.B) {
	data := loadReference(b)
	var s scanner
	b.ReportAllocs()
	for b.Loop() {
		if err := s.check(data, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// stdRecord mirrors the v1 record for the encoding/json comparison.
type stdRecord struct {
	TraceID      string `json:"trace_id"`
	SpanID       string `json:"span_id"`
	ParentSpanID string `json:"parent_span_id"`
	Timestamp    string `json:"timestamp"`
	AgentID      string `json:"agent_id"`
	Tool         struct {
		Name              string   `json:"name"`
		Version           string   `json:"version"`
		Publisher         string   `json:"publisher"`
		TrustLevel        string   `json:"trust_level"`
		VerificationScore *float64 `json:"verification_score"`
	} `json:"tool"`
	Invocation struct {
		InputHash         string   `json:"input_hash"`
		OutputHash        string   `json:"output_hash"`
		DurationMS        *float64 `json:"duration_ms"`
		Status            string   `json:"status"`
		PermissionsUsed   []string `json:"permissions_used"`
		PermissionsDenied []string `json:"permissions_denied"`
		OutputBytes       *int64   `json:"output_bytes"`
		InputBytes        *int64   `json:"input_bytes"`
		InputShape        string   `json:"input_shape"`
	} `json:"invocation"`
	Context struct {
		TaskID             string `json:"task_id"`
		UserID             string `json:"user_id"`
		DataClassification string `json:"data_classification"`
		Environment        string `json:"environment"`
	} `json:"context"`
	AuthorizationMethod  string `json:"authorization_method"`
	RetentionPolicy      string `json:"retention_policy"`
	DataSubjectsAffected *int64 `json:"data_subjects_affected"`
	ImmutabilityProof    string `json:"immutability_proof"`
}

// BenchmarkDecodeStdlib is the encoding/json alternative: Unmarshal into a
// mirror struct plus the timestamp parse, without the rest of the
// validation, so it is a lower bound on that approach's cost.
func BenchmarkDecodeStdlib(b *testing.B) {
	data := loadReference(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var s stdRecord
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Timestamp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTimestamp(b *testing.B) {
	ts := []byte("2026-03-23T14:30:00.123Z")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseTimestamp(ts); !ok {
			b.Fatal("parse")
		}
	}
}

func BenchmarkTimeParse(b *testing.B) {
	ts := "2026-03-23T14:30:00.123Z"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	data := loadReference(b)
	var r Record
	if err := NewDecoder(DefaultLimits()).Decode(data, &r); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
