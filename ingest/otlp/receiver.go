// Package otlp is Toolwatch's OpenTelemetry receiver: agents instrumented
// with OpenTelemetry export their tool-call spans over OTLP/HTTP
// (POST /v1/traces, protobuf or JSON, optionally gzip) or OTLP/gRPC
// (TraceService/Export), and each tool span becomes one v1 audit record
// published to JetStream on <subject_prefix>.<environment>.<agent_id>,
// where the daemon's ordinary consumer reads it (one path, not a second
// pipeline). The wire format is the OpenTelemetry Collector's pdata
// (ptraceotlp); nothing here parses protobuf by hand.
//
// Durability first: a request is answered only after JetStream acked every
// record it produced, so a client's retry covers every failure. Each
// record carries Nats-Msg-Id = <trace_id>-<span_id>, so a retried request
// stores no duplicates within the stream's duplicate window. JetStream
// down or slower than publish_timeout: 503 + Retry-After / UNAVAILABLE
// (with RetryInfo); too many requests at once or the async-publish window
// full: 429 + Retry-After / RESOURCE_EXHAUSTED (with RetryInfo). Both are
// retryable per the OTLP specification.
//
// Spans that are not tool calls (see mapping.go) are counted and ignored.
// A tool span that cannot be mapped to a record the record package accepts
// is rejected in partial_success (rejected_spans, error_message with the
// reasons) and counted by the field at fault; the other spans of the
// request are stored.
package otlp

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/toolwatch/toolwatch/internal/secret"
	"github.com/toolwatch/toolwatch/record"
)

// Options are the receiver's collaborators.
type Options struct {
	Log zerolog.Logger
	// Metrics; nil creates unregistered ones.
	Metrics *Metrics
	// Limits are the record limits (config `limits`) that mapped records
	// are validated against, as the consumer will.
	Limits record.Limits
}

// Receiver is the OTLP receiver. Start it once, Shutdown it once.
type Receiver struct {
	cfg   Config
	js    jetstream.JetStream
	log   zerolog.Logger
	m     *Metrics
	sem   chan struct{}
	token []byte
	tls   *tls.Config

	mappers sync.Pool // *batch

	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	httpAddr string
	grpcAddr string
	wg       sync.WaitGroup
}

// maxPendingAsync bounds records published but not yet acked over all
// requests; beyond it requests are throttled (429).
const maxPendingAsync = 16384

// New prepares a receiver publishing through nc (which the caller closes
// after Shutdown). It reads the bearer token and the TLS files now, so a
// bad setting fails the start.
func New(cfg Config, nc *nats.Conn, opts Options) (*Receiver, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPendingAsync))
	if err != nil {
		return nil, fmt.Errorf("otlp: jetstream: %w", err)
	}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	r := &Receiver{cfg: cfg, js: js, log: opts.Log, m: m, sem: make(chan struct{}, cfg.MaxConcurrentRequests)}
	lim := opts.Limits
	r.mappers.New = func() any { return &batch{m: newMapper(cfg.ToolSpans, cfg.Attributes, lim)} }
	if cfg.Auth.Enabled() {
		tok, err := secret.Read("otlp.auth", "bearer_token", cfg.Auth.BearerTokenFile, cfg.Auth.BearerTokenEnv)
		if err != nil {
			return nil, err
		}
		r.token = []byte(tok)
	}
	if cfg.TLS.Enabled() {
		if r.tls, err = loadTLS(cfg.TLS); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func loadTLS(c TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("otlp.tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("otlp.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("otlp.tls.client_ca_file: no PEM certificate found")
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Start listens on the configured addresses and serves in the background.
func (r *Receiver) Start() error {
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	if r.cfg.HTTPListen != "" {
		ln, err := net.Listen("tcp", r.cfg.HTTPListen)
		if err != nil {
			return fmt.Errorf("otlp: listen on %s: %w", r.cfg.HTTPListen, err)
		}
		lns = append(lns, ln)
		r.httpAddr = ln.Addr().String()
		if r.tls != nil {
			ln = tls.NewListener(ln, r.tls)
		}
		r.httpSrv = &http.Server{Handler: r.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
			// TLS handshake and connection errors go to the daemon's log,
			// not to stderr.
			ErrorLog: stdlog.New(r.log.With().Str("listener", "otlp-http").Logger(), "", 0)}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.log.Error().Err(err).Msg("otlp http server failed")
			}
		}()
	}
	if r.cfg.GRPCListen != "" {
		ln, err := net.Listen("tcp", r.cfg.GRPCListen)
		if err != nil {
			closeAll()
			if r.httpSrv != nil {
				r.httpSrv.Close()
			}
			return fmt.Errorf("otlp: listen on %s: %w", r.cfg.GRPCListen, err)
		}
		r.grpcAddr = ln.Addr().String()
		r.grpcSrv = r.newGRPCServer()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.grpcSrv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.log.Error().Err(err).Msg("otlp grpc server failed")
			}
		}()
	}
	r.log.Info().Str("http", r.httpAddr).Str("grpc", r.grpcAddr).Bool("tls", r.tls != nil).Bool("auth", r.token != nil).
		Msg("otlp receiver listening; tool-call spans become audit records")
	return nil
}

// HTTPAddr and GRPCAddr are the listening addresses ("" when disabled).
func (r *Receiver) HTTPAddr() string { return r.httpAddr }
func (r *Receiver) GRPCAddr() string { return r.grpcAddr }

