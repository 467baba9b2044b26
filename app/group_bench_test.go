package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/group"
	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/record"
)

// BenchmarkGroupMembers drains a stream of 120,000 records (64 agents, 2
// tools, 12 partitions) already stored on one embedded server with 1 and
// with 2 members started together in this process, and reports the
// aggregate rate (stored records / time from start to every partition's
// consumer caught up). Start-up (joining, restoring, creating durables)
// is inside the time.
//
//	go test -run x -bench BenchmarkGroupMembers -benchtime 1x ./app
func BenchmarkGroupMembers(b *testing.B) {
	const (
		partitions = 12
		n          = 120000
	)
	for _, members := range []int{1, 2} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				srv, url, err := embedded.Start(0, b.TempDir(), zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
				nc, err := nats.Connect(url)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(nc.Close)
				js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				if _, err := group.EnsureStream(ctx, js, config.Default().Ingest.StreamConfig(), partitions); err != nil {
					b.Fatal(err)
				}
				var buf []byte
				msgs := make([]crashMsg, 0, n)
				start := time.Now().Add(-time.Hour).UTC()
				for i := range n {
					agent := fmt.Sprintf("agent-%02d", i%64)
					r := record.Record{
						TraceID: fmt.Sprintf("t%d", i), SpanID: fmt.Sprintf("s%d", i), Timestamp: start.Add(time.Duration(i) * (time.Hour / n)),
						AgentID:    agent,
						Tool:       record.Tool{Name: []string{"search", "db-query"}[i/64%2], Version: "1", TrustLevel: "gold", VerificationScore: record.Absent},
						Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: float64(100 + i%50), OutputBytes: int64(1000 + i%500), InputBytes: record.Absent},
						Context:    record.Context{Environment: "production"}, DataSubjectsAffected: record.Absent,
					}
					buf = r.AppendJSON(buf[:0])
					msgs = append(msgs, crashMsg{subject: "audit.records.production." + agent, data: slices.Clone(buf)})
				}
				publishPaced(b, js, msgs, 0, nil)
				cfgs := make([]string, members)
				for m := range members {
					cfgs[m] = filepath.Join(b.TempDir(), "config.yaml")
					yaml := fmt.Sprintf("group:\n  enabled: true\n  member: m%d\n  partitions: %d\nsnapshot:\n  store: nats\nsinks:\n  log:\n    enabled: false\ntime:\n  allowed_lateness: 2h\n", m, partitions)
					if err := os.WriteFile(cfgs[m], []byte(yaml), 0o600); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				began := time.Now()
				runCtx, stop := context.WithCancel(context.Background())
				done := make(chan error, members)
				for m := range members {
					go func() {
						done <- Run(runCtx, Options{ConfigPath: cfgs[m], NATSURL: url, HTTPListen: "127.0.0.1:0", LogOutput: io.Discard})
					}()
				}
				waitConsumed(b, js, partitions)
				elapsed := time.Since(began)
				b.StopTimer()
				b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
				stop()
				for range members {
					if err := <-done; err != nil {
						b.Error(err)
					}
				}
				cancel()
			}
		})
	}
}
