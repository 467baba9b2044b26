package app

import (
	"bytes"
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
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
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
	url := startNATSServer(t)
	bin := buildDetector(t)
	t.Logf("nats-server up, detector built: %s", time.Since(began).Round(time.Millisecond))

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgYAML := fmt.Sprintf(`nats:
  embedded:
    store_dir: %s
ingest:
  batch_size: 1
  max_ack_pending: 1
time:
  idle_advance: 300ms
snapshot:
  path: %s
  interval: 5s
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
	for i, m := range msgs {
		alerts, outcome, err := ref.Handle(m.data)
		if outcome != pipeline.Applied {
			t.Fatalf("reference: record %d %v: %v", i, outcome, err)
		}
		for _, a := range alerts {
			if a.Status == alert.StatusFiring {
				want[a.ID] = a.Fingerprint
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
	publishStream(t, nc, cfg.Ingest.Stream, cfg.Ingest.Subject, msgs)
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

	// Run 1: killed right after a periodic snapshot taken past 30%.
	run1 := startDetector(t, bin, cfgPath, url)
	var savesAt30 float64 = -1
	killedAt := uint64(0)
	deadline := time.Now().Add(60 * time.Second)
	for killedAt == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("run 1: no snapshot past 30%% within 60s; status %+v\n%s", detectorStatus(t, run1.addr).Daemon, run1.log)
		}
		time.Sleep(20 * time.Millisecond)
		st := detectorStatus(t, run1.addr)
		saves := metricValue(t, run1.addr, "toolwatch_snapshot_saves_total")
		switch {
		case st.Daemon.Applied >= n:
			t.Fatalf("run 1 consumed the whole stream before a snapshot past 30%% (saves %v): make consumption slower", saves)
		case savesAt30 < 0 && st.Daemon.Applied >= n*3/10:
			savesAt30 = saves
		case savesAt30 >= 0 && saves > savesAt30:
			run1.kill(t)
			killedAt = st.Daemon.Applied
		}
	}
	mu.Lock()
	gotRun1 := len(got)
	mu.Unlock()
	t.Logf("run 1 killed with ~%d/%d applied (status page lags <= 1s), %d alerts received: %s",
		killedAt, n, gotRun1, time.Since(began).Round(time.Millisecond))

	// Run 2: restores the snapshot and consumes the rest.
	run2 := startDetector(t, bin, cfgPath, url)
	deadline = time.Now().Add(60 * time.Second)
	var st statuspage.Snapshot
	for stable := 0; stable < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("run 2: %d of %d records applied after 60s\n%s", st.Daemon.Applied, n, run2.log)
		}
		time.Sleep(200 * time.Millisecond)
		st = detectorStatus(t, run2.addr)
		switch {
		case st.Daemon.Applied > n:
			t.Fatalf("run 2: %d records applied, more than the %d in the stream: records counted twice", st.Daemon.Applied, n)
		case st.Daemon.Applied == n:
			stable++
		}
	}
	t.Logf("run 2 caught up: %s", time.Since(began).Round(time.Millisecond))
	if st.Daemon.Late != refLate || st.Daemon.Invalid != 0 || st.Daemon.AlertsFiring != refFiring {
		t.Errorf("run 2 counters: late %d invalid %d firing %d; uninterrupted run: late %d invalid 0 firing %d",
			st.Daemon.Late, st.Daemon.Invalid, st.Daemon.AlertsFiring, refLate, refFiring)
	}
	if s := run2.log.String(); !strings.Contains(s, "baselines restored from snapshot") {
		t.Errorf("run 2 did not restore the snapshot:\n%s", s)
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
	t.Logf("%d firing alerts received (%d distinct, %d in run 1); reference %d: %s",
		firing, len(gotIDs), gotRun1, len(want), time.Since(began).Round(time.Millisecond))
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
		lat := k.latMS * math.Exp(0.3*rng.NormFloat64())
		size := int64(k.outB * math.Exp(0.4*rng.NormFloat64()))
		if a, ok := anomaly[i]; ok {
			k = keys[a%len(keys)]
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
func publishStream(t *testing.T, nc *nats.Conn, stream, subject string, msgs []crashMsg) {
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
}

// startNATSServer runs Debian's nats-server with JetStream on a free
// loopback port, outside the test process so the stream outlives a killed
// detector; it is stopped at cleanup. A missing binary fails the test when
// CI is set and skips it otherwise.
func startNATSServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nats-server missing in CI (apt-get install nats-server): %v", err)
			}
			t.Skipf("crash test needs nats-server (apt-get install nats-server): %v", err)
		}
	}
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-js", "-sd", t.TempDir(), "-a", host, "-p", port)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nats-server output:\n%s", logs)
		}
	})
	url := "nats://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			return url
		}
		select {
		case err := <-exited:
			t.Fatalf("nats-server exited: %v\n%s", err, logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not reachable after 15s: %v\n%s", err, logs)
		}
	}
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
	log    *syncBuffer
	exited chan error
	done   bool
}

// startDetector runs `detector run` and waits until its HTTP endpoints
// answer; it is killed at cleanup if still running.
func startDetector(t *testing.T, bin, cfgPath, natsURL string) *detectorProc {
	t.Helper()
	addr := freeAddr(t)
	p := &detectorProc{addr: addr, log: &syncBuffer{}, exited: make(chan error, 1)}
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

// detectorStatus reads /api/status, failing the test on any error.
func detectorStatus(t *testing.T, addr string) statuspage.Snapshot {
	t.Helper()
	return getStatus(t, addr)
}

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

// syncBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
