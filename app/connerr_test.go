package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/toolwatch/toolwatch/internal/testcert"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/statuspage"
)

// The problem 6: against a TLS nats-server whose certificate the
// configured CA did not sign, the daemon says why at the first failure (a
// warn line with the x509 reason), and /readyz and the status page show it.
func TestNATSWrongCAExplained(t *testing.T) {
	serverCA, otherCA := testcert.New(t, "server-ca", nil), testcert.New(t, "other-ca", nil)
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{testcert.New(t, "nats", serverCA).TLS()}, MinVersion: tls.VersionTLS12},
		TLSTimeout: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	port := srv.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, otherCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("nats:\n  url: nats://127.0.0.1:%d\n  tls:\n    ca_file: %s\n  reconnect_wait: 200ms\n  reconnect_max_wait: 1s\nsnapshot:\n  path: %s\n",
		port, caFile, filepath.Join(dir, "toolwatch.snapshot"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logs := &testserver.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{ConfigPath: cfgPath, HTTPListen: addr, LogOutput: logs}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("daemon did not stop")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(logs.String(), 30))
		}
	})

	const reason = "certificate signed by unknown authority"
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, reason) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz does not explain the TLS failure: %q", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "tls error") {
		t.Errorf("/readyz does not name the kind: %q", body)
	}
	var warned bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["level"] == "warn" && m["kind"] == "tls" && strings.Contains(fmt.Sprint(m["cause"]), reason) {
			warned = true
			break
		}
	}
	if !warned {
		t.Errorf("no warn line with the x509 cause:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "context deadline exceeded") {
		t.Errorf("the log still says only 'context deadline exceeded':\n%s", logs.String())
	}
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statuspage.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Daemon.NATSError, reason) || st.Daemon.NATSErrorKind != "tls" || st.Daemon.NATSErrorSince == nil {
		t.Errorf("status page daemon %+v, want the TLS cause", st.Daemon)
	}
}
