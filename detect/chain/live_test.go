package chain

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/record"
)

// TestLiveJetStream runs the detector on records consumed from a real
// JetStream stream (Debian nats-server): five producers, each with one
// kind of tampering, delivered at least once (every 7th message is nak'ed
// and redelivered) and the detector crashing 40 messages after a snapshot
// and restarting from it, consumption resuming right after the snapshot's
// stream sequence as the daemon does. Each tampering
// raises exactly one finding of its kind naming producer and seq; the
// redeliveries and the restart raise none.
func TestLiveJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testserver.StartNATS(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"},
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}

	// Five interleaved chains of 80 records, one second apart.
	names := []string{"rt-altered", "rt-deleted", "rt-dup", "rt-reorder", "rt-forged"}
	var ss []*chaintest.Stream
	for i, n := range names {
		ss = append(ss, &chaintest.Stream{Producer: n, Agent: fmt.Sprint("agent-", i), Tool: "search", KeyID: "k1",
			Key: chaintest.Key(1), CheckpointEvery: 10, Start: t0, Step: time.Second})
	}
	var rs []*record.Record
	for range 80 {
		for _, s := range ss {
			rs = append(rs, s.Next())
		}
	}
	at := func(p string, seq int64) int {
		return slices.IndexFunc(rs, func(r *record.Record) bool { return r.Chain.Producer == p && r.Chain.Seq == seq })
	}
	// altered after signing (seq 30 carries a checkpoint)
	alt := rs[at("rt-altered", 30)].Clone()
	alt.Invocation.OutputBytes = 5 << 30
	rs[at("rt-altered", 30)] = alt
	// a forged checkpoint
	i := at("rt-forged", 40)
	forged := rs[i].Clone()
	core.Link(forged, "rt-forged", 40, rs[at("rt-forged", 39)].Chain.Hash, "k1", chaintest.Key(2), nil)
	rs[i] = forged
	// a duplicated sequence: a second, re-hashed record 25
	dup := rs[at("rt-dup", 25)].Clone()
	dup.Invocation.Status = record.StatusDenied
	dup.Chain.KeyID = ""
	dup.Chain.Hash, _ = core.Hash(dup, nil)
	rs = slices.Insert(rs, at("rt-dup", 27), dup)
	// a reordered pair beyond the lateness: seq 20 arrives after seq 62
	late := rs[at("rt-reorder", 20)]
	rs = slices.Delete(rs, at("rt-reorder", 20), at("rt-reorder", 20)+1)
	rs = slices.Insert(rs, at("rt-reorder", 62)+1, late)
	// a deleted record
	rs = slices.Delete(rs, at("rt-deleted", 50), at("rt-deleted", 50)+1)

	for n, r := range rs {
		if _, err := js.Publish(ctx, "audit.records.production."+r.AgentID, r.AppendJSON(nil),
			jetstream.WithMsgID(fmt.Sprint("m-", n))); err != nil {
			t.Fatal(err)
		}
	}

	c := testConfig(t)
	wall := func() time.Time { return t0.Add(24 * time.Hour) }
	newRun := func() (*Detector, *detect.Engine) {
		d := newDetector(t, c)
		return d, detect.NewEngine(detect.DefaultTimeConfig(), wall, d)
	}
	dec := record.NewDecoder(record.DefaultLimits())
	var (
		r       record.Record
		out     []detect.Finding
		nakked  = map[uint64]bool{}
		total   = uint64(len(rs))
		snapSeq = total / 2
		crashAt = snapSeq + 40
	)
	// consume runs d/eng over the consumer from startSeq until stop returns
	// true; every 7th message is nak'ed once (redelivered: at least once).
	consume := func(name string, startSeq uint64, d *Detector, eng *detect.Engine, stop func(seq uint64) bool, onSeq func(seq uint64)) {
		cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second}
		if startSeq > 1 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, startSeq
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, "AUDIT", cfg)
		if err != nil {
			t.Fatal(err)
		}
		for {
			batch, err := cons.Fetch(50, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for m := range batch.Messages() {
				got++
				meta, _ := m.Metadata()
				seq := meta.Sequence.Stream
				if err := dec.Decode(m.Data(), &r); err != nil {
					t.Fatal(err)
				}
				out, _ = eng.Process(&r, out)
				if seq%7 == 0 && !nakked[seq] {
					nakked[seq] = true
					m.Nak()
				} else {
					m.Ack()
				}
				onSeq(seq)
				if stop(seq) {
					return
				}
			}
			if got == 0 {
				return
			}
		}
	}
	// First run: snapshot after snapSeq, crash at crashAt.
	d, eng := newRun()
	var ds, es []byte
	var outAtSnap int
	consume("det", 1, d, eng, func(seq uint64) bool { return seq == crashAt }, func(seq uint64) {
		if seq == snapSeq {
			ds, _ = d.MarshalState(nil)
			es, _ = eng.MarshalState(nil)
			outAtSnap = len(out)
		}
	})
	if ds == nil {
		t.Fatal("no snapshot taken")
	}
	// Restart from the snapshot: the findings after it were never sent, and
	// consumption resumes right after its sequence, as the daemon does.
	out = out[:outAtSnap]
	d, eng = newRun()
	if err := d.UnmarshalState(ds); err != nil {
		t.Fatal(err)
	}
	if err := eng.UnmarshalState(es); err != nil {
		t.Fatal(err)
	}
	clear(nakked)
	consume("det2", snapSeq+1, d, eng, func(uint64) bool { return false }, func(uint64) {})
	out = eng.Advance(t0.Add(24*time.Hour), out)
	var kinds []string
	for _, f := range out {
		kinds = append(kinds, fmt.Sprintf("%s %v %v", f.Detail, f.Details["producer"], f.Details["seq"]))
	}
	sort.Strings(kinds)
	want := []string{"altered rt-altered 30", "bad_signature rt-forged 40", "fork rt-dup 25",
		"gap rt-deleted 50", "gap rt-reorder 20"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("findings %q, want %q", kinds, want)
	}
	if st := d.Verifier().Stats(); st.Duplicates == 0 {
		t.Fatal("no redelivery was seen")
	}
}
