package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/snapshot"
	"github.com/toolwatch/toolwatch/statuspage"
)

// The acceptance test ("Baselines that survive restarts"): the
// detector binary consumes a JetStream stream held by an external
// nats-server, is killed with SIGKILL after a periodic snapshot about
// halfway through, and is started again. Over both runs it emits exactly
// the firing alerts of an uninterrupted in-process run of the same records
// (alerts between the snapshot and the kill may arrive twice, with the
// same id), and its restored counters equal the uninterrupted run's: no
// record is counted twice or skipped.
func TestCrashRecoveryMatchesUninterrupted(t *testing.T) {
	began := time.Now()
	url := testserver.StartNATS(t).URL()
	bin := buildDetector(t)
	t.Logf("nats-server up, detector built: %s", time.Since(began).Round(time.Millisecond))

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgYAML := fmt.Sprintf(`nats:
  embedded:
    store_dir: %s
ingest:
  batch_size: 8
  max_ack_pending: 8 # one round trip per 8 records keeps run 1 slow enough to pace
  # SIGSTOP pacing can lose a delivery in flight; its redelivery after
  # ack_wait holds every snapshot back (the applied position has a gap), so
  # keep that short here: the default 30s outlasts the run.
  ack_wait: 3s
time:
  idle_advance: 300ms
snapshot:
  path: %s
  interval: 5s
  max_delta_ratio: 10 # 6 keys, all changed between snapshots: each delta is about the size of the base; keep one chain
`, filepath.Join(dir, "nats"), filepath.Join(dir, "toolwatch.snapshot"))
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(Options{ConfigPath: cfgPath, NATSURL: url})
	if err != nil {
		t.Fatal(err)
	}

	wall := time.Now()
	msgs := crashRecords(wall)
	n := uint64(len(msgs))

	// The uninterrupted run: the same bytes in stream order, in-process.
	ref := pipeline.New(cfg, func() time.Time { return wall })
	want := map[string]string{} // firing alert id -> fingerprint
	var wantAlerts []alert.Alert
	for i, m := range msgs {
		alerts, outcome, err := ref.Handle(m.data)
		if outcome != record.Applied {
			t.Fatalf("reference: record %d %v: %v", i, outcome, err)
		}
		for _, a := range alerts {
			if a.Status == alert.StatusFiring {
				want[a.ID] = a.Fingerprint
				wantAlerts = append(wantAlerts, a)
			}
		}
	}
	refApplied, refLate, _ := ref.Engine().Counts()
	refFiring := ref.Manager().Firing()
	if len(want) < 10 || refApplied != n {
		t.Fatalf("reference run: %d firing alerts (want >= 10), %d of %d applied", len(want), refApplied, n)
	}
	wantFPs := valueSet(want)

	// Fill the stream before the daemon starts.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := publishStream(t, nc, cfg.Ingest.Stream, cfg.Ingest.Subject, msgs)
	t.Logf("%d records (%d firing alerts in the reference) in the stream: %s", n, len(want), time.Since(began).Round(time.Millisecond))

	var mu sync.Mutex
	var got []alert.Alert
	sub, err := nc.Subscribe("audit.alerts.>", func(m *nats.Msg) {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Errorf("alert message %q: %v", m.Data, err)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Run 1: paced to consume the stream in about 20 s whatever the
	// machine's speed, and killed right after a periodic snapshot covering
	// at least 30% of it (the first one is taken at the first tick, the
	// next 5 s later: about a quarter of the way; a loaded machine may write it late or skip one).
	run1 := startDetector(t, bin, cfgPath, url)
	pace := paceConsumer(t, js, run1, cfg.Ingest.Stream, cfg.Ingest.Consumer, n, 20*time.Second)
	snapPath := filepath.Join(dir, "toolwatch.snapshot")
	var snapSeq uint64
	deadline := time.Now().Add(90 * time.Second)
	var seenSeq uint64
	for {
		s, err := readSnapshot(snapPath)
		if err == nil && s.LastAppliedSeq != seenSeq {
			seenSeq = s.LastAppliedSeq
			t.Logf("snapshot at seq %d, acked %d: %s", seenSeq, pace.floor(), time.Since(began).Round(time.Millisecond))
		}
		if err == nil && s.LastAppliedSeq >= n*3/10 {
			snapSeq = s.LastAppliedSeq
			break
		}
		if pace.floor() >= n {
			t.Fatalf("run 1 consumed the whole stream before a snapshot past 30%% was written")
		}
		if time.Now().After(deadline) {
			t.Fatalf("run 1: no snapshot past 30%% within 90s (acked %d of %d)", pace.floor(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Go on past the snapshot (well before the next one, 5 s later), so
	// run 2 re-applies records run 1 had applied and acked.
	for pace.floor() < snapSeq+n/10 {
		if pace.floor() >= n {
			t.Fatalf("run 1 consumed the whole stream before it could be killed")
		}
		if time.Now().After(deadline) {
			t.Fatalf("run 1: acked %d of %d after 90s", pace.floor(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pace.stop()
	run1.kill(t)
	acked := consumerAckFloor(t, js, cfg.Ingest.Stream, cfg.Ingest.Consumer)
	if acked >= n || acked <= snapSeq {
		t.Fatalf("run 1 killed with %d of %d records acked, snapshot at %d: want a kill between the snapshot and the end", acked, n, snapSeq)
	}
	mu.Lock()
	gotRun1 := len(got)
	mu.Unlock()
	t.Logf("run 1 killed after a snapshot at seq %d; acked %d/%d; %d alerts received: %s",
		snapSeq, acked, n, gotRun1, time.Since(began).Round(time.Millisecond))

	// Run 2: restores the snapshot and consumes the rest. Once the server
	// has every record acked and the status page is steady (it refreshes
	// every second), the engine's restored count must be exactly n.
	run2 := startDetector(t, bin, cfgPath, url)
	deadline = time.Now().Add(60 * time.Second)
	var st statuspage.Snapshot
	for stable := 0; stable < 8; {
		if time.Now().After(deadline) {
			t.Fatalf("run 2: %d of %d records applied after 60s\n%s", st.Daemon.Applied, n, run2.log)
		}
		time.Sleep(200 * time.Millisecond)
		prev := st.Daemon.Applied
		st = getStatus(t, run2.addr)
		if consumerAckFloor(t, js, cfg.Ingest.Stream, cfg.Ingest.Consumer) == n && st.Daemon.Applied == prev {
			stable++
		} else {
			stable = 0
		}
	}
	if st.Daemon.Applied != n {
		t.Fatalf("run 2: the engine counts %d applied records, the stream holds %d (the uninterrupted run applied %d)", st.Daemon.Applied, n, refApplied)
	}
	t.Logf("run 2 caught up: %s", time.Since(began).Round(time.Millisecond))
	if st.Daemon.Late != refLate || st.Daemon.Invalid != 0 || st.Daemon.AlertsFiring != refFiring {
		t.Errorf("run 2 counters: late %d invalid %d firing %d; uninterrupted run: late %d invalid 0 firing %d",
			st.Daemon.Late, st.Daemon.Invalid, st.Daemon.AlertsFiring, refLate, refFiring)
	}
	// Run 2 resumed right after the snapshot it restored: its own handler
	// saw exactly the records after that sequence.
	restored, ok := logField(run2.log.String(), "baselines restored from snapshot", "last_applied_seq")
	if !ok {
		t.Fatalf("run 2 did not restore a snapshot:\n%s", run2.log)
	}
	// Snapshots after the first are deltas (snapshot.full_every): run 2
	// restored a base and the deltas after it.
	if deltas, _ := logField(run2.log.String(), "baselines restored from snapshot", "deltas"); deltas < 1 {
		t.Errorf("run 2 restored %d deltas; the snapshot past 30%% is one", deltas)
	} else {
		t.Logf("run 2 restored a base and %d deltas", deltas)
	}
	if restored < n*3/10 || restored >= n {
		t.Errorf("run 2 restored the snapshot at seq %d; want the one at >= %d taken before the kill (%d)", restored, n*3/10, snapSeq)
	}
	if got := metricValue(t, run2.addr, `toolwatch_records_total{outcome="applied"}`); got != float64(n-restored) {
		t.Errorf("run 2 applied %v records itself, want %d (stream %d - restored seq %d)", got, n-restored, n, restored)
	}
	if s := run1.log.String(); !strings.Contains(s, "no snapshot yet") {
		t.Errorf("run 1 did not start without a snapshot:\n%s", s)
	}

	// Every reference alert arrives (NATS delivery is asynchronous), and
	// nothing else: a lost alert-manager state would re-fire a folded alert
	// with a new episode, hence a new id.
	deadline = time.Now().Add(10 * time.Second)
	var gotIDs map[string]string
	var firing int
	for {
		gotIDs, firing = map[string]string{}, 0
		mu.Lock()
		for _, a := range got {
			if a.Status != alert.StatusFiring {
				t.Fatalf("%s alert %s (%s): the uninterrupted run resolves nothing", a.Status, a.ID, a.Summary)
			}
			gotIDs[a.ID] = a.Fingerprint
			firing++
		}
		mu.Unlock()
		missing := 0
		for id := range want {
			if _, ok := gotIDs[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for id, fp := range want {
				if _, ok := gotIDs[id]; !ok {
					t.Errorf("alert %s (fingerprint %s) of the uninterrupted run was never emitted", id, fp)
				}
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, fp := range gotIDs {
		if _, ok := want[id]; !ok {
			t.Errorf("alert %s (fingerprint %s, known to the reference: %v) is not one the uninterrupted run emitted", id, fp, wantFPs[fp])
		}
	}
	if gotFPs := valueSet(gotIDs); !maps.Equal(gotFPs, wantFPs) {
		t.Errorf("fingerprints of the firing alerts: got %v, want %v", slices.Sorted(maps.Keys(gotFPs)), slices.Sorted(maps.Keys(wantFPs)))
	}
	// Only alerts about records both runs applied may arrive twice.
	seen := map[string]int{}
	mu.Lock()
	for _, a := range got {
		if seen[a.ID]++; seen[a.ID] == 2 {
			if i, err := strconv.ParseUint(strings.TrimPrefix(a.TraceID, "trace-"), 10, 64); err != nil || i+1 <= restored {
				t.Errorf("alert %s about %s (before the restored seq %d) was emitted twice", a.ID, a.TraceID, restored)
			}
		}
	}
	mu.Unlock()
	replayed := 0 // reference alerts about records both runs applied
	for _, a := range wantAlerts {
		if i, err := strconv.ParseUint(strings.TrimPrefix(a.TraceID, "trace-"), 10, 64); err == nil && i+1 > restored && i+1 <= acked {
			replayed++
		}
	}
	t.Logf("%d firing alerts received (%d distinct, %d in run 1; %d of the reference's are about records between the restored snapshot and the kill); reference %d: %s",
		firing, len(gotIDs), gotRun1, replayed, len(want), time.Since(began).Round(time.Millisecond))
	run2.stop(t)
}

// crashMsg is one record of the crash test's stream.
type crashMsg struct {
	subject string
	data    []byte
}

// crashRecords returns the deterministic stream: 6 (agent, tool) keys with
// log-normal latencies and output sizes, stamped evenly over the 4 minutes
// before wall, with latency (30 s) and output-size (100 MB) anomalies
// spread through it. Three anomalies repeat a firing fingerprint within the
// cooldown, so they fold into it and emit nothing.
func crashRecords(wall time.Time) []crashMsg {
	const n = 48000
	type key struct {
		agent, tool string
		latMS, outB float64
	}
	keys := []key{
		{"support-agent-01", "customer-lookup", 150, 2000},
		{"support-agent-01", "send-email", 400, 300},
		{"billing-agent", "db-query", 40, 8000},
		{"billing-agent", "invoice-render", 900, 50000},
		{"research-agent", "web-search", 1200, 20000},
		{"research-agent", "fetch-url", 600, 120000},
	}
	// Anomaly i is at position 10% + 85%·i/14: latency on key i%6 for
	// i < 6, output size on key i%6 for 6 <= i < 12, latency again
	// (folded) on keys 0..2 after that.
	anomaly := map[int]int{}
	for i := range 15 {
		anomaly[n/10+int(float64(n)*0.85*float64(i)/14)] = i
	}
	rng := rand.New(rand.NewPCG(7, 11))
	start := wall.Add(-4 * time.Minute).UTC()
	step := 4 * time.Minute / n
	out := make([]crashMsg, 0, n)
	var buf []byte
	for i := range n {
		k := keys[i%len(keys)]
		a, isAnomaly := anomaly[i]
		if isAnomaly {
			k = keys[a%len(keys)]
		}
		lat := k.latMS * math.Exp(0.3*rng.NormFloat64())
		size := int64(k.outB * math.Exp(0.4*rng.NormFloat64()))
		if isAnomaly {
			switch {
			case a < 6 || a >= 12:
				lat = 30000
			default:
				size = 100 << 20
			}
		}
		r := record.Record{
			TraceID: fmt.Sprintf("trace-%d", i), SpanID: fmt.Sprintf("span-%d", i), Timestamp: start.Add(time.Duration(i) * step),
			AgentID:    k.agent,
			Tool:       record.Tool{Name: k.tool, Version: "1.0.0", TrustLevel: "gold", VerificationScore: record.Absent},
			Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: math.Round(lat*10) / 10, OutputBytes: size, InputBytes: record.Absent},
			Context:    record.Context{Environment: "production", TaskID: "task-1"}, DataSubjectsAffected: record.Absent,
		}
		buf = r.AppendJSON(buf[:0])
		out = append(out, crashMsg{subject: "audit.records.production." + k.agent, data: slices.Clone(buf)})
	}
	return out
}

// publishStream creates the stream with the daemon's settings and
// publishes msgs into it, each acknowledged by the server, in order.
func publishStream(t *testing.T, nc *nats.Conn, stream, subject string, msgs []crashMsg) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: 72 * time.Hour,
		MaxBytes: -1, Duplicates: 2 * time.Minute, Replicas: 1,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishAsync(m.subject, m.data)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("stream publishes not acknowledged within 60s")
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Sequence != uint64(i+1) {
				t.Fatalf("record %d stored at stream sequence %d: stream order differs from the reference's", i, ack.Sequence)
			}
		case err := <-f.Err():
			t.Fatalf("publish record %d: %v", i, err)
		}
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(msgs)) {
		t.Fatalf("stream holds %d records, want %d", info.State.Msgs, len(msgs))
	}
	return js
}

// pacer keeps a detector from consuming faster than n records per over,
// pausing it (SIGSTOP) while the consumer's ack floor is ahead of
// schedule: on a fast machine the whole stream would otherwise be consumed
// within one snapshot interval. The ack floor is read from the server, so
// the test never talks to a paused process.
type pacer struct {
	acked atomic.Uint64
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func paceConsumer(t *testing.T, js jetstream.JetStream, p *detectorProc, stream, consumer string, n uint64, over time.Duration) *pacer {
	pc := &pacer{quit: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(pc.stop) // before the detector's cleanup kills it
	start := time.Now()
	go func() {
		defer close(pc.done)
		paused := false
		defer func() {
			if paused {
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pc.quit:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := js.Consumer(ctx, stream, consumer)
			cancel()
			if err != nil {
				continue // not created yet, or being recreated to resume
			}
			floor := c.CachedInfo().AckFloor.Stream
			pc.acked.Store(floor)
			ahead := float64(floor) > float64(n)*time.Since(start).Seconds()/over.Seconds()
			if ahead != paused {
				sig := syscall.SIGCONT
				if ahead {
					sig = syscall.SIGSTOP
				}
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Errorf("pace detector: %v", err)
					return
				}
				paused = ahead
			}
		}
	}()
	return pc
}

// floor is the consumer's ack floor at the last look.
func (pc *pacer) floor() uint64 { return pc.acked.Load() }

// stop ends pacing and leaves the detector running (resumed).
func (pc *pacer) stop() {
	pc.once.Do(func() { close(pc.quit) })
	<-pc.done
}

func consumerAckFloor(t *testing.T, js jetstream.JetStream, stream, consumer string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		t.Fatalf("consumer %s: %v", consumer, err)
	}
	return c.CachedInfo().AckFloor.Stream
}

// readSnapshot decodes the snapshot file (replaced by atomic rename, so a
// read sees a complete one).
// readSnapshot reads the base at path (the snapshot file or its .prev)
// and returns it with the position of the last delta of its chain that
// decodes and follows its predecessor: where a restart would resume.
func readSnapshot(path string) (*snapshot.Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := snapshot.Decode(b)
	if err != nil {
		return nil, err
	}
	fs := &snapshot.FileStore{Path: strings.TrimSuffix(path, ".prev")}
	blobs, err := fs.ReadDeltas(context.Background(), snapshot.ID(b))
	if err != nil {
		return nil, err
	}
	prev := snapshot.ID(b)
	for i, bl := range blobs {
		d, err := snapshot.DecodeDelta(bl.Data)
		if bl.Err != nil || err != nil || d.PrevID != prev || d.Index != uint32(i+1) {
			break
		}
		s.LastAppliedSeq, s.Watermark, prev = d.LastAppliedSeq, d.Watermark, snapshot.ID(bl.Data)
	}
	return s, nil
}

// logField finds the first JSON log line whose message starts with msg and
// returns its numeric field.
func logField(logs, msg, field string) (uint64, bool) {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if text, _ := m["message"].(string); !strings.HasPrefix(text, msg) {
			continue
		}
		v, ok := m[field].(float64)
		return uint64(v), ok
	}
	return 0, false
}

// buildDetector builds cmd/detector into a temporary directory.
func buildDetector(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "detector")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/detector")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/detector: %v\n%s", err, out)
	}
	return bin
}

// detectorProc is one `detector run` subprocess.
type detectorProc struct {
	cmd    *exec.Cmd
	addr   string
	log    *testserver.SyncBuffer
	exited chan error
	done   bool
}

// startDetector runs `detector run` and waits until its HTTP endpoints
// answer; it is killed at cleanup if still running.
func startDetector(t *testing.T, bin, cfgPath, natsURL string) *detectorProc {
	t.Helper()
	addr := freeAddr(t)
	p := &detectorProc{addr: addr, log: &testserver.SyncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "run", "--config", cfgPath, "--nats-url", natsURL, "--listen", addr)
	p.cmd.Dir = filepath.Dir(cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start detector: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.done {
			p.kill(t)
		}
		if t.Failed() {
			t.Logf("detector %s output (tail):\n%s", addr, tail(p.log.String(), 40))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.exited:
			p.done = true
			t.Fatalf("detector exited: %v\n%s", err, p.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("detector not answering after 20s:\n%s", p.log)
		}
	}
}

// kill sends SIGKILL: no final snapshot, no flush.
func (p *detectorProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.done = true
}

// stop sends SIGTERM and expects a clean exit within 20s.
func (p *detectorProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.done = true
		if err != nil {
			t.Errorf("detector exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("detector did not stop within 20s of SIGTERM")
		p.kill(t)
	}
}

// auditRecords is the compliance view's record count of the test producer's
// environment.
const auditRecords = `toolwatch_audit_records_total{environment="production"}`

// metricValue returns the value of an unlabelled (or fully labelled)
// series in /metrics; 0 when absent.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(metricsText(t, addr))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s = %q: %v", series, m[1], err)
	}
	return v
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func valueSet(m map[string]string) map[string]bool {
	s := map[string]bool{}
	for _, v := range m {
		s[v] = true
	}
	return s
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// A corrupt snapshot is detected, counted and skipped for the previous
// one; when both are unusable the daemon rebuilds its baselines by
// replaying the stream. The embedded server keeps its stream in the data
// directory, so every run sees the records of the runs before it.
func TestCorruptSnapshotFallsBack(t *testing.T) {
	began := time.Now()
	dir := t.TempDir()
	opts := Options{ConfigPath: fastIdleConfig(t), DataDir: dir}
	snapPath := filepath.Join(dir, "toolwatch.snapshot")
	const warm = 250

	// Run 1 learns a latency baseline; run 1b restarts cleanly, so both
	// stored snapshots (current and .prev) hold all of it.
	r := startInProc(t, opts)
	p := newProducer(t, r.info.NATSURL)
	p.warmUp("a", "db-query", warm)
	waitApplied(t, r.info.HTTPAddr, warm)
	if got := metricValue(t, r.info.HTTPAddr, auditRecords); got != warm {
		t.Errorf("run 1: compliance view counted %v records, want %d", got, warm)
	}
	r.stop(t)
	p.nc.Close()
	r = startInProc(t, opts)
	waitApplied(t, r.info.HTTPAddr, warm)
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_records_total{outcome="applied"}`); got != 0 {
		t.Errorf("clean restart re-applied %v records", got)
	}
	if got := metricValue(t, r.info.HTTPAddr, auditRecords); got != 0 {
		t.Errorf("clean restart: compliance view counted %v records again", got)
	}
	r.stop(t)
	for _, path := range []string{snapPath, snapPath + ".prev"} {
		s, err := readSnapshot(path)
		if err != nil {
			t.Fatalf("after two clean runs: %v", err)
		}
		if s.LastAppliedSeq != warm {
			t.Fatalf("%s: last applied seq %d, want %d", path, s.LastAppliedSeq, warm)
		}
	}
	t.Logf("warm-up and clean restart: %s", time.Since(began).Round(time.Millisecond))

	// Run 2: one flipped byte in the newest snapshot.
	b, err := os.ReadFile(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(snapPath, b, 0o640); err != nil {
		t.Fatal(err)
	}
	r = startInProc(t, opts)
	mt := metricsText(t, r.info.HTTPAddr)
	for _, want := range []string{
		`toolwatch_snapshot_load_failures_total{reason="checksum"} 1`,
		`toolwatch_snapshot_restored 1`,
	} {
		if !strings.Contains(mt, want) {
			t.Errorf("run 2: /metrics lacks %s", want)
		}
	}
	logs := r.log.String()
	if !strings.Contains(logs, `"reason":"checksum"`) || !strings.Contains(logs, "snapshot unusable; trying the previous one") {
		t.Errorf("run 2 did not log the corrupt snapshot:\n%s", logs)
	}
	if seq, ok := logField(logs, "baselines restored from snapshot", "last_applied_seq"); !ok || seq != warm ||
		!strings.Contains(logs, `"source":"`+snapPath+`.prev"`) {
		t.Errorf("run 2 did not restore %s.prev at seq %d (got %d, %v):\n%s", snapPath, warm, seq, ok, logs)
	}
	// The baseline is the restored one: nothing was replayed, yet a slow
	// call alerts against 250 learned samples.
	waitApplied(t, r.info.HTTPAddr, warm)
	if st := getStatus(t, r.info.HTTPAddr); st.Daemon.Applied != warm {
		t.Errorf("run 2: %d records applied, want the snapshot's %d", st.Daemon.Applied, warm)
	}
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_records_total{outcome="applied"}`); got != 0 {
		t.Errorf("run 2 replayed %v records after restoring .prev", got)
	}
	p = newProducer(t, r.info.NATSURL)
	alerts, sub := subscribeLatencyAlerts(t, p.nc, 4)
	p.publish(time.Now().Add(-time.Second), "a", "db-query", 30000)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fired, data := nextAlert(t, alerts, 15*time.Second, "run 2: no latency alert: the restored baseline is missing")
	if fired.Observed != 30000 || fired.AgentID != "a" || fired.Tool != "db-query" {
		t.Errorf("run 2 alert: %s", data)
	}
	_ = sub.Unsubscribe()
	p.nc.Close()
	waitApplied(t, r.info.HTTPAddr, warm+1)
	r.stop(t)
	t.Logf("checksum fallback: %s", time.Since(began).Round(time.Millisecond))

	// Run 3: both copies truncated to half their size.
	for _, path := range []string{snapPath, snapPath + ".prev"} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	r = startInProc(t, opts)
	mt = metricsText(t, r.info.HTTPAddr)
	for _, want := range []string{
		`toolwatch_snapshot_load_failures_total{reason="truncated"} 2`,
		`toolwatch_snapshot_load_failures_total{reason="checksum"} 0`,
		`toolwatch_snapshot_restored 0`,
	} {
		if !strings.Contains(mt, want) {
			t.Errorf("run 3: /metrics lacks %s", want)
		}
	}
	if logs := r.log.String(); !strings.Contains(logs, "no usable snapshot: rebuilding baselines by replaying the stream") {
		t.Errorf("run 3 did not log the rebuild:\n%s", logs)
	}
	// Rebuilt from the stream: every record replayed. The slow call was
	// processed (and alerted) by run 2, at or below the durable's ack floor,
	// so its alert is withheld; a record published after this start alerts
	// whatever its timestamp, here older than any clock-based rule (6 min).
	waitApplied(t, r.info.HTTPAddr, warm+1)
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_records_total{outcome="applied"}`); got != warm+1 {
		t.Errorf("run 3 replayed %v records, want all %d", got, warm+1)
	}
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_alerts_suppressed_rebuild_total`); got != 1 {
		t.Errorf("run 3: %v alerts withheld, want the replayed slow call's 1", got)
	}
	// The compliance view counts each stream record in one run only: the
	// replayed ones were counted by runs 1 and 2.
	if got := metricValue(t, r.info.HTTPAddr, auditRecords); got != 0 {
		t.Errorf("run 3: compliance view counted %v replayed records, want 0", got)
	}
	if st := getStatus(t, r.info.HTTPAddr); len(st.Alerts) != 0 {
		t.Errorf("run 3 delivered again an alert run 2 raised: %+v", st.Alerts)
	}
	p = newProducer(t, r.info.NATSURL)
	alerts, _ = subscribeLatencyAlerts(t, p.nc, 4)
	p.publish(time.Now().Add(-6*time.Minute), "b", "db-query", 30000)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if a, data := nextAlert(t, alerts, 15*time.Second, "run 3: a new record with a 6-minute-old timestamp raised no alert during the rebuild"); a.AgentID != "b" || a.Observed != 30000 {
		t.Errorf("run 3 alert: %s", data)
	}
	if got := metricValue(t, r.info.HTTPAddr, auditRecords); got != 1 {
		t.Errorf("run 3: compliance view counted %v records, want the new one", got)
	}
	p.nc.Close()
	r.stop(t)
	t.Logf("truncated: rebuilt: %s", time.Since(began).Round(time.Millisecond))
}

// inProc is one in-process daemon run that the test stops explicitly (the
// daemon helper only stops at cleanup).
type inProc struct {
	info    Info
	log     *testserver.SyncBuffer
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func startInProc(t *testing.T, opts Options) *inProc {
	t.Helper()
	opts.EmbeddedPort = -1
	opts.HTTPListen = "127.0.0.1:0"
	r := &inProc{log: &testserver.SyncBuffer{}, done: make(chan error, 1)}
	opts.LogOutput = r.log
	started := make(chan Info, 1)
	opts.Started = func(i Info) { started <- i }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		if !r.stopped {
			r.stop(t)
		}
	})
	select {
	case r.info = <-started:
		return r
	case err := <-r.done:
		r.stopped = true
		t.Fatalf("daemon failed to start: %v\n%s", err, r.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not start within 20s\n%s", r.log)
	}
	return nil
}

// stop cancels the run and expects a clean return (final snapshot written).
func (r *inProc) stop(t *testing.T) {
	t.Helper()
	r.stopped = true
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop within 20s of cancellation\n%s", r.log)
	}
	if t.Failed() {
		t.Logf("daemon log (tail):\n%s", tail(r.log.String(), 30))
	}
}

// subscribeLatencyAlerts subscribes a channel of n to the latency alerts
// on nc, flushed: the server has the subscription on return.
func subscribeLatencyAlerts(t *testing.T, nc *nats.Conn, n int) (chan *nats.Msg, *nats.Subscription) {
	t.Helper()
	alerts := make(chan *nats.Msg, n)
	sub, err := nc.ChanSubscribe("audit.alerts.latency.>", alerts)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return alerts, sub
}

// nextAlert is the next alert on ch and its JSON; none within d fails the
// test with msg.
func nextAlert(t *testing.T, ch <-chan *nats.Msg, d time.Duration, msg string) (alert.Alert, []byte) {
	t.Helper()
	var a alert.Alert
	select {
	case m := <-ch:
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		return a, m.Data
	case <-time.After(d):
		t.Fatal(msg)
	}
	return a, nil
}