// Shutdown stops accepting requests and waits (bounded by ctx) for the
// ones in flight, which are answered after their publishes complete.
func (r *Receiver) Shutdown(ctx context.Context) {
	if r.httpSrv != nil {
		if err := r.httpSrv.Shutdown(ctx); err != nil {
			r.httpSrv.Close()
		}
	}
	if r.grpcSrv != nil {
		done := make(chan struct{})
		go func() { r.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			r.grpcSrv.Stop()
			<-done
		}
	}
	r.wg.Wait()
}

// authorized checks an Authorization header value against the token.
func (r *Receiver) authorized(header string) bool {
	if r.token == nil {
		return true
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(header, "bearer ")
	}
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), r.token) == 1
}

// acquire takes an in-flight slot without waiting.
func (r *Receiver) acquire() bool {
	select {
	case r.sem <- struct{}{}:
		r.m.inflight.Inc()
		return true
	default:
		return false
	}
}

func (r *Receiver) release() {
	<-r.sem
	r.m.inflight.Dec()
}

// exportErr is a request that stored nothing reliably and must be retried.
type exportErr struct {
	code string // codeUnavailable or codeThrottled
	msg  string
}

func (e *exportErr) Error() string { return e.msg }

// batch is one request's mapped records and buffers, pooled.
type batch struct {
	m       *mapper
	data    []byte
	subj    []byte
	msgs    []pending
	reasons []string
}

type pending struct {
	subj, data, id [2]int // offsets into batch.subj / batch.data / batch.subj
}

// maxReasons bounds the reasons listed in partial_success.error_message.
const maxReasons = 5

// export maps the spans of td, publishes the records and waits for
// JetStream's acks. The response carries partial_success for rejected
// spans; an *exportErr means nothing may be acknowledged.
func (r *Receiver) export(ctx context.Context, td ptrace.Traces) (ptraceotlp.ExportResponse, error) {
	b := r.mappers.Get().(*batch)
	b.data, b.subj, b.msgs, b.reasons = b.data[:0], b.subj[:0], b.msgs[:0], b.reasons[:0]
	var notTool, rejected int
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				sp := spans.At(k)
				if !b.m.isToolSpan(sp) {
					notTool++
					continue
				}
				d0 := len(b.data)
				var rec *record.Record
				var rej *rejection
				b.data, rec, rej = b.m.mapSpan(b.data, res, sp)
				if rej != nil {
					rejected++
					r.m.rejected.WithLabelValues(rej.Field).Inc()
					if len(b.reasons) < maxReasons {
						b.reasons = append(b.reasons, "span "+spanName(sp)+": "+rej.Error())
					}
					continue
				}
				var p pending
				p.data = [2]int{d0, len(b.data)}
				s0 := len(b.subj)
				b.subj = appendSubject(b.subj, &r.cfg, rec)
				p.subj = [2]int{s0, len(b.subj)}
				i0 := len(b.subj)
				b.subj = append(b.subj, rec.TraceID...)
				b.subj = append(b.subj, '-')
				b.subj = append(b.subj, rec.SpanID...)
				p.id = [2]int{i0, len(b.subj)}
				b.msgs = append(b.msgs, p)
			}
		}
	}
	r.m.spans.WithLabelValues("not_tool").Add(float64(notTool))
	r.m.spans.WithLabelValues("rejected").Add(float64(rejected))

	if err := r.publish(ctx, b); err != nil {
		r.m.spans.WithLabelValues("unstored").Add(float64(len(b.msgs)))
		// Futures of a failed publish may still reference the buffers:
		// drop this batch instead of reusing it.
		return ptraceotlp.ExportResponse{}, err
	}
	r.m.spans.WithLabelValues("stored").Add(float64(len(b.msgs)))
	resp := ptraceotlp.NewExportResponse()
	if rejected > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedSpans(int64(rejected))
		msg := strconv.Itoa(rejected) + " tool span(s) could not be mapped to audit records: " + strings.Join(b.reasons, "; ")
		if rejected > len(b.reasons) {
			msg += "; ..."
		}
		ps.SetErrorMessage(msg)
	}
	r.mappers.Put(b)
	return resp, nil
}

func spanName(sp ptrace.Span) string {
	if id := sp.SpanID(); !id.IsEmpty() {
		return id.String()
	}
	return strconv.Quote(sp.Name())
}

// publish sends the batch's records asynchronously and waits until
// JetStream acked them all, the publish timeout passed or ctx ended.
func (r *Receiver) publish(ctx context.Context, b *batch) error {
	if len(b.msgs) == 0 {
		return nil
	}
	start := time.Now()
	timer := time.NewTimer(r.cfg.PublishTimeout)
	defer timer.Stop()
	futures := make([]jetstream.PubAckFuture, 0, len(b.msgs))
	for _, p := range b.msgs {
		msg := &nats.Msg{
			Subject: string(b.subj[p.subj[0]:p.subj[1]]),
			Data:    b.data[p.data[0]:p.data[1]],
			Header:  nats.Header{jetstream.MsgIDHeader: []string{string(b.subj[p.id[0]:p.id[1]])}},
		}
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return &exportErr{code: codeThrottled, msg: "JetStream publish window full; retry later"}
			}
			return &exportErr{code: codeUnavailable, msg: "JetStream publish failed: " + err.Error()}
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return &exportErr{code: codeUnavailable, msg: "JetStream did not store a record: " + err.Error()}
		case <-timer.C:
			return &exportErr{code: codeUnavailable, msg: "JetStream did not acknowledge within " + r.cfg.PublishTimeout.String()}
		case <-ctx.Done():
			return &exportErr{code: codeUnavailable, msg: "request cancelled before JetStream acknowledged"}
		}
	}
	r.m.publish.Observe(time.Since(start).Seconds())
	return nil
}
