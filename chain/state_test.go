package chain_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

// TestStateRestore: a verifier restored from a snapshot mid-stream (with a
// record pending behind a gap, remembered hashes and a raised
// missing_checkpoint) gives the issues and state of the one that ran
// through, and redeliveries of records from before the snapshot stay
// silent.
func TestStateRestore(t *testing.T) {
	p := chain.DefaultParams()
	p.CheckpointEvery = 8
	keys := chain.Keys{"k1": chaintest.PublicKey(1)}
	rs := stream(120)
	for i := 30; i < len(rs); i++ {
		rs[i].Chain.KeyID = "" // checkpoints stop: missing_checkpoint at 39
	}
	rs = slices.Delete(rs, 50, 52) // gap 51-52
	f := rs[70].Clone()
	f.Invocation.DurationMS = 7
	f.Chain.Hash, _ = chain.Hash(f, nil)
	rs = slices.Insert(rs, 80, f)             // fork of seq 73 (after the deletion), after the snapshot
	rs = slices.Insert(rs, 60, rs[45], rs[5]) // redeliveries: 46 remembered, 6 stale
	const cut = 52                            // after seq 54 arrived: 53, 54 pending

	feed := func(v *chain.Verifier, rs []*record.Record, out []chain.Issue) []chain.Issue {
		for _, r := range rs {
			out = v.Observe(r, int64(r.Chain.Seq), out)
			out = v.Tick(r.Timestamp.Add(-30*time.Second), out)
		}
		return v.Flush(out)
	}
	whole := chain.NewVerifier(p, keys)
	want := feed(whole, rs, nil)

	first := chain.NewVerifier(p, keys)
	var out []chain.Issue
	for _, r := range rs[:cut] {
		out = first.Observe(r, int64(r.Chain.Seq), out)
		out = first.Tick(r.Timestamp.Add(-30*time.Second), out)
	}
	snap, err := first.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	restored := chain.NewVerifier(p, keys)
	if err := restored.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := restored.MarshalState(nil)
	if string(again) != string(snap) {
		t.Fatal("restored state encodes differently")
	}
	out = feed(restored, rs[cut:], out)
	wantKinds := []string{"missing_checkpoint rt-1 39", "fork rt-1 73", "gap rt-1 51"}
	if !slices.Equal(kinds(want), wantKinds) {
		t.Fatalf("uninterrupted run: %v, want %v", kinds(want), wantKinds)
	}
	if !slices.Equal(kinds(out), wantKinds) {
		t.Fatalf("restored run: %v, want %v", kinds(out), wantKinds)
	}
	if restored.Stats() != whole.Stats() {
		t.Fatalf("stats %+v, want %+v", restored.Stats(), whole.Stats())
	}

	// Corrupt and foreign snapshots are rejected and change nothing.
	before, _ := restored.MarshalState(nil)
	bad := slices.Clone(snap)
	bad[len(bad)/2] ^= 0xff
	if err := restored.UnmarshalState(bad); err == nil {
		t.Fatal("corrupt state accepted")
	}
	if err := restored.UnmarshalState([]byte("junk")); err == nil {
		t.Fatal("junk accepted")
	}
	if after, _ := restored.MarshalState(nil); string(after) != string(before) {
		t.Fatal("failed restore changed the state")
	}
}

func kinds(is []chain.Issue) []string {
	var s []string
	for _, i := range is {
		s = append(s, i.Kind+" "+i.Producer+" "+itoa(i.Seq))
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
