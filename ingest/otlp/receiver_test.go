package otlp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/toolwatch/toolwatch/ingest/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

type env struct {
	srv  *server.Server
	url  string
	dir  string
	nc   *nats.Conn
	js   jetstream.JetStream
	recv *Receiver
	m    *Metrics
}

// startNATS starts the embedded server on port (0 = free) with a stream
// AUDIT over audit.records.> like the daemon's consumer creates.
func startNATS(t testing.TB, port int, dir string) (*server.Server, string) {
	t.Helper()
	srv, url, err := embedded.Start(port, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv, url
}

// newEnv starts NATS, the stream and a receiver on free loopback ports.
func newEnv(t testing.TB, edit func(*Config)) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.srv, e.url = startNATS(t, 0, e.dir)
	nc, err := nats.Connect(e.url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e.nc = nc
	e.js, _ = jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"},
		Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.HTTPListen, cfg.GRPCListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.PublishTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	e.m = NewMetrics(nil)
	e.recv, err = New(cfg, nc, Options{Log: zerolog.Nop(), Metrics: e.m})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.recv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.recv.Shutdown(ctx)
	})
	return e
}

// stored returns the data of every message in the AUDIT stream.
func (e *env) stored(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, "AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Subject+" "+string(m.Data))
	}
	return out
}

// goldenRecords are the "record" lines of the mapping golden file.
func goldenRecords(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/mapping.golden")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if s, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "record "); ok {
			out = append(out, s)
		}
	}
	return out
}

