package group

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSketchKey(t *testing.T) {
	for _, tool := range []string{"db-query", "mcp:files/read*", "ünïcode tool", "a.b>c"} {
		k := sketchKey(7, tool)
		p, got, err := parseSketchKey(k)
		if err != nil || p != 7 || got != tool {
			t.Errorf("%q → %q → (%d, %q, %v)", tool, k, p, got, err)
		}
	}
	for _, bad := range []string{"sketch.7", "owner.3", "sketch.x.ZGI", "sketch.-1.ZGI", "sketch.2000.ZGI", "sketch.1.", "sketch.1.!!"} {
		if _, _, err := parseSketchKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSketchValueRoundTrip(t *testing.T) {
	in := ToolSketches{"latency": {1, 2, 3}, "input_novelty": {}, "output_size": {9}}
	b := AppendSketches(nil, in)
	out, err := DecodeSketches(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(in, out, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("round trip %v → %v", in, out)
	}
	for _, bad := range [][]byte{nil, {2, 0}, {1, 1}, {1, 1, 0, 0}, append(b, 0), b[:len(b)-1], {1, 2, 1, 'a', 0, 1, 'a', 0}} {
		if _, err := DecodeSketches(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

// FuzzDecodeSketches: any value decodes or is refused; what decodes
// re-encodes to a value that decodes the same.
func FuzzDecodeSketches(f *testing.F) {
	f.Add(AppendSketches(nil, ToolSketches{"latency": {1, 2, 3}, "input_novelty": {1, 0}}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSketches(b)
		if err != nil {
			return
		}
		again, err := DecodeSketches(AppendSketches(nil, s))
		if err != nil || !maps.EqualFunc(s, again, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("re-encoding of %x: %v", b, err)
		}
	})
}

// TestSharerOverKV: two members' sharers on one bucket see each other's
// partitions, never a partition's own sketches, skip (and count) a
// malformed value, and drop entries older than the max age.
func TestSharerOverKV(t *testing.T) {
	_, js := startJS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := DefaultConfig()
	kv, err := OpenSketchBucket(ctx, js, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, b := NewSharer(kv, cfg.ShareMaxAge, clock, zerolog.Nop()), NewSharer(kv, cfg.ShareMaxAge, clock, zerolog.Nop())
	for _, s := range []*Sharer{a, b} {
		go s.Watch(ctx)
		<-s.Synced()
	}
	// a owns partitions 0 and 1, b owns 2.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Publish(ctx, 0, map[string]ToolSketches{"db-query": {"latency": {0}}}))
	must(a.Publish(ctx, 1, map[string]ToolSketches{"db-query": {"latency": {1}}, "web": {"input_novelty": {1}}}))
	must(b.Publish(ctx, 2, map[string]ToolSketches{"db-query": {"latency": {2}}}))
	if _, err := kv.Put(ctx, sketchKey(3, "db-query"), []byte("junk")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "sketch.zz.bad", []byte{1, 0}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Bad() < 2 || len(b.Others(9)["latency"]["db-query"]) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("b sees %v, %d bad", b.Others(9), b.Bad())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := b.Others(2)
	if l := got["latency"]["db-query"]; len(l) != 2 || l[0][0]+l[1][0] != 1 {
		t.Errorf("partition 2 merges %v, want partitions 0 and 1", l)
	}
	if l := got["input_novelty"]["web"]; len(l) != 1 {
		t.Errorf("partition 2: web %v", l)
	}
	if l := b.Others(1)["input_novelty"]["web"]; len(l) != 0 {
		t.Errorf("partition 1 merges its own web sketch: %v", l)
	}
	mu.Lock()
	now = now.Add(cfg.ShareMaxAge + time.Second)
	mu.Unlock()
	if o := b.Others(2); len(o) != 0 {
		t.Errorf("after max age: %v", o)
	}
}
