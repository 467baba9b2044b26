package ingest

import (
	"context"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/toolwatch/toolwatch/internal/testcert"
)

// startAuthServer starts a plain (no JetStream) server with the given
// options on a free port.
func startAuthServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.NoSigs, opts.NoLog = "127.0.0.1", true, true
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

func dial(t *testing.T, cfg NATSConfig) error {
	t.Helper()
	cfg.ReconnectWait, cfg.ReconnectMaxWait, cfg.ReconnectJitter = 10*time.Millisecond, 50*time.Millisecond, 0
	nc, err := Connect(context.Background(), cfg, quiet)
	if err != nil {
		return err
	}
	defer nc.Close()
	waitFor(t, "authenticated connection", nc.IsConnected)
	return nil
}

func TestConnectAuth(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TW_TEST_TOKEN", "tok-123")

	t.Run("user password_file", func(t *testing.T) {
		url := startAuthServer(t, &server.Options{Username: "tw", Password: "s3cret"})
		c := DefaultNATSConfig()
		c.URL, c.User, c.PasswordFile = url, "tw", pwFile
		if err := dial(t, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("token_env", func(t *testing.T) {
		url := startAuthServer(t, &server.Options{Authorization: "tok-123"})
		c := DefaultNATSConfig()
		c.URL, c.TokenEnv = url, "TW_TEST_TOKEN"
		if err := dial(t, c); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range []struct {
		name string
		mod  func(*NATSConfig)
		want string
	}{
		{"missing env", func(c *NATSConfig) { c.TokenEnv = "TW_TEST_UNSET_VAR" }, "nats token_env: secret env:TW_TEST_UNSET_VAR: variable not set"},
		{"missing password file", func(c *NATSConfig) { c.User, c.PasswordFile = "u", filepath.Join(dir, "nope") }, "nats password_file: secret file:"},
		{"missing creds", func(c *NATSConfig) { c.CredsFile = filepath.Join(dir, "nope.creds") }, "nats creds_file: stat "},
		{"missing ca", func(c *NATSConfig) { c.TLS.CAFile = filepath.Join(dir, "nope.pem") }, "nats tls: stat "},
		{"bad nkey", func(c *NATSConfig) { c.NKeySeedFile = pwFile }, "nats nkey_seed_file: "},
		{"no url", func(c *NATSConfig) { c.URL = "" }, "nats: no server URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultNATSConfig()
			c.URL = "nats://127.0.0.1:1"
			tt.mod(&c)
			_, err := Connect(context.Background(), c, quiet)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Connect error %v, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

// With the server down, Connect still returns (the daemon starts) and the
// connection comes up once the server does.
func TestConnectRetriesUntilServerUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := DefaultNATSConfig()
	c.URL = "nats://127.0.0.1:" + itoa(port)
	c.ReconnectWait, c.ReconnectMaxWait, c.ReconnectJitter = 10*time.Millisecond, 50*time.Millisecond, 0
	nc, err := Connect(context.Background(), c, quiet)
	if err != nil {
		t.Fatalf("Connect with server down: %v", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	startAuthServer(t, &server.Options{Port: port})
	waitFor(t, "connected once the server is up", nc.IsConnected)
}

// Mutual TLS: the server requires a client certificate signed by the CA.
func TestConnectMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.New(t, "ca", nil)
	ca.Write(t, dir, "ca")
	testcert.New(t, "server", ca).Write(t, dir, "server")
	testcert.New(t, "client", ca).Write(t, dir, "client")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		CaFile: filepath.Join(dir, "ca.pem"), Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := startAuthServer(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2})

	c := DefaultNATSConfig()
	c.URL = url
	c.TLS = TLSConfig{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	if err := dial(t, c); err != nil {
		t.Fatal(err)
	}

	// Without the client certificate the handshake is refused.
	c.TLS.CertFile, c.TLS.KeyFile = "", ""
	c.ReconnectWait, c.ReconnectMaxWait = 10*time.Millisecond, 50*time.Millisecond
	nc, err := Connect(context.Background(), c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "a refused handshake", func() bool { return nc.LastError() != nil })
	if nc.IsConnected() {
		t.Error("connected without a client certificate")
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }
