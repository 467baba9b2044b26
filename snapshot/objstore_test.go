package snapshot

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

func TestMain(m *testing.M) {
	// nats.go v1.55 jetstream: resetPendingAcksOnReconnect was seen blocked
	// forever receiving from a nil status channel (chan receive (nil chan))
	// after the connection closed; it is the library's goroutine, not ours.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	s, url, err := embedded.Start(0, t.TempDir(), quiet)
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	_, js := testserver.Connect(t, url)
	return js
}

// Round trip through the object store, a snapshot bigger than the default
// max payload (1 MiB), the two slots in turn, and the fallback when the
// newest is corrupt.
func TestObjectStore(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Store = StoreNATS
	st, err := Open(ctx, cfg, js, 1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mg, m := newManager(st)
	if _, _, probs, err := mg.Load(ctx, nil); !errors.Is(err, ErrNoSnapshot) || len(probs) != 0 {
		t.Fatalf("empty bucket: %v %v", err, probs)
	}
	big := snap(1)
	big.Sections["detector/latency"] = make([]byte, 3<<20)
	for i := range big.Sections["detector/latency"] {
		big.Sections["detector/latency"][i] = byte(i * 7)
	}
	if err := mg.Save(ctx, big); err != nil {
		t.Fatalf("Save 3 MiB: %v", err)
	}
	s, src, _, err := mg.Load(ctx, nil)
	if err != nil || s.LastAppliedSeq != 1 ||
		!bytes.Equal(s.Sections["detector/latency"], big.Sections["detector/latency"]) {
		t.Fatalf("Load big: %v from %s", err, src)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		if err := mg.Save(ctx, snap(seq)); err != nil {
			t.Fatal(err)
		}
	}
	// Reopening (a restart) finds the same bucket.
	st2, err := Open(ctx, cfg, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	mg2, _ := newManager(st2)
	seq, src, probs := loadSeq(t, mg2)
	if seq != 4 || len(probs) != 0 {
		t.Fatalf("after 4 saves: seq %d from %s, problems %v", seq, src, probs)
	}
	blobs, err := st.Read(ctx)
	if err != nil || len(blobs) != 2 {
		t.Fatalf("Read: %d blobs, %v", len(blobs), err)
	}

	// Corrupt the newest copy (a valid object holding bad bytes): the
	// previous one (seq 3) is used and the problem counted.
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, blobs[0].Source[len(cfg.Bucket)+1:])
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), blobs[0].Data...)
	bad[40] ^= 0xff
	if _, err := obs.Put(ctx, info.ObjectMeta, bytesReader(bad)); err != nil {
		t.Fatal(err)
	}
	seq, src, probs = loadSeq(t, mg)
	if seq != 3 || len(probs) != 1 || probs[0].Reason != "checksum" || probs[0].Source != blobs[0].Source {
		t.Errorf("corrupt newest: seq %d from %s, problems %+v; want 3 and one checksum problem", seq, src, probs)
	}
	if got := failures(m, "checksum"); got != 1 {
		t.Errorf("load failures{checksum} = %v", got)
	}
	// The next save overwrites the older slot (seq 3, still valid) and
	// becomes the newest; the corrupt one is next in line.
	if err := mg.Save(ctx, snap(5)); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := loadSeq(t, mg); seq != 5 {
		t.Errorf("after save 5: seq %d", seq)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Sub stores: the partitions of a consumer group share one bucket, each
// with its own two slots; a save under one prefix is invisible under
// another and under the unprefixed store.
func TestObjectStoreSub(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	root, err := OpenObjectStore(ctx, js, "subs", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, b := root.Sub("g/0/"), root.Sub("g/1/")
	for i, st := range []*ObjectStore{a, a, a, b} {
		if err := st.Save(ctx, []byte{byte(i)}); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		st   *ObjectStore
		want [][]byte
	}{
		{a, [][]byte{{2}, {1}}}, // newest first; the first save was overwritten
		{b, [][]byte{{3}}},
		{root, nil},
	} {
		blobs, err := tc.st.Read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.st, err)
		}
		var got [][]byte
		for _, bl := range blobs {
			if bl.Err != nil {
				t.Fatalf("%s: %s: %v", tc.st, bl.Source, bl.Err)
			}
			got = append(got, bl.Data)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d blobs %v, want %v", tc.st, len(got), got, tc.want)
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: blob %d = %v, want %v", tc.st, i, got[i], tc.want[i])
			}
		}
	}
}

// Stores sharing a bucket through Sub keep their delta chains apart: one
// reads only its own, and its Prune leaves the others' alone.
func TestObjectStoreSubDeltas(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	root, err := OpenObjectStore(ctx, js, "subdeltas", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, b := root.Sub("g/1/"), root.Sub("g/10/")
	const base = 7
	for i, st := range []*ObjectStore{a, b, root} {
		if err := st.SaveDelta(ctx, base, 1, []byte{byte(i)}); err != nil {
			t.Fatalf("%s: save delta: %v", st, err)
		}
	}
	read := func(st *ObjectStore) [][]byte {
		t.Helper()
		blobs, err := st.ReadDeltas(ctx, base)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		var out [][]byte
		for _, bl := range blobs {
			if bl.Err != nil {
				t.Fatalf("%s: %s: %v", st, bl.Source, bl.Err)
			}
			out = append(out, bl.Data)
		}
		return out
	}
	for i, st := range []*ObjectStore{a, b, root} {
		if got := read(st); len(got) != 1 || !bytes.Equal(got[0], []byte{byte(i)}) {
			t.Fatalf("%s: deltas %v, want only its own [%d]", st, got, i)
		}
	}
	// a has no base in its slots: its Prune drops its own chain only.
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(a); len(got) != 0 {
		t.Errorf("%s: deltas %v after prune, want none", a, got)
	}
	if got := read(b); len(got) != 1 {
		t.Errorf("%s: deltas %v after a's prune, want its one", b, got)
	}
	if got := read(root); len(got) != 1 {
		t.Errorf("%s: deltas %v after a's prune, want its one", root, got)
	}
}
