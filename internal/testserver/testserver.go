// Package testserver starts the real servers that integration tests talk
// to (Debian's prometheus-alertmanager and nats-server) on free loopback
// ports and stops them at test cleanup. A missing binary fails the test when CI is set and
// skips it otherwise.
package testserver

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// alertmanagerBinary is where Debian's prometheus-alertmanager package
// installs the daemon (`dpkg -L prometheus-alertmanager`).
const alertmanagerBinary = "/usr/bin/prometheus-alertmanager"

const amConfig = `route:
  receiver: blackhole
receivers:
  - name: blackhole
`

// GettableAlert is the part of Alertmanager's API v2 alert the tests read.
type GettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// Alertmanager runs the real daemon on a free loopback port with
// clustering off and returns its base URL; it is stopped at cleanup.
func Alertmanager(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(alertmanagerBinary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing in CI (apt-get install prometheus-alertmanager): %v", alertmanagerBinary, err)
		}
		t.Skipf("integration test needs %s (apt-get install prometheus-alertmanager): %v", alertmanagerBinary, err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(amConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(alertmanagerBinary,
		"--config.file="+cfgFile,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	baseURL := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return baseURL
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("alertmanager exited: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready after 15s:\n%s", logs.String())
		}
	}
}

func Alerts(t testing.TB, baseURL string) []GettableAlert {
	t.Helper()
	resp, err := http.Get(baseURL + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s", resp.Status)
	}
	var as []GettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatalf("decode alerts: %v", err)
	}
	return as
}

// WaitAlerts polls until cond holds (Alertmanager ingests asynchronously).
func WaitAlerts(t testing.TB, baseURL string, within time.Duration, cond func([]GettableAlert) bool) []GettableAlert {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		as := Alerts(t, baseURL)
		if cond(as) {
			return as
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s; alerts: %+v", within, as)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
