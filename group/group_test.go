package group

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		bad  string // the field at fault; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"enabled with a member", func(c *Config) { c.Enabled, c.Member = true, "node-1" }, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "name"},
		{"dot in name", func(c *Config) { c.Name = "a.b" }, "name"},
		{"wildcard in member", func(c *Config) { c.Member = "m*" }, "member"},
		{"no partitions", func(c *Config) { c.Partitions = 0 }, "partitions"},
		{"too many partitions", func(c *Config) { c.Partitions = MaxPartitions + 1 }, "partitions"},
		{"heartbeat too short", func(c *Config) { c.Heartbeat = time.Millisecond }, "heartbeat"},
		{"lease under 3 heartbeats", func(c *Config) { c.LeaseTTL = 5 * time.Second }, "lease_ttl"},
		{"sharing off", func(c *Config) { c.ShareInterval = 0 }, ""},
		{"share interval too short", func(c *Config) { c.ShareInterval = time.Millisecond }, "share_interval"},
		{"share max age under 2 intervals", func(c *Config) { c.ShareMaxAge = 59 * time.Second }, "share_max_age"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		es := c.Validate()
		switch {
		case tc.bad == "" && len(es) > 0:
			t.Errorf("%s: %v, want valid", tc.name, es)
		case tc.bad != "" && (len(es) != 1 || es[0].Path != tc.bad):
			t.Errorf("%s: %v, want one error on %s", tc.name, es, tc.bad)
		}
	}
}

func TestTransform(t *testing.T) {
	tr, err := Transform("audit.records.>", 12)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Source != "audit.records.*.*" || tr.Destination != "audit.records.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(12,2)}}" {
		t.Errorf("transform %+v", tr)
	}
	if f := Filter("audit.records.>", 7); f != "audit.records.*.*.7" {
		t.Errorf("filter %q", f)
	}
	for _, bad := range []string{"audit.records", "audit.*.>", ">", "audit.records.*"} {
		if _, err := Transform(bad, 12); err == nil {
			t.Errorf("Transform(%q): no error", bad)
		}
	}
}

// Rendezvous hashing: every partition has one owner among the members,
// the spread is even, and a member joining takes partitions only for
// itself (none moves between the others); one leaving gives up only its
// own.
func TestOwner(t *testing.T) {
	const n = 120
	if o := Owner(nil, 0); o != "" {
		t.Errorf("no members: owner %q", o)
	}
	three := []string{"member-1", "member-2", "member-3"}
	four := append(slices.Clone(three), "member-4")
	count := map[string]int{}
	for p := range n {
		o3, o4 := Owner(three, p), Owner(four, p)
		count[o3]++
		if o4 != o3 && o4 != "member-4" {
			t.Errorf("partition %d moved from %s to %s when member-4 joined", p, o3, o4)
		}
		if rev := Owner([]string{"member-3", "member-1", "member-2"}, p); rev != o3 {
			t.Errorf("partition %d: owner depends on member order (%s vs %s)", p, o3, rev)
		}
		two := []string{"member-1", "member-3"}
		if o3 != "member-2" && Owner(two, p) != o3 {
			t.Errorf("partition %d moved from %s when member-2 left", p, o3)
		}
	}
	for _, m := range three {
		if count[m] < n/3-15 || count[m] > n/3+15 {
			t.Errorf("member %s owns %d of %d partitions, want about %d: %v", m, count[m], n, n/3, count)
		}
	}
}