func requestJSON(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/request.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func requestProto(t testing.TB) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(requestJSON(t)); err != nil {
		t.Fatal(err)
	}
	b, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

type post struct {
	ct, enc, auth string
	body          []byte
	method        string
}

func (e *env) post(t testing.TB, p post) (*http.Response, []byte) {
	t.Helper()
	m := p.method
	if m == "" {
		m = http.MethodPost
	}
	req, err := http.NewRequest(m, "http://"+e.recv.HTTPAddr()+TracesPath, bytes.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	if p.ct != "" {
		req.Header.Set("Content-Type", p.ct)
	}
	if p.enc != "" {
		req.Header.Set("Content-Encoding", p.enc)
	}
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A JSON request, then the same spans as gzip-compressed protobuf: the
// valid tool spans are stored once (Nats-Msg-Id), field for field as the
// golden mapping; the rejected ones are reported in partial_success; the
// non-tool span is counted and ignored.
func TestHTTPStoresToolSpans(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []post{
		{ct: "application/json", body: requestJSON(t)},
		{ct: "application/x-protobuf", enc: "gzip", body: gz(requestProto(t))},
	} {
		resp, body := e.post(t, p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", p.ct, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Type"); got != p.ct {
			t.Errorf("response Content-Type %q, want %q", got, p.ct)
		}
		er := ptraceotlp.NewExportResponse()
		var err error
		if p.ct == "application/json" {
			err = er.UnmarshalJSON(body)
		} else {
			err = er.UnmarshalProto(body)
		}
		if err != nil {
			t.Fatal(err)
		}
		ps := er.PartialSuccess()
		if ps.RejectedSpans() != 4 || !strings.Contains(ps.ErrorMessage(), "trace_id: span has no trace id") ||
			!strings.Contains(ps.ErrorMessage(), "agent_id: required") {
			t.Errorf("partial_success %d %q", ps.RejectedSpans(), ps.ErrorMessage())
		}
	}
	got, want := e.stored(t), goldenRecords(t)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream holds\n%s\nwant (golden)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := testutil.ToFloat64(e.m.spans.WithLabelValues("stored")); v != 8 {
		t.Errorf("stored spans %v, want 8 (4 per request; the second were duplicates JetStream dropped)", v)
	}
	if v := testutil.ToFloat64(e.m.spans.WithLabelValues("not_tool")); v != 2 {
		t.Errorf("not_tool spans %v, want 2", v)
	}
	if v := testutil.ToFloat64(e.m.rejected.WithLabelValues("trace_id")); v != 2 {
		t.Errorf("rejected{reason=trace_id} %v, want 2", v)
	}
	if v := testutil.ToFloat64(e.m.requests.WithLabelValues("http", codePartial)); v != 2 {
		t.Errorf("partial requests %v, want 2", v)
	}
}

// Each kind of bad input gets its status and google.rpc.Status body, is
// counted, and the receiver keeps serving: a valid request afterwards is
// stored.
func TestHTTPBadInput(t *testing.T) {
	t.Setenv("TOOLWATCH_TEST_OTLP_TOKEN", "s3cret")
	e := newEnv(t, func(c *Config) {
		c.MaxRequestBytes = 64 << 10
		c.MaxDecompressedBytes = 1 << 20
		c.Auth.BearerTokenEnv = "TOOLWATCH_TEST_OTLP_TOKEN"
	})
	const auth = "Bearer s3cret"
	bomb := gz(make([]byte, 8<<20)) // 8 MiB of zeros, a few KiB compressed
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	tests := []struct {
		name   string
		p      post
		status int
		code   string
	}{
		{"unauthenticated", post{ct: "application/x-protobuf", body: requestProto(t)}, 401, codeUnauthenticated},
		{"wrong token", post{ct: "application/x-protobuf", auth: "Bearer nope", body: requestProto(t)}, 401, codeUnauthenticated},
		{"malformed protobuf", post{ct: "application/x-protobuf", auth: auth, body: []byte("\x0a\xff\xff\xff\xff\x0f")}, 400, codeBadRequest},
		{"malformed json", post{ct: "application/json", auth: auth, body: []byte(`{"resourceSpans":[`)}, 400, codeBadRequest},
		{"wrong content type", post{ct: "text/plain", auth: auth, body: requestJSON(t)}, 415, codeUnsupportedMediaType},
		{"no content type", post{auth: auth, body: requestProto(t)}, 415, codeUnsupportedMediaType},
		{"unknown encoding", post{ct: "application/json", enc: "br", auth: auth, body: requestJSON(t)}, 415, codeUnsupportedMediaType},
		{"oversized body", post{ct: "application/x-protobuf", auth: auth, body: make([]byte, 65<<10)}, 413, codeTooLarge},
		{"gzip bomb", post{ct: "application/x-protobuf", enc: "gzip", auth: auth, body: bomb}, 413, codeTooLarge},
		{"broken gzip", post{ct: "application/x-protobuf", enc: "gzip", auth: auth, body: []byte("\x1f\x8b\x08garbage")}, 400, codeBadRequest},
		{"GET", post{method: http.MethodGet, auth: auth}, 405, codeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.m.requests.WithLabelValues("http", tc.code))
			resp, body := e.post(t, tc.p)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if after := testutil.ToFloat64(e.m.requests.WithLabelValues("http", tc.code)); after != before+1 {
				t.Errorf("requests{code=%s} went %v -> %v", tc.code, before, after)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if n := len(e.stored(t)); n != 0 {
		t.Fatalf("bad requests stored %d records", n)
	}
	resp, body := e.post(t, post{ct: "application/x-protobuf", enc: "gzip", auth: auth, body: gz(requestProto(t))})
	if resp.StatusCode != 200 {
		t.Fatalf("valid request after bad ones: %d %s", resp.StatusCode, body)
	}
	if got, want := len(e.stored(t)), len(goldenRecords(t)); got != want {
		t.Errorf("stored %d records, want %d", got, want)
	}
}

// The bearer token comes from a file.
func TestAuthTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Auth.BearerTokenFile = file })
	if resp, body := e.post(t, post{ct: "application/json", auth: "Bearer from-file", body: requestJSON(t)}); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	cfg := DefaultConfig()
	cfg.Auth.BearerTokenEnv = "TOOLWATCH_TEST_UNSET_TOKEN"
	if _, err := New(cfg, e.nc, Options{}); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("unset token env: %v", err)
	}
}

// Over max_concurrent_requests: 429 with Retry-After over HTTP,
// RESOURCE_EXHAUSTED with RetryInfo over gRPC; nothing stored.
func TestBackPressure(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrentRequests = 1; c.RetryAfter = 7 * time.Second })
	e.recv.sem <- struct{}{} // a request in flight
	resp, _ := e.post(t, post{ct: "application/x-protobuf", body: requestProto(t)})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("status %d Retry-After %q, want 429 and 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_, err := grpcClient(t, e).Export(context.Background(), protoRequest(t))
	checkRetryStatus(t, err, codes.ResourceExhausted, 7*time.Second)
	<-e.recv.sem
	if n := len(e.stored(t)); n != 0 {
		t.Errorf("throttled requests stored %d records", n)
	}
}

func protoRequest(t testing.TB) ptraceotlp.ExportRequest {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(requestJSON(t)); err != nil {
		t.Fatal(err)
	}
	return req
}

func grpcClient(t testing.TB, e *env) ptraceotlp.GRPCClient {
	t.Helper()
	cc, err := grpc.NewClient(e.recv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return ptraceotlp.NewGRPCClient(cc)
}

func checkRetryStatus(t *testing.T, err error, want codes.Code, delay time.Duration) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != want {
		t.Fatalf("gRPC error %v, want %s", err, want)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay.AsDuration() == delay {
			return
		}
	}
	t.Errorf("%s without RetryInfo %s: %v", want, delay, st.Details())
}

