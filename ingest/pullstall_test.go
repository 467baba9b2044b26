package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Issue 13 (pull stall): the first pull request of a subscription reaches
// no consumer — the durable is gone from the server for a moment, as a
// new R3 durable is until its leader's request subscription reaches the
// client's server — and the server answers 503 No Responders. nats.go
// keeps counting that request's batch as pending and pulls again only
// when its missing-heartbeat timer fires (2×heartbeat = the pull expiry,
// 30 s here as nats.go's default), although the recreated durable has
// every record pending. The consumer must restart the pull instead:
// everything arrives well before the first pull would have expired.
func TestJetStreamPullAnsweredNoRespondersIsRetried(t *testing.T) {
	const expiry = 30 * time.Second
	servers := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"embedded v2.15", func(t *testing.T) string { _, url := startEmbedded(t, 0, t.TempDir()); return url }},
		{"nats-server binary", func(t *testing.T) string { return startBinary(t, "-js", "-sd", t.TempDir()) }},
	}
	for _, tc := range servers {
		t.Run(tc.name, func(t *testing.T) {
			nc, cfg := publishedStream(t, tc.start(t), 10)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(nc, cfg, Options{Log: quiet, Metrics: NewMetrics(nil), IdleAfter: time.Hour, PullExpiry: expiry})
			if err != nil {
				t.Fatal(err)
			}
			var (
				once     sync.Once
				recreate = make(chan error, 1)
			)
			c.beforePull = func() {
				once.Do(func() {
					ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
					defer cancel()
					if err := js.DeleteConsumer(ctx, cfg.Stream, cfg.Consumer); err != nil {
						t.Errorf("delete consumer: %v", err)
					}
					// Back after the first pull got its 503 (answered at
					// once by the server, long before this).
					go func() {
						time.Sleep(200 * time.Millisecond)
						ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
						defer cancel()
						_, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, c.consumerConfig(1))
						recreate <- err
					}()
				})
			}
			h := newRecorder()
			start := time.Now()
			stop := run(t, c, h)
			if err := <-recreate; err != nil {
				t.Fatalf("recreate consumer: %v", err)
			}
			for h.distinct() < 10 {
				if time.Since(start) > expiry/2 {
					t.Fatalf("%d of 10 pending records handled after %v: the pull stalled", h.distinct(), time.Since(start))
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("10 records handled %v after the start", time.Since(start).Round(time.Millisecond))
			waitFor(t, "everything acked", acked(nc, cfg, 10))
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
