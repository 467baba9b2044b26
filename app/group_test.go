package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/group"
	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/snapshot"
)

// startCluster starts n embedded nats-server v2.15 nodes with JetStream,
// routed to each other on 127.0.0.1, and returns their client URLs once
// the JetStream meta group has a leader. They stop at cleanup.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = "nats-route://127.0.0.1:" + strconv.Itoa(ports[i])
	}
	var urls []string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "toolwatch-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("cluster node %d not ready", i+1)
		}
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return urls
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster without meta leader after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupStream is the test's records: 16 (agent, tool) keys over 8 agents
// (so over several partitions), log-normal latencies and sizes at one
// level per tool, stamped evenly over the 40 minutes before wall, with one
// anomaly per key from fromPct% of the stream on (latency on even keys,
// output size on odd ones); from 200 records a key judges by its own
// baseline. perKey counts
// each key's records.
type groupStream struct {
	msgs      []crashMsg
	perKey    map[[2]string]int
	anomalies map[string]bool // span ids
}

func groupRecords(wall time.Time, perKeyN, fromPct int) groupStream {
	type tool struct {
		name       string
		latMS, out float64
	}
	tools := []tool{{"customer-lookup", 150, 2000}, {"web-search", 1200, 20000}}
	var keys [][2]string
	for a := range 8 {
		for _, tl := range tools {
			keys = append(keys, [2]string{fmt.Sprintf("agent-%02d", a), tl.name})
		}
	}
	n := perKeyN * len(keys)
	anomaly := map[int]int{} // record index -> key
	for k := range keys {
		// Positions fromPct%..95% of the key's own sequence.
		round := perKeyN*fromPct/100 + k*(perKeyN*(95-fromPct)/100)/len(keys)
		anomaly[round*len(keys)+k] = k
	}
	rng := rand.New(rand.NewPCG(13, 17))
	start := wall.Add(-40 * time.Minute).UTC()
	step := 40 * time.Minute / time.Duration(n)
	gs := groupStream{perKey: map[[2]string]int{}, anomalies: map[string]bool{}}
	var buf []byte
	for i := range n {
		k := i % len(keys)
		tl := tools[k%2]
		lat := tl.latMS * math.Exp(0.3*rng.NormFloat64())
		size := int64(tl.out * math.Exp(0.4*rng.NormFloat64()))
		span := fmt.Sprintf("span-%d", i)
		if _, ok := anomaly[i]; ok {
			if k%2 == 0 {
				lat = 30000
			} else {
				size = 100 << 20
			}
			gs.anomalies[span] = true
		}
		r := record.Record{
			TraceID: fmt.Sprintf("trace-%d", i), SpanID: span, Timestamp: start.Add(time.Duration(i) * step),
			AgentID:    keys[k][0],
			Tool:       record.Tool{Name: keys[k][1], Version: "1.0.0", TrustLevel: "gold", VerificationScore: record.Absent},
			Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: math.Round(lat*10) / 10, OutputBytes: size, InputBytes: record.Absent},
			Context:    record.Context{Environment: "production", TaskID: "task-1"}, DataSubjectsAffected: record.Absent,
		}
		buf = r.AppendJSON(buf[:0])
		gs.msgs = append(gs.msgs, crashMsg{subject: "audit.records.production." + keys[k][0], data: slices.Clone(buf)})
		gs.perKey[keys[k]]++
	}
	return gs
}

// groupYAML is the configuration of the test's daemons; member "" is the
// single-daemon reference (group off, its own consumer, alert subjects,
// notification log and snapshot bucket).
func groupYAML(t *testing.T, member string, partitions int) string {
	t.Helper()
	prefix, extra := "grp", fmt.Sprintf(`group:
  enabled: true
  member: %s
  partitions: %d
  heartbeat: 200ms
  lease_ttl: 2s
`, member, partitions)
	if member == "" {
		prefix, extra = "ref", "ingest:\n  consumer: reference\n"
	} else {
		extra += "ingest:\n  consumer: toolwatch-detector\n"
	}
	return writeConfig(t, extra+fmt.Sprintf(`  batch_size: 64
  ack_wait: 5s
time:
  idle_advance: 300ms
  allowed_lateness: 2h
snapshot:
  store: nats
  bucket: %[1]s-snapshots
  interval: 5s
sinks:
  log:
    enabled: false
  nats:
    subject_prefix: %[1]s.alerts
  notification_log:
    bucket: %[1]s-nflog
`, prefix))
}

