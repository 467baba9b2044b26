package otlp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

const benchSpans = 100 // tool spans per export request (a typical SDK batch is 512 max)

var benchSeq atomic.Uint64

// benchRequest builds one request of benchSpans tool spans.
func benchRequest() (ptraceotlp.ExportRequest, ptrace.SpanSlice) {
	req := ptraceotlp.NewExportRequest()
	rs := req.Traces().ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-runtime")
	rs.Resource().Attributes().PutStr("deployment.environment.name", "production")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	start := time.Now()
	for i := range benchSpans {
		sp := spans.AppendEmpty()
		sp.SetName("tool customer-lookup")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Millisecond + 150*time.Millisecond)))
		a := sp.Attributes()
		a.PutStr("tool.name", "customer-lookup")
		a.PutStr("tool.version", "2.3.1")
		a.PutStr("tool.trust_level", "gold")
		a.PutStr("agent.id", fmt.Sprintf("agent-%d", i%8))
		a.PutStr("task.id", "task-1")
		a.PutStr("data.classification", "internal")
		a.PutEmptySlice("permissions.used").AppendEmpty().SetStr("data_access:read")
	}
	return req, spans
}

// renumber gives every span a fresh id, so JetStream stores each (no
// Nats-Msg-Id duplicates).
func renumber(spans ptrace.SpanSlice) {
	for i := range spans.Len() {
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		n := benchSeq.Add(1)
		binary.BigEndian.PutUint64(tid[8:], n)
		tid[0] = 1
		binary.BigEndian.PutUint64(sid[:], n)
		spans.At(i).SetTraceID(tid)
		spans.At(i).SetSpanID(sid)
	}
}

// Spans per second through the OTLP/HTTP receiver into JetStream (file
// store, every record acked before the 200), parallel clients.
func BenchmarkReceiverHTTP(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.MaxConcurrentRequests = 1024 })
	url := "http://" + e.recv.HTTPAddr() + TracesPath
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, spans := benchRequest()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		for pb.Next() {
			renumber(spans)
			body, _ := req.MarshalProto()
			resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

// The same over OTLP/gRPC (one connection, parallel streams).
func BenchmarkReceiverGRPC(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.MaxConcurrentRequests = 1024 })
	client := grpcClient(b, e)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, spans := benchRequest()
		for pb.Next() {
			renumber(spans)
			if _, err := client.Export(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

// The raw JetStream publish rate of the same records in the same setting:
// batches of benchSpans async publishes with Nats-Msg-Id, waiting for all
// acks, from parallel publishers — the receiver's ceiling.
func BenchmarkRawJetStreamPublish(b *testing.B) {
	e := newEnv(b, nil)
	req, spans := benchRequest()
	renumber(spans)
	m := newMapper(DefaultConfig().ToolSpans, DefaultConfig().Attributes, Options{}.Limits)
	var data [][]byte
	res := req.Traces().ResourceSpans().At(0).Resource().Attributes()
	for i := range spans.Len() {
		d, _, rej := m.mapSpan(nil, res, spans.At(i))
		if rej != nil {
			b.Fatal(rej)
		}
		data = append(data, d)
	}
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(maxPendingAsync))
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		futures := make([]jetstream.PubAckFuture, 0, benchSpans)
		for pb.Next() {
			futures = futures[:0]
			for i, d := range data {
				id := fmt.Sprintf("raw-%d", benchSeq.Add(1))
				f, err := js.PublishMsgAsync(&nats.Msg{Subject: fmt.Sprintf("audit.records.production.agent-%d", i%8), Data: d,
					Header: nats.Header{jetstream.MsgIDHeader: []string{id}}})
				if err != nil {
					b.Error(err)
					return
				}
				futures = append(futures, f)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Error(err)
				case <-ctx.Done():
					b.Error("ack timeout")
				}
			}
			cancel()
		}
	})
	b.ReportMetric(float64(b.N*benchSpans)/b.Elapsed().Seconds(), "records/s")
}

// Mapping and validating one tool span (no publish): the receiver's own
// per-span cost.
func BenchmarkMapSpan(b *testing.B) {
	req, spans := benchRequest()
	renumber(spans)
	res := req.Traces().ResourceSpans().At(0).Resource().Attributes()
	m := newMapper(DefaultConfig().ToolSpans, DefaultConfig().Attributes, Options{}.Limits)
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sp := spans.At(i % benchSpans)
		if !m.isToolSpan(sp) {
			b.Fatal("not a tool span")
		}
		var rej *rejection
		if buf, _, rej = m.mapSpan(buf[:0], res, sp); rej != nil {
			b.Fatal(rej)
		}
	}
}