// OTLP/gRPC with gzip: same records and partial_success as HTTP; a missing
// or wrong token is UNAUTHENTICATED.
func TestGRPC(t *testing.T) {
	t.Setenv("TOOLWATCH_TEST_OTLP_TOKEN", "s3cret")
	e := newEnv(t, func(c *Config) { c.Auth.BearerTokenEnv = "TOOLWATCH_TEST_OTLP_TOKEN" })
	c := grpcClient(t, e)
	_, err := c.Export(context.Background(), protoRequest(t))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	resp, err := c.Export(ctx, protoRequest(t), grpc.UseCompressor(grpcgzip.Name))
	if err != nil {
		t.Fatal(err)
	}
	if resp.PartialSuccess().RejectedSpans() != 4 {
		t.Errorf("rejected %d, want 4", resp.PartialSuccess().RejectedSpans())
	}
	got, want := e.stored(t), goldenRecords(t)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := testutil.ToFloat64(e.m.requests.WithLabelValues("grpc", codeUnauthenticated)); v != 1 {
		t.Errorf("grpc unauthenticated %v, want 1", v)
	}
}

// JetStream without the stream (no responders) and JetStream down (acks
// never come within publish_timeout): 503 + Retry-After / UNAVAILABLE, and
// after the server is back the client's retry stores every record exactly
// once — nothing was acknowledged that was not stored.
func TestJetStreamUnavailable(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PublishTimeout = 300 * time.Millisecond; c.RetryAfter = 2 * time.Second })
	t.Run("no stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.js.DeleteStream(ctx, "AUDIT"); err != nil {
			t.Fatal(err)
		}
		resp, body := e.post(t, post{ct: "application/json", body: requestJSON(t)})
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		_, err := grpcClient(t, e).Export(context.Background(), protoRequest(t))
		checkRetryStatus(t, err, codes.Unavailable, 2*time.Second)
		if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"},
			Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		port := e.srv.Addr().(interface{ String() string }).String()
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		resp, body := e.post(t, post{ct: "application/json", body: requestJSON(t)})
		if resp.StatusCode != 503 {
			t.Fatalf("status %d with NATS down: %s", resp.StatusCode, body)
		}
		if v := testutil.ToFloat64(e.m.spans.WithLabelValues("stored")); v != 0 {
			t.Fatalf("%v spans counted stored while NATS was down", v)
		}
		var p int
		fmt.Sscanf(port[strings.LastIndex(port, ":")+1:], "%d", &p)
		e.srv, _ = startNATS(t, p, e.dir)
		// The client retries until the receiver answers 200.
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, body := e.post(t, post{ct: "application/json", body: requestJSON(t)})
			if resp.StatusCode == 200 {
				break
			}
			if resp.StatusCode != 503 || time.Now().After(deadline) {
				t.Fatalf("retry: status %d: %s", resp.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		got, want := e.stored(t), goldenRecords(t)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("after retry the stream holds\n%s\nwant each record once\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// rawCodec sends bytes as they are, to put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// Over gRPC, what grpc-go refuses before Export runs is answered by it and
// still counted: an oversized message, malformed protobuf.
func TestGRPCBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxRequestBytes, c.MaxDecompressedBytes = 1024, 64<<10 })
	cc, err := grpc.NewClient(e.recv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	const method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	for _, tc := range []struct {
		name string
		body []byte
		want codes.Code
		code string
	}{
		// A 70 KiB string field (span name) inside resource_spans.
		{"oversized", append([]byte{0x0a, 0x86, 0xe0, 0x04}, make([]byte, 70<<10+6)...), codes.ResourceExhausted, codeTooLarge},
		{"malformed", []byte("\x0a\xff\xff\xff\xff\x0f"), codes.Internal, codeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.m.requests.WithLabelValues("grpc", tc.code))
			var out []byte
			err := cc.Invoke(context.Background(), method, &tc.body, &out, grpc.ForceCodec(rawCodec{}))
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for testutil.ToFloat64(e.m.requests.WithLabelValues("grpc", tc.code)) != before+1 {
				if time.Now().After(deadline) {
					t.Fatalf("requests{transport=grpc,code=%s} not counted", tc.code)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	if _, err := grpcClient(t, e).Export(context.Background(), protoRequest(t)); err != nil {
		t.Fatalf("valid export after bad ones: %v", err)
	}
}