// createGroupStream creates the AUDIT stream partitioned as the members
// expect (the members would add the transform themselves; creating it
// first keeps the reference daemon from racing them).
func createGroupStream(t *testing.T, url string, partitions int) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := group.EnsureStream(ctx, js, config.Default().Ingest.StreamConfig(), partitions); err != nil {
		t.Fatal(err)
	}
	// The snapshot and notification log buckets, ready before the daemons start: right after
	// its creation a bucket's stream may not answer yet on another node
	// ("no responders"), which fails a daemon's start.
	for _, b := range []string{"ref-snapshots", "grp-snapshots"} {
		obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: b, Storage: jetstream.FileStorage})
		if err != nil {
			t.Fatal(err)
		}
		untilAnswers(ctx, t, b, jetstream.ErrObjectNotFound, func() error {
			_, err := obs.GetInfo(ctx, "probe")
			return err
		})
	}
	for _, b := range []string{"ref-nflog", "grp-nflog"} {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b, Description: "Toolwatch notification log: alert ids delivered per sink target",
			History: 1, TTL: 24 * time.Hour, Storage: jetstream.FileStorage, Replicas: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		untilAnswers(ctx, t, b, jetstream.ErrKeyNotFound, func() error {
			_, err := kv.Get(ctx, "probe")
			return err
		})
	}
	return nc, js
}

// untilAnswers polls get, a read of a missing key in bucket, until it
// fails with notFound: the bucket's stream answers.
func untilAnswers(ctx context.Context, t testing.TB, bucket string, notFound error, get func() error) {
	t.Helper()
	for {
		err := get()
		if errors.Is(err, notFound) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("bucket %s not answering: %v", bucket, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishPaced publishes msgs in order, in acked batches, at most perSec
// a second (0: as fast as the server acks), calling at(i) before record i.
func publishPaced(t testing.TB, js jetstream.JetStream, msgs []crashMsg, perSec int, at func(i int)) {
	t.Helper()
	const batch = 100
	began := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, batch)
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal("publishes not acknowledged within 30s")
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			}
		}
		futures = futures[:0]
	}
	for i, m := range msgs {
		if at != nil {
			at(i)
		}
		if i%batch == 0 {
			flush()
			if perSec > 0 {
				if d := time.Duration(i)*time.Second/time.Duration(perSec) - time.Since(began); d > 0 {
					time.Sleep(d)
				}
			}
		}
		f, err := js.PublishAsync(m.subject, m.data)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		futures = append(futures, f)
	}
	flush()
}

// alertKey is what must agree between the group and the reference: the
// record that raised the alert, and the key's sample count then (equal
// only if the key's partition applied every earlier record of the key
// exactly once).
type alertKey struct {
	pattern, fingerprint, agent, tool, span string
	samples                                 string
}

func keyOf(a alert.Alert) alertKey {
	return alertKey{a.Pattern, a.Fingerprint, a.AgentID, a.Tool, a.SpanID, fmt.Sprint(a.Details["samples"])}
}

// perKeyPatterns are the patterns whose state is per (agent, tool) key.
var perKeyPatterns = []string{"frequency", "latency", "output_size", "denial_spike"}

// compareAlerts waits until the group's per-key alerts equal the
// reference's (which must include an alert for every anomaly), and
// reports deliveries of one alert id more than once.
func compareAlerts(t *testing.T, ref, grp *alertSink, gs groupStream) {
	t.Helper()
	perKey := func(as []alert.Alert) map[alertKey]int {
		out := map[alertKey]int{}
		for _, a := range as {
			if slices.Contains(perKeyPatterns, a.Pattern) {
				out[keyOf(a)]++
			}
		}
		return out
	}
	refAlerts := ref.waitFor(t, "reference alerts for every anomaly", func(as []alert.Alert) bool {
		n := 0
		for _, a := range as {
			if gs.anomalies[a.SpanID] {
				n++
			}
		}
		return n >= len(gs.anomalies)
	})
	t.Logf("%s: reference alerted every anomaly", time.Now().Format("15:04:05.000"))
	deadline := time.Now().Add(30 * time.Second)
	var want, got map[alertKey]int
	for {
		refAlerts = ref.snapshot()
		want, got = perKey(refAlerts), perKey(grp.snapshot())
		if len(got) == len(want) && equalKeys(got, want) || time.Now().After(deadline) {
			t.Logf("%s: group %d keys, reference %d", time.Now().Format("15:04:05.000"), len(got), len(want))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var missing, extra []string
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, fmt.Sprint(k))
		}
	}
	for k := range got {
		if want[k] == 0 {
			extra = append(extra, fmt.Sprint(k))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("group alerts differ from the single daemon's:\nmissing %v\nextra %v", missing, extra)
	}
	ids := map[string]int{}
	for _, a := range grp.snapshot() {
		ids[a.ID]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("alert %s delivered %d times by the group (the notification log should hold back repeats)", id, n)
		}
	}
	byPattern := map[string]int{}
	for k := range want {
		byPattern[k.pattern]++
	}
	t.Logf("per-key alerts compared: %d %v", len(want), byPattern)
}

