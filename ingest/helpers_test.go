package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/ingest/embedded"
	"github.com/toolwatch/toolwatch/record"
)

func TestMain(m *testing.M) {
	// nats.go v1.55 jetstream: resetPendingAcksOnReconnect was seen blocked
	// forever receiving from a nil status channel (chan receive (nil chan))
	// after the connection closed; it is the library's goroutine, not ours.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

var quiet = zerolog.Nop()

// startEmbedded starts the embedded server (JetStream) on 127.0.0.1:port
// (0 = free port) storing in dir, stopped at cleanup.
func startEmbedded(t testing.TB, port int, dir string) (*server.Server, string) {
	t.Helper()
	s, url, err := embedded.Start(port, dir, quiet)
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s, url
}

func portOf(t *testing.T, s *server.Server) int {
	t.Helper()
	return s.Addr().(*net.TCPAddr).Port
}

// startBinary starts Debian's nats-server binary on a free 127.0.0.1 port.
func startBinary(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nats-server binary not found (install the nats-server package): %v", err)
		}
		t.Skip("nats-server binary not found; install Debian's nats-server package to run this test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, "nats-server binary listening", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "nats://" + addr
}

// connect dials url with fast reconnects, closed at cleanup.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	cfg := DefaultNATSConfig()
	cfg.URL = url
	cfg.ReconnectWait, cfg.ReconnectMaxWait, cfg.ReconnectJitter = 10*time.Millisecond, 100*time.Millisecond, 0
	nc, err := Connect(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	waitFor(t, "connected", nc.IsConnected)
	return nc
}

// waitFor polls cond until it holds; the deadline only guards against a
// hang, it is not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.AckWait = time.Second
	c.NakDelay = 100 * time.Millisecond
	return c
}

// recorder is a Handler that records what it saw. Payloads starting with
// "bad" are Invalid, "late" are Late.
type recorder struct {
	mu      sync.Mutex
	order   []uint64 // stream seqs (JetStream) in call order
	count   map[uint64]int
	data    []string // payloads in call order
	idles   []int    // len(order) at each Idle call
	onMsg   func(n int, m *Message)
	pending []uint64
	// processed counts records delivered with Message.Processed set.
	processed int
}

func newRecorder() *recorder { return &recorder{count: map[uint64]int{}} }

func (r *recorder) HandleMessage(m *Message) Result {
	r.mu.Lock()
	r.order = append(r.order, m.StreamSeq)
	r.count[m.StreamSeq]++
	r.data = append(r.data, string(m.Data))
	r.pending = append(r.pending, m.Pending)
	if m.Processed {
		r.processed++
	}
	n := len(r.order)
	hook := r.onMsg
	r.mu.Unlock()
	if hook != nil {
		hook(n, m)
	}
	switch {
	case bytes.HasPrefix(m.Data, []byte("bad")):
		return Result{Outcome: record.Invalid, Reason: "bad json\r\nat byte 0"}
	case bytes.HasPrefix(m.Data, []byte("late")):
		return Result{Outcome: record.Late}
	}
	return Result{Outcome: record.Applied}
}

func (r *recorder) Idle(time.Time) {
	r.mu.Lock()
	r.idles = append(r.idles, len(r.order))
	r.mu.Unlock()
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func (r *recorder) snapshot() (order []uint64, count map[uint64]int, data []string, idles []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	count = make(map[uint64]int, len(r.count))
	for k, v := range r.count {
		count[k] = v
	}
	return append([]uint64(nil), r.order...), count, append([]string(nil), r.data...), append([]int(nil), r.idles...)
}

// run starts c.Run in a goroutine; stop cancels it and returns its error.
func run(t *testing.T, c *Consumer, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// publishJS publishes payloads through JetStream (each stored before the
// next), retrying while the stream is not available yet.
func publishJS(t *testing.T, nc *nats.Conn, subject string, payloads ...string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		waitFor(t, "publish "+p, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := js.Publish(ctx, subject, []byte(p))
			return err == nil
		})
	}
}

// publishMany publishes n records "rec-<i>" asynchronously and waits for
// every store ack.
func publishMany(t testing.TB, nc *nats.Conn, from, n int) {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512))
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := js.PublishAsync("audit.records.prod.a", []byte(fmt.Sprintf("rec-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(15 * time.Second):
		t.Fatal("publish acks timed out")
	}
}

// ensureStream creates the stream the consumer would create, so records
// can be published before the consumer runs.
func ensureStream(t testing.TB, nc *nats.Conn, cfg Config) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &Consumer{cfg: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, c.streamConfig()); err != nil {
		t.Fatalf("create stream: %v", err)
	}
}

func consumerInfo(t *testing.T, nc *nats.Conn, cfg Config) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := tryConsumerInfo(nc, cfg)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return info
}

func tryConsumerInfo(nc *nats.Conn, cfg Config) (*jetstream.ConsumerInfo, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, cfg.Stream, cfg.Consumer)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// acked reports whether the consumer's ack floor reached floor with nothing
// pending or unacked.
func acked(nc *nats.Conn, cfg Config, floor uint64) func() bool {
	return func() bool {
		i, err := tryConsumerInfo(nc, cfg)
		return err == nil && i.AckFloor.Stream == floor && i.NumAckPending == 0 && i.NumPending == 0
	}
}

func newConsumer(t *testing.T, nc *nats.Conn, cfg Config, idle time.Duration) (*Consumer, *Metrics) {
	t.Helper()
	m := NewMetrics(nil)
	c, err := New(nc, cfg, Options{Log: quiet, Metrics: m, IdleAfter: idle})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, m
}
