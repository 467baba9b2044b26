package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/toolwatch/toolwatch/record"
)

// otlpConfig is fastIdleConfig with the OTLP receiver on free ports.
func otlpConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := "time:\n  idle_advance: 300ms\n  allowed_lateness: 15m\n" +
		"otlp:\n  enabled: true\n  http_listen: 127.0.0.1:0\n  grpc_listen: 127.0.0.1:0\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sentSpan is what a client exported, to compare with the stored record.
type sentSpan struct {
	TraceID    string  `json:"trace_id"`
	SpanID     string  `json:"span_id"`
	StartMS    int64   `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	Status     string  `json:"-"`
	Task       string  `json:"-"`
}

// exportGo sends n warm-up tool calls of ~150 ms and one of anomalyMS
// through the OpenTelemetry Go SDK with exp, instrumented with the
// audit-trail attributes; the last warm-up call fails with a timeout
// (span status Error, error.type) to check status mapping.
func exportGo(t *testing.T, exp sdktrace.SpanExporter, agent string, n int, anomalyMS float64) []sentSpan {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", "go-runtime"),
		attribute.String("deployment.environment.name", "production"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(50*time.Millisecond)))
	tr := tp.Tracer("toolwatch-otlp-test")
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Now().Add(-time.Duration(n+5) * time.Second).Truncate(time.Millisecond)
	var sent []sentSpan
	for i := 0; i <= n; i++ {
		ts := start.Add(time.Duration(i) * time.Second)
		d := math.Round(150 * math.Exp(0.3*rng.NormFloat64()))
		if i == n {
			d = anomalyMS
		}
		s := sentSpan{StartMS: ts.UnixMilli(), DurationMS: d, Status: record.StatusSuccess, Task: "task-" + agent}
		_, sp := tr.Start(context.Background(), "tool customer-lookup", trace.WithTimestamp(ts), trace.WithAttributes(
			attribute.String("tool.name", "customer-lookup"), attribute.String("tool.version", "2.3.1"),
			attribute.String("tool.publisher", "acme-tools"), attribute.String("tool.trust_level", "gold"),
			attribute.String("agent.id", agent), attribute.String("task.id", s.Task),
			attribute.String("data.classification", "internal"),
			attribute.StringSlice("permissions.used", []string{"data_access:read"}),
		))
		if i == n-1 {
			sp.SetStatus(codes.Error, "tool timed out")
			sp.SetAttributes(attribute.String("error.type", "TimeoutError"))
			s.Status = record.StatusTimeout
		}
		sp.End(trace.WithTimestamp(ts.Add(time.Duration(d) * time.Millisecond)))
		s.TraceID, s.SpanID = sp.SpanContext().TraceID().String(), sp.SpanContext().SpanID().String()
		sent = append(sent, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("exporter shutdown: %v", err)
	}
	return sent
}

// storedRecords reads the records of agent from the AUDIT stream.
func storedRecords(t *testing.T, nc *nats.Conn, agent string, want int) []record.Record {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "AUDIT", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"audit.records.production." + agent}})
	if err != nil {
		t.Fatal(err)
	}
	dec := record.NewDecoder(record.DefaultLimits())
	var out []record.Record
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var r record.Record
			if err := dec.Decode(m.Data(), &r); err != nil {
				t.Fatalf("stored record invalid: %v: %s", err, m.Data())
			}
			out = append(out, *r.Clone())
		}
		if n == 0 {
			t.Fatalf("only %d of %d records of %s in the stream", len(out), want, agent)
		}
	}
	return out
}

// checkRecords compares the stored records with the exported spans field
// by field.
func checkRecords(t *testing.T, agent string, sent []sentSpan, got []record.Record) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("%d records stored, %d spans sent", len(got), len(sent))
	}
	byID := map[string]record.Record{}
	for _, r := range got {
		byID[r.SpanID] = r
	}
	for _, s := range sent {
		r, ok := byID[s.SpanID]
		if !ok {
			t.Fatalf("span %s not stored", s.SpanID)
		}
		want := record.Record{
			TraceID: s.TraceID, SpanID: s.SpanID, Timestamp: time.UnixMilli(s.StartMS).UTC(), AgentID: agent,
			Tool: record.Tool{Name: "customer-lookup", Version: "2.3.1", Publisher: "acme-tools", TrustLevel: "gold", VerificationScore: record.Absent},
			Invocation: record.Invocation{DurationMS: s.DurationMS, Status: s.Status, PermissionsUsed: []string{"data_access:read"},
				PermissionsDenied: r.Invocation.PermissionsDenied, OutputBytes: record.Absent, InputBytes: record.Absent},
			Context:              record.Context{TaskID: s.Task, DataClassification: "internal", Environment: "production"},
			DataSubjectsAffected: record.Absent,
		}
		if len(r.Invocation.PermissionsDenied) != 0 {
			t.Errorf("span %s: permissions_denied %v, want none", s.SpanID, r.Invocation.PermissionsDenied)
		}
		if !recordsEqual(r, want) {
			t.Errorf("span %s:\n got %+v\nwant %+v", s.SpanID, r, want)
		}
	}
}

func recordsEqual(a, b record.Record) bool {
	ab := a.AppendJSON(nil)
	bb := b.AppendJSON(nil)
	return bytes.Equal(ab, bb)
}

// waitAlert waits for the firing latency alert of agent on the NATS alert
// subject and checks it points at the anomalous span.
func waitAlert(t *testing.T, alerts <-chan *nats.Msg, agent string, anomaly sentSpan) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-alerts:
			var a struct {
				Status, Pattern, Severity, AgentID, Tool, Environment, TraceID, SpanID string
				Observed                                                               float64
			}
			var raw map[string]any
			if err := json.Unmarshal(m.Data, &raw); err != nil {
				t.Fatal(err)
			}
			str := func(k string) string { s, _ := raw[k].(string); return s }
			a.Status, a.Pattern, a.Severity, a.AgentID, a.Tool = str("status"), str("pattern"), str("severity"), str("agent_id"), str("tool")
			a.Environment, a.TraceID, a.SpanID = str("environment"), str("trace_id"), str("span_id")
			a.Observed, _ = raw["observed"].(float64)
			if a.AgentID != agent || a.Pattern != "latency" || a.Status != "firing" {
				continue
			}
			if a.Severity != "critical" || a.Tool != "customer-lookup" || a.Environment != "production" ||
				a.TraceID != anomaly.TraceID || a.SpanID != anomaly.SpanID || a.Observed != anomaly.DurationMS {
				t.Errorf("alert %s", m.Data)
			}
			return
		case <-deadline:
			t.Fatalf("no latency alert for %s within 30s", agent)
		}
	}
}

// Real OpenTelemetry clients export tool-call spans to the daemon's OTLP
// receiver: the Go SDK over OTLP/HTTP and OTLP/gRPC, and the JS SDK for
// Node over OTLP/HTTP protobuf. Every span is stored field for field as an
// audit record on the stream, and the 30 s call among ~150 ms ones raises
// the critical latency alert through the running daemon.
func TestOTLPClientsRaiseAlerts(t *testing.T) {
	info := daemon(t, Options{ConfigPath: otlpConfig(t)})
	if info.OTLPHTTPAddr == "" || info.OTLPGRPCAddr == "" {
		t.Fatalf("receiver not started: %+v", info)
	}
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("audit.alerts.>", alerts)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	const n = 300
	applied := uint64(0)

	t.Run("go-http", func(t *testing.T) {
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(info.OTLPHTTPAddr),
			otlptracehttp.WithInsecure(), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		if err != nil {
			t.Fatal(err)
		}
		sent := exportGo(t, exp, "go-http-agent", n, 30120)
		checkRecords(t, "go-http-agent", sent, storedRecords(t, nc, "go-http-agent", len(sent)))
		applied += uint64(len(sent))
		waitApplied(t, info.HTTPAddr, applied)
		waitAlert(t, alerts, "go-http-agent", sent[n])
	})
	t.Run("go-grpc", func(t *testing.T) {
		exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(info.OTLPGRPCAddr),
			otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
		if err != nil {
			t.Fatal(err)
		}
		sent := exportGo(t, exp, "go-grpc-agent", n, 28000)
		checkRecords(t, "go-grpc-agent", sent, storedRecords(t, nc, "go-grpc-agent", len(sent)))
		applied += uint64(len(sent))
		waitApplied(t, info.HTTPAddr, applied)
		waitAlert(t, alerts, "go-grpc-agent", sent[n])
	})
	t.Run("node-proto", func(t *testing.T) {
		script := nodeScript(t)
		cmd := exec.Command("node", script)
		cmd.Env = append(os.Environ(), "OTLP_URL=http://"+info.OTLPHTTPAddr+"/v1/traces", "AGENT=node-agent",
			"COUNT=300", "ANOMALY_MS=30120")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node exporter: %v\n%s", err, stderr.Bytes())
		}
		var sent []sentSpan
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var s sentSpan
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("node output %q: %v", sc.Text(), err)
			}
			s.Status, s.Task = record.StatusSuccess, "task-"+strconv.Itoa(len(sent))
			sent = append(sent, s)
		}
		if len(sent) != n+1 {
			t.Fatalf("node exported %d spans, want %d", len(sent), n+1)
		}
		checkRecords(t, "node-agent", sent, storedRecords(t, nc, "node-agent", len(sent)))
		applied += uint64(len(sent))
		waitApplied(t, info.HTTPAddr, applied)
		waitAlert(t, alerts, "node-agent", sent[n])
	})

	mt := metricsText(t, info.HTTPAddr)
	for _, want := range []string{`toolwatch_otlp_requests_total{code="ok",transport="grpc"}`, `toolwatch_otlp_spans_total{outcome="stored"}`} {
		if !bytes.Contains([]byte(mt), []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtoolCheckMetrics(t, mt)
}

// nodeScript returns the Node exporter script, its node_modules installed
// by scripts/test (npm ci). Under CI a missing node or node_modules fails
// the test; elsewhere a machine without node skips it.
func nodeScript(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/otlpnode")
	if err != nil {
		t.Fatal(err)
	}
	ci := os.Getenv("CI") != ""
	if _, err := exec.LookPath("node"); err != nil {
		if ci {
			t.Fatalf("node not found under CI: scripts/test needs Node.js for the OpenTelemetry JS SDK test: %v", err)
		}
		t.Skip("node not found: install Node.js and run `npm ci --prefix app/testdata/otlpnode` to run the OpenTelemetry JS SDK test")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@opentelemetry", "exporter-trace-otlp-proto")); err != nil {
		t.Fatalf("OpenTelemetry JS SDK not installed: run `npm ci --prefix app/testdata/otlpnode` (scripts/test does): %v", err)
	}
	return filepath.Join(dir, "export.js")
}

// The receiver refuses to start where it could acknowledge spans that the
// detector never sees or that are not stored durably.
func TestOTLPStartChecks(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"core mode", "ingest:\n  mode: core\n", "needs ingest.mode jetstream"},
		{"prefix outside the consumed subject", "otlp:\n  subject_prefix: otel.records\n", "not covered by ingest.subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(Options{ConfigPath: path, OTLP: true})
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.OTLP.Enabled {
				t.Fatal("--otlp did not enable the receiver")
			}
			var info Info
			if _, err := startOTLP(cfg, nil, nil, zerolog.Nop(), &info); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("startOTLP: %v, want %q", err, tc.want)
			}
		})
	}
}