func equalKeys(a, b map[alertKey]int) bool {
	for k := range a {
		if b[k] == 0 {
			return false
		}
	}
	return true
}

// memberOwned is the partitions_owned gauge of each member.
func waitBalanced(t *testing.T, members map[string]string, partitions int) {
	t.Helper()
	names := make([]string, 0, len(members))
	for m := range members {
		names = append(names, m)
	}
	want := map[string]int{}
	for p := range partitions {
		want[group.Owner(names, p)]++
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		got := map[string]float64{}
		for m, addr := range members {
			got[m] = metricValue(t, addr, "toolwatch_group_partitions_owned")
			ok = ok && int(got[m]) == want[m]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions owned %v after 30s, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keySamples reads the latency baselines' sample counts per key from the
// snapshot of store (as a daemon restores it).
func keySamples(t *testing.T, ctx context.Context, store snapshot.Store) (samples map[[2]string]int, seq uint64, ok bool) {
	t.Helper()
	mg := snapshot.NewManager(store, snapshot.NewMetrics(nil), zerolog.Nop(), "test")
	var pl *pipeline.Pipeline
	snap, _, _, err := mg.Load(ctx, func(s *snapshot.Snapshot, ds []*snapshot.Delta) error {
		fresh, err := pipeline.Build(config.Default(), time.Now)
		if err != nil {
			return err
		}
		links := make([]pipeline.Link, len(ds))
		for i, d := range ds {
			links[i] = pipeline.Link{Whole: d.Whole, Changes: d.Changes}
		}
		if _, err := fresh.UnmarshalChain(s.Sections, links); err != nil {
			return err
		}
		pl = fresh
		return nil
	})
	if snapshot.IsNoSnapshot(err) {
		return nil, 0, false
	}
	if err != nil {
		t.Fatalf("%s: %v", store, err)
	}
	bs, _, err := pl.Baselines("", "agent-*", 0)
	if err != nil {
		t.Fatal(err)
	}
	samples = map[[2]string]int{}
	for _, b := range bs {
		if b.Pattern != "latency" {
			continue
		}
		for _, part := range b.Parts {
			if s, ok := part.Values["samples"].(int64); ok {
				samples[[2]string{b.Agent, b.Tool}] += int(s)
			}
		}
	}
	return samples, snap.LastAppliedSeq, true
}

// checkPartitionSnapshots reads every partition's snapshot (written when
// the members stopped) and the single daemon's: each key is in its own
// partition only, and its latency baseline counts as many samples as the
// single daemon's (every record applied once: none lost, none twice).
func checkPartitionSnapshots(t *testing.T, js jetstream.JetStream, partitions int, gs groupStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refStore, err := snapshot.OpenObjectStore(ctx, js, "ref-snapshots", 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _, ok := keySamples(t, ctx, refStore)
	if !ok {
		t.Fatal("the single daemon wrote no snapshot")
	}
	root, err := snapshot.OpenObjectStore(ctx, js, "grp-snapshots", 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]int{}
	for p := range partitions {
		samples, seq, ok := keySamples(t, ctx, root.Sub("toolwatch/"+strconv.Itoa(p)+"/"))
		if !ok {
			continue // a partition no agent hashes to may never have snapshotted
		}
		for k, n := range samples {
			if q := group.Of(k[0], partitions); q != p {
				t.Errorf("agent %s in partition %d's snapshot, its partition is %d", k[0], p, q)
			}
			got[k] += n
		}
		t.Logf("partition %d: snapshot at seq %d, %d keys", p, seq, len(samples))
	}
	for k, n := range gs.perKey {
		if want[k] < n-1 || want[k] > n {
			t.Errorf("key %v: the single daemon learned %d samples of %d records", k, want[k], n)
		}
		if got[k] != want[k] {
			t.Errorf("key %v: %d samples in the partition snapshots, the single daemon has %d", k, got[k], want[k])
		}
	}
}

// startGroupRig starts a three-node cluster (urls) holding the
// partitioned stream, subscribes to the alerts of the reference daemon
// (ref) and of the group (grp), and starts the reference daemon (refD: one
// pipeline reading every record, connected to all nodes).
func startGroupRig(t *testing.T, partitions int) (urls []string, js jetstream.JetStream, ref, grp *alertSink, refD *inProc) {
	t.Helper()
	urls = startCluster(t, 3)
	all := strings.Join(urls, ",")
	nc, js := createGroupStream(t, all, partitions)
	ref = subscribeAlerts(t, nc, "ref.alerts.>")
	grp = subscribeAlerts(t, nc, "grp.alerts.>")
	refD = startInProc(t, Options{ConfigPath: groupYAML(t, "", 0), NATSURL: all})
	return urls, js, ref, grp, refD
}

// Three daemons in a group on a three-node cluster, each connected to its
// own node, raise the same per-key alerts as one daemon reading the same
// records, each once, and their partition snapshots count every record of
// every key exactly once.
func TestGroupMatchesSingleDaemon(t *testing.T) {
	const partitions = 6
	urls, js, ref, grp, refD := startGroupRig(t, partitions)
	members := map[string]string{}
	var procs []*inProc
	for i := range 3 {
		name := fmt.Sprintf("m%d", i+1)
		r := startInProc(t, Options{ConfigPath: groupYAML(t, name, partitions), NATSURL: urls[i]})
		members[name] = r.info.HTTPAddr
		procs = append(procs, r)
	}
	waitBalanced(t, members, partitions)
	gs := groupRecords(time.Now(), 400, 55)
	began := time.Now()
	publishPaced(t, js, gs.msgs, 0, nil)
	t.Logf("published %d records in %s", len(gs.msgs), time.Since(began).Round(time.Millisecond))
	compareAlerts(t, ref, grp, gs)
	t.Logf("alerts compared after %s", time.Since(began).Round(time.Millisecond))
	waitConsumed(t, js, partitions)
	for _, r := range append(procs, refD) {
		r.stop(t)
	}
	checkPartitionSnapshots(t, js, partitions, gs)
}

// A member killed with SIGKILL mid-stream: its partitions move to the
// others after lease_ttl, which restore their snapshots and re-apply the
// records since (alerts held back by the notification log); then a fourth
// member joins mid-stream and takes its share by graceful hand-over. The
// group's per-key alerts still equal the single daemon's, each delivered
// once, and the final snapshots count every record exactly once.
func TestGroupMemberKilledThenJoined(t *testing.T) {
	const partitions = 6
	bin := buildDetector(t)
	urls, js, ref, grp, refD := startGroupRig(t, partitions)
	members := map[string]string{}
	procs := map[string]*inProc{"reference": refD}
	for i, name := range []string{"m1", "m2"} {
		r := startInProc(t, Options{ConfigPath: groupYAML(t, name, partitions), NATSURL: urls[i]})
		members[name], procs[name] = r.info.HTTPAddr, r
	}
	m3 := startDetector(t, bin, groupYAML(t, "m3", partitions), urls[2])
	members["m3"] = m3.addr
	waitBalanced(t, members, partitions)

	// Anomalies from 35% on, so some fall between m3's last snapshot and
	// its death: their alerts are raised again by the new owners and held
	// back by the notification log.
	gs := groupRecords(time.Now(), 600, 35)
	n := len(gs.msgs)
	began := time.Now()
	publishPaced(t, js, gs.msgs, 600, func(i int) {
		switch i {
		case n / 2:
			// m3 has snapshotted its partitions (interval 5s) and applied
			// records since: those are applied again by their new owners.
			deadline := time.Now().Add(15 * time.Second)
			for metricValue(t, m3.addr, "toolwatch_snapshot_saves_total") < metricValue(t, m3.addr, "toolwatch_group_partitions_owned") {
				if time.Now().After(deadline) {
					t.Fatal("m3 wrote no snapshot within 15s")
				}
				time.Sleep(100 * time.Millisecond)
			}
			m3.kill(t)
			delete(members, "m3")
			t.Logf("m3 killed after %s at record %d", time.Since(began).Round(time.Millisecond), i)
		case n * 3 / 4:
			r := startInProc(t, Options{ConfigPath: groupYAML(t, "m4", partitions), NATSURL: urls[2]})
			members["m4"], procs["m4"] = r.info.HTTPAddr, r
			t.Logf("m4 joined after %s at record %d", time.Since(began).Round(time.Millisecond), i)
		}
	})
	waitBalanced(t, members, partitions)
	compareAlerts(t, ref, grp, gs)
	waitConsumed(t, js, partitions)
	lost, dedup := 0.0, 0.0
	for _, addr := range members {
		lost += metricValue(t, addr, `toolwatch_group_partition_changes_total{change="lost"}`)
		dedup += sumMetric(t, addr, "toolwatch_sink_deduplicated_total")
	}
	// Timing decides whether an anomaly fell between m3's last snapshot
	// and its death; when one did, its alert was raised again and held back.
	t.Logf("alerts raised again by the new owners and held back by the notification log: %v", dedup)
	if lost != 0 {
		t.Errorf("%v partitions lost their lease on a live member", lost)
	}
	for _, r := range procs {
		r.stop(t)
	}
	checkPartitionSnapshots(t, js, partitions, gs)
}

// sumMetric adds every series of the metric name in /metrics.
func sumMetric(t *testing.T, addr, name string) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(metricsText(t, addr), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, line, err)
		}
		sum += v
	}
	return sum
}

// waitConsumed waits until the group has one durable per partition and
// each has delivered and got acks for every record of its partition, so
// the final snapshots written at stop hold the whole stream.
func waitConsumed(t testing.TB, js jetstream.JetStream, partitions int) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := js.Stream(ctx, "AUDIT")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		n, busy := 0, []string{}
		l := st.ListConsumers(ctx)
		for ci := range l.Info() {
			if !strings.HasPrefix(ci.Name, "toolwatch-detector-toolwatch-p") {
				continue
			}
			n++
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s (pending %d, unacked %d)", ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		cancel()
		if n == partitions && len(busy) == 0 {
			t.Logf("group caught up %s after its alerts matched", time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not caught up after 30s: %d partition consumers, busy %v", n, busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A group member needs JetStream ingest and snapshots in the object store
// (a partition's snapshot must be readable where it moves); Run refuses
// anything else before connecting.
func TestGroupStartChecks(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"file snapshots", "group:\n  enabled: true\n", "snapshot.store nats"},
		{"snapshots off", "group:\n  enabled: true\nsnapshot:\n  enabled: false\n  store: nats\n", "snapshot.store nats"},
		{"core ingest", "group:\n  enabled: true\nsnapshot:\n  store: nats\ningest:\n  mode: core\n", "ingest.mode jetstream"},
		{"subject without a trailing >", "group:\n  enabled: true\nsnapshot:\n  store: nats\ningest:\n  subject: audit.records.*.*\n", "must be <prefix>.>"},
	} {
		err := Run(context.Background(), Options{ConfigPath: writeConfig(t, tc.yaml), NATSURL: "nats://127.0.0.1:1", LogOutput: io.Discard})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run returned %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// A member answers a reload request with an error saying to restart it,
// and keeps running.
func TestGroupRefusesReload(t *testing.T) {
	srv, url, err := embedded.Start(0, t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	urls := []string{url}
	createGroupStream(t, urls[0], 3)
	reload := make(chan chan error)
	r := startInProc(t, Options{ConfigPath: groupYAML(t, "m1", 3), NATSURL: urls[0], Reload: reload})
	errc := make(chan error, 1)
	select {
	case reload <- errc:
	case <-time.After(10 * time.Second):
		t.Fatal("member did not take the reload request within 10s")
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "restart the member") {
		t.Errorf("reload answered %v, want a refusal", err)
	}
	waitBalanced(t, map[string]string{"m1": r.info.HTTPAddr}, 3)
}
