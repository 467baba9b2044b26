package otlp

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed exports
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// newGRPCServer serves opentelemetry.proto.collector.trace.v1.TraceService
// through pdata's registration. grpc-go bounds each message, after
// decompression, by MaxRecvMsgSize (answering RESOURCE_EXHAUSTED itself).
func (r *Receiver) newGRPCServer() *grpc.Server {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(r.cfg.MaxDecompressedBytes), grpc.StatsHandler(&grpcStats{m: r.m})}
	if r.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(r.tls)))
	}
	s := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(s, &grpcTraces{r: r})
	return s
}

type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	r := g.r
	if h, ok := ctx.Value(handledKey{}).(*bool); ok {
		*h = true // counted here, not by grpcStats
	}
	if r.token != nil {
		var auth string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("authorization"); len(v) > 0 {
				auth = v[0]
			}
		}
		if !r.authorized(auth) {
			r.m.requests.WithLabelValues("grpc", codeUnauthenticated).Inc()
			return ptraceotlp.ExportResponse{}, status.Error(codes.Unauthenticated, "missing or wrong bearer token")
		}
	}
	if !r.acquire() {
		r.m.requests.WithLabelValues("grpc", codeThrottled).Inc()
		return ptraceotlp.ExportResponse{}, r.retryStatus(codes.ResourceExhausted, "too many concurrent export requests")
	}
	defer r.release()
	resp, err := r.export(ctx, req.Traces())
	if err != nil {
		e := err.(*exportErr)
		r.m.requests.WithLabelValues("grpc", e.code).Inc()
		c := codes.Unavailable
		if e.code == codeThrottled {
			c = codes.ResourceExhausted
		}
		return ptraceotlp.ExportResponse{}, r.retryStatus(c, e.msg)
	}
	code := codeOK
	if resp.PartialSuccess().RejectedSpans() > 0 {
		code = codePartial
	}
	r.m.requests.WithLabelValues("grpc", code).Inc()
	return resp, nil
}

// retryStatus carries RetryInfo: OTLP clients retry RESOURCE_EXHAUSTED only
// with it, and honour its delay for both codes.
func (r *Receiver) retryStatus(c codes.Code, msg string) error {
	st := status.New(c, msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.cfg.RetryAfter)}); err == nil {
		st = d
	}
	return st.Err()
}

// grpcStats counts the requests grpc-go answers before Export runs: a
// message over MaxRecvMsgSize (RESOURCE_EXHAUSTED), one that does not
// decode, an unknown method.
type grpcStats struct{ m *Metrics }

type handledKey struct{}

func (s *grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, handledKey{}, new(bool))
}

func (s *grpcStats) HandleRPC(ctx context.Context, st stats.RPCStats) {
	end, ok := st.(*stats.End)
	if !ok || end.Error == nil {
		return
	}
	if h, ok := ctx.Value(handledKey{}).(*bool); ok && *h {
		return
	}
	code := codeBadRequest
	if status.Code(end.Error) == codes.ResourceExhausted {
		code = codeTooLarge
	}
	s.m.requests.WithLabelValues("grpc", code).Inc()
}

func (s *grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (s *grpcStats) HandleConn(context.Context, stats.ConnStats)                       {}
