package app

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/internal/testserver"
)

// A durable consumer left with AckExplicit by an earlier version (the
// server does not let its ack policy change) is recreated with AckAll, and
// its ack floor still tells the rebuild what the previous run processed:
// the anomaly it had acked is withheld, the one after it alerts.
func TestUpgradeFromAckExplicitDurableKeepsPosition(t *testing.T) {
	url := testserver.StartNATS(t).URL()
	cfgPath := backlogConfig(t)
	cfg, err := LoadConfig(Options{ConfigPath: cfgPath, NATSURL: url})
	if err != nil {
		t.Fatal(err)
	}
	nc, js := testserver.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.Ingest.Stream, Subjects: []string{cfg.Ingest.Subject}})
	if err != nil {
		t.Fatal(err)
	}

	p := newProducer(t, url)
	base := time.Now().Add(-40 * time.Minute)
	const warm = 250
	for i := range warm {
		ts := base.Add(time.Duration(i) * time.Second)
		p.publish(ts, "a", "db-query", 150*math.Exp(0.3*p.rng.NormFloat64()))
		p.publish(ts, "b", "db-query", 150*math.Exp(0.3*p.rng.NormFloat64()))
	}
	p.publish(base.Add((warm+5)*time.Second), "a", "db-query", 30000) // seq 501: processed by the old run
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitStream := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			info, err := stream.Info(ctx)
			if err == nil && info.State.LastSeq == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream did not reach seq %d", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStream(2*warm + 1)

	// The old version's durable: every record acked explicitly.
	cons, err := js.CreateConsumer(ctx, cfg.Ingest.Stream, jetstream.ConsumerConfig{
		Durable: cfg.Ingest.Consumer, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: cfg.Ingest.Subject,
	})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for acked < 2*warm+1 {
		batch, err := cons.Fetch(2*warm+1-acked, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			acked++
		}
	}
	p.publish(base.Add((warm+6)*time.Second), "b", "db-query", 30000) // seq 502: new
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitStream(2*warm + 2)

	alerts, _ := subscribeLatencyAlerts(t, nc, 8)
	info := daemon(t, Options{ConfigPath: cfgPath, NATSURL: url})
	if a, data := nextAlert(t, alerts, 30*time.Second, "no alert for the record after the old durable's ack floor"); a.AgentID != "b" || a.Observed != 30000 {
		t.Errorf("alert %s; want only agent b's (agent a's was processed before the upgrade)", data)
	}
	waitApplied(t, info.HTTPAddr, 2*warm+2)
	if got := metricValue(t, info.HTTPAddr, "toolwatch_alerts_suppressed_rebuild_total"); got != 1 {
		t.Errorf("withheld %v alerts, want 1 (agent a's, at or below the old ack floor)", got)
	}
	select {
	case m := <-alerts:
		t.Errorf("second alert: %s", m.Data)
	default:
	}
	ci, err := js.Consumer(ctx, cfg.Ingest.Stream, cfg.Ingest.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if pol := ci.CachedInfo().Config.AckPolicy; pol != jetstream.AckAllPolicy {
		t.Errorf("ack policy %v after the upgrade, want all", pol)
	}
}
