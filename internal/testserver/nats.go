package testserver

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is Debian's nats-server with JetStream on a loopback port, run as a
// subprocess that tests can stop and start again on the same port and
// store directory (a server restart mid-stream). It is stopped at cleanup.
type NATS struct {
	t        testing.TB
	bin      string
	addr     string
	storeDir string
	cmd      *exec.Cmd
	exited   chan error
	logs     *SyncBuffer
}

// SyncBuffer collects a subprocess's or logger's output for a test to
// read while it is still being written: a strings.Builder behind a mutex.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartNATS starts the server. A missing binary fails the test when CI is
// set and skips it otherwise.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nats-server missing in CI (apt-get install nats-server): %v", err)
			}
			t.Skipf("integration test needs nats-server (apt-get install nats-server): %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &NATS{t: t, bin: bin, addr: addr, storeDir: t.TempDir(), logs: &SyncBuffer{}}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("nats-server output:\n%s", s.logs)
		}
	})
	s.Start()
	return s
}

// URL is the client URL.
func (s *NATS) URL() string { return "nats://" + s.addr }

// Start (re)starts the server on its port and store directory and waits
// until it accepts connections.
func (s *NATS) Start() {
	s.t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command(s.bin, "-js", "-sd", s.storeDir, "-a", host, "-p", port)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	s.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(s.cmd, s.exited)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-s.exited:
			s.cmd = nil
			s.t.Fatalf("nats-server exited: %v\n%s", err, s.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server not reachable after 15s: %v\n%s", err, s.logs)
		}
	}
}

// Stop stops the server gracefully (SIGTERM; killed after 10s).
func (s *NATS) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Connect connects to the NATS server at url for the test (closed at
// cleanup) and returns the connection with its JetStream context.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
