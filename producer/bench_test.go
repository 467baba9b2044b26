package producer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/producer"
)

// BenchmarkPublish: one chained record published and acknowledged, with
// the write-ahead fsync of the head (Debian nats-server, file storage),
// with and without a checkpoint signature on every record.
func BenchmarkPublish(b *testing.B) {
	srv := testserver.StartNATS(b)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	for _, every := range []int64{0, 1} {
		name := "unsigned"
		if every == 1 {
			name = "signed-every-record"
		}
		b.Run(name, func(b *testing.B) {
			cfg := producer.Config{StateFile: filepath.Join(b.TempDir(), "head.json")}
			if every > 0 {
				cfg.KeyID, cfg.Key, cfg.CheckpointEvery = "k1", chaintest.Key(1), every
			}
			p, err := producer.Open(js, cfg)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				r := rec(i)
				r.SpanID = p.ID() + "-" + r.SpanID
				if err := p.Publish(ctx, r, []byte(`{"q":"some query"}`)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
