package producer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/producer"
	"github.com/toolwatch/toolwatch/record"
)

var t0 = time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)

func rec(i int) *record.Record {
	r := new(record.Record)
	r.Reset()
	r.TraceID, r.SpanID = fmt.Sprint("trace-", i/10), fmt.Sprint("span-", i)
	r.Timestamp = t0.Add(time.Duration(i) * time.Second)
	r.AgentID, r.Tool.Name = "agent-a", "search"
	r.Invocation.DurationMS, r.Invocation.Status = 12, record.StatusSuccess
	r.Context.Environment = "production"
	return r
}

// TestSurvivesNATSRestart publishes 300 records while the nats-server is
// restarted mid-stream (once while the producer waits, once while a
// publish times out and the producer process is "restarted" from its state
// file): every record arrives once, with contiguous seqs, and the stream
// verifies with no finding.
func TestSurvivesNATSRestart(t *testing.T) {
	srv := testserver.StartNATS(t)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "head.json")
	cfg := producer.Config{Producer: "rt-test", StateFile: state, KeyID: "k1", Key: chaintest.Key(1),
		CheckpointEvery: 50, RetryWait: 20 * time.Millisecond}
	p, err := producer.Open(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 300; i++ {
		switch i {
		case 100: // server restarts while Publish retries
			srv.Stop()
			go func() { time.Sleep(500 * time.Millisecond); srv.Start() }()
		case 200: // a publish fails while the server is down, then the process restarts
			srv.Stop()
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := p.Publish(short, rec(i), []byte(`{"q":"x"}`))
			cancel()
			if err == nil {
				t.Fatal("publish with the server down succeeded")
			}
			srv.Start()
			if p, err = producer.Open(js, producer.Config{StateFile: state, KeyID: "k1", Key: chaintest.Key(1),
				CheckpointEvery: 50, RetryWait: 20 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			if seq, _ := p.Head(); seq != 200 || p.ID() != "rt-test" {
				t.Fatalf("reopened at seq %d as %q", seq, p.ID())
			}
			continue // record 200 is pending and goes out with the next Publish
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.Publish(wctx, rec(i), []byte(`{"q":"some query"}`))
		cancel()
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}

	// Read the stream back in order and verify it as an auditor would.
	cons, err := js.OrderedConsumer(ctx, "AUDIT", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var dec = record.NewDecoder(record.DefaultLimits())
	var r record.Record
	for n := 0; n < 300; n++ {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("message %d: %v", n+1, err)
		}
		if err := dec.Decode(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Chain.Seq != int64(n+1) || m.Headers().Get(jetstream.MsgIDHeader) != r.SpanID ||
			r.Invocation.InputShape == "" || r.Invocation.InputBytes <= 0 {
			t.Fatalf("message %d: seq %d, msg id %q, span %q, shape %q", n+1, r.Chain.Seq,
				m.Headers().Get(jetstream.MsgIDHeader), r.SpanID, r.Invocation.InputShape)
		}
		buf.Write(m.Data())
		buf.WriteByte('\n')
	}
	if info, _ := js.Stream(ctx, "AUDIT"); info.CachedInfo().State.Msgs != 300 {
		t.Fatalf("stream holds %d messages, want 300", info.CachedInfo().State.Msgs)
	}
	rep, err := chain.VerifyRecords(&buf, chain.FileOptions{Params: chain.DefaultParams(),
		Keys: chain.Keys{"k1": chaintest.PublicKey(1)}, Lateness: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Issues) != 0 || rep.Stats.Accepted != 300 || rep.Stats.CheckpointsValid != 7 {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o600)
	if _, err := producer.Open(nil, producer.Config{StateFile: bad}); err == nil {
		t.Error("corrupt state file accepted")
	}
	if _, err := producer.Open(nil, producer.Config{}); err == nil {
		t.Error("no state file accepted")
	}
	if _, err := producer.Open(nil, producer.Config{StateFile: filepath.Join(dir, "x"), Producer: "has space"}); err == nil {
		t.Error("bad producer id accepted")
	}
	p, err := producer.Open(nil, producer.Config{StateFile: filepath.Join(dir, "new")})
	if err != nil || len(p.ID()) != 19 {
		t.Fatalf("new producer %v %v", p, err)
	}
}