func startJS(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, url, err := embedded.Start(0, t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, js := testserver.Connect(t, url)
	return nc, js
}

// The server's partition of an agent is Of's: records published on
// <prefix>.<env>.<agent> are stored with that partition appended, and a
// stream created without the transform gets it added.
func TestEnsureStreamPartitionsLikeOf(t *testing.T) {
	_, js := startJS(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"}}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if added, err := EnsureStream(ctx, js, cfg, 5); err != nil || !added {
		t.Fatalf("EnsureStream on a plain stream: added %v, %v", added, err)
	}
	if added, err := EnsureStream(ctx, js, cfg, 5); err != nil || added {
		t.Fatalf("EnsureStream again: added %v, %v", added, err)
	}
	if _, err := EnsureStream(ctx, js, cfg, 6); err == nil {
		t.Fatal("EnsureStream with another partition count: no error")
	}
	s, err := js.Stream(ctx, "AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		agent := fmt.Sprintf("agent-%d", i)
		ack, err := js.Publish(ctx, "audit.records.prod."+agent, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if want := "audit.records.prod." + agent + "." + strconv.Itoa(Of(agent, 5)); m.Subject != want {
			t.Errorf("stored as %s, want %s", m.Subject, want)
		}
	}
}

// fakePart records starts and stops of partitions across members.
type fakeParts struct {
	mu      sync.Mutex
	running map[int]string // partition -> member
	overlap []string
	stops   map[bool]int // graceful -> count
}

type fakePart struct {
	f      *fakeParts
	p      int
	member string
}

func (fp *fakePart) Stop(graceful bool) {
	fp.f.mu.Lock()
	defer fp.f.mu.Unlock()
	if fp.f.running[fp.p] == fp.member {
		delete(fp.f.running, fp.p)
	}
	fp.f.stops[graceful]++
}

func (f *fakeParts) start(member string) StartFunc {
	return func(_ context.Context, p int) (Partition, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if o, ok := f.running[p]; ok {
			f.overlap = append(f.overlap, fmt.Sprintf("partition %d started on %s while on %s", p, member, o))
		}
		f.running[p] = member
		return &fakePart{f: f, p: p, member: member}, nil
	}
}

func (f *fakeParts) owners() map[int]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]string{}
	for p, m := range f.running {
		out[p] = m
	}
	return out
}

// waitOwners waits until every partition runs on the member rendezvous
// hashing gives it among members.
func waitOwners(t *testing.T, f *fakeParts, members []string, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := f.owners()
		ok := len(got) == n
		for p := range n {
			ok = ok && got[p] == Owner(members, p)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: partitions run on %v, want the rendezvous owners among %v", what, got, members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Members of one group: the partitions spread over them, never run on two
// at once; a joining member takes its share after a graceful hand-over; a
// member that vanishes without a word (its process killed: no lease
// release) loses its partitions to the others once lease_ttl passed; one
// that leaves cleanly hands over at once.
func TestMembersJoinDieLeave(t *testing.T) {
	nc, js := startJS(t)
	_ = nc
	cfg := DefaultConfig()
	cfg.Partitions, cfg.Heartbeat, cfg.LeaseTTL = 8, 100*time.Millisecond, time.Second
	ctx := context.Background()
	kv, err := OpenBucket(ctx, js, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeParts{running: map[int]string{}, stops: map[bool]int{}}
	type run struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	runs := map[string]run{}
	start := func(name string, kv jetstream.KeyValue) {
		mctx, cancel := context.WithCancel(ctx)
		r := run{cancel: cancel, done: make(chan struct{})}
		runs[name] = r
		m := NewMember(kv, cfg, name, f.start(name), zerolog.Nop())
		go func() { defer close(r.done); _ = m.Run(mctx) }()
	}
	start("a", kv)
	start("b", kv)
	waitOwners(t, f, []string{"a", "b"}, cfg.Partitions, "two members")
	start("c", kv)
	waitOwners(t, f, []string{"a", "b", "c"}, cfg.Partitions, "c joined")
	if f.stops[true] == 0 {
		t.Error("c joined but no partition was handed over gracefully")
	}

	// b dies: its member ends without releasing anything (a separate
	// connection closed under it, as a killed process's).
	bnc, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	bjs, _ := jetstream.New(bnc)
	bkv, err := bjs.KeyValue(ctx, Bucket(cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	runs["b"].cancel()
	<-runs["b"].done
	start("b2", bkv)
	waitOwners(t, f, []string{"a", "b2", "c"}, cfg.Partitions, "b2 joined")
	killed := time.Now()
	bnc.Close() // b2's process "dies": leases and membership expire
	f.mu.Lock()
	for p, m := range f.running {
		if m == "b2" {
			delete(f.running, p) // a dead process runs nothing
		}
	}
	f.mu.Unlock()
	waitOwners(t, f, []string{"a", "c"}, cfg.Partitions, "b2 killed")
	if d := time.Since(killed); d < cfg.LeaseTTL/2 {
		t.Errorf("partitions of the killed member moved after %s, before its lease could expire (%s)", d, cfg.LeaseTTL)
	}
	runs["b2"].cancel()
	<-runs["b2"].done

	runs["c"].cancel()
	<-runs["c"].done
	waitOwners(t, f, []string{"a"}, cfg.Partitions, "c left")
	runs["a"].cancel()
	<-runs["a"].done
	if len(f.overlap) > 0 {
		t.Errorf("a partition ran on two members at once: %v", f.overlap)
	}
	if got := f.owners(); len(got) != 0 {
		t.Errorf("partitions still running after every member left: %v", got)
	}
}
