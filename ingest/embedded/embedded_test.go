package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartRandomPortWithJetStream(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	s, url, err := Start(0, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":4222") {
		t.Errorf("url %q: want 127.0.0.1 on a random port", url)
	}
	if !s.JetStreamEnabled() {
		t.Error("JetStream not enabled")
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("store dir not used: %v", err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

func TestStartErrors(t *testing.T) {
	if _, _, err := Start(-2, t.TempDir(), zerolog.Nop()); err == nil {
		t.Error("negative port accepted")
	}
	if _, _, err := Start(0, "", zerolog.Nop()); err == nil {
		t.Error("empty store dir accepted")
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Start(0, filepath.Join(file, "sub"), zerolog.Nop()); err == nil {
		t.Error("store dir under a file accepted")
	}
}
