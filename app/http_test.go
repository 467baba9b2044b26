package app

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/internal/testcert"
)

// The lifecycle guard: off unless enabled, POST only, and never for a
// request a browser on another origin can send without a preflight.
func TestLifecycleGuard(t *testing.T) {
	ok := func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, "reloaded\n") }
	tests := []struct {
		name    string
		enabled bool
		method  string
		header  map[string]string
		want    int
	}{
		{"disabled", false, "POST", map[string]string{"X-Requested-By": "ops"}, 403},
		{"get", true, "GET", map[string]string{"X-Requested-By": "ops"}, 405},
		{"put", true, "PUT", map[string]string{"X-Requested-By": "ops"}, 405},
		{"bare post (no-cors fetch)", true, "POST", nil, 403},
		{"text/plain form", true, "POST", map[string]string{"Content-Type": "text/plain; charset=utf-8"}, 403},
		{"urlencoded form", true, "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"multipart form", true, "POST", map[string]string{"Content-Type": "Multipart/Form-Data; boundary=x"}, 403},
		{"malformed content type", true, "POST", map[string]string{"Content-Type": "text/plain;;"}, 403},
		{"x-requested-by", true, "POST", map[string]string{"X-Requested-By": "curl"}, 200},
		{"json", true, "POST", map[string]string{"Content-Type": "application/json"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/-/reload", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			lifecycle(tc.enabled, ok).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%s: %d %q, want %d", tc.name, rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}

// The problem 4 against the daemon: /-/reload is off by default,
// and a cross-origin text/plain POST cannot reload even when it is on.
func TestDaemonLifecycleOffByDefault(t *testing.T) {
	info := daemon(t, Options{ConfigPath: fastIdleConfig(t)})
	resp, err := http.Post("http://"+info.HTTPAddr+"/-/reload", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("default daemon: text/plain POST /-/reload answered %d, want 403", resp.StatusCode)
	}
	if code, body := postReload(t, info.HTTPAddr); code != http.StatusForbidden || !strings.Contains(body, "not enabled") {
		t.Errorf("default daemon: POST /-/reload answered %d %q, want 403 not enabled", code, body)
	}

	on := daemon(t, Options{ConfigPath: fastIdleConfig(t), EnableLifecycle: true})
	resp, err = http.Post("http://"+on.HTTPAddr+"/-/reload", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("lifecycle on: cross-origin-style text/plain POST answered %d, want 403", resp.StatusCode)
	}
	if code, body := postReload(t, on.HTTPAddr); code != http.StatusOK {
		t.Errorf("lifecycle on: POST with X-Requested-By answered %d %q", code, body)
	}
}

// TLS and basic auth from a Prometheus web config file cover every
// endpoint.
func TestDaemonWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	cert := testcert.New(t, "toolwatch-test", nil)
	certFile, keyFile := cert.Write(t, dir, "tls")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("tls_server_config:\n  cert_file: "+filepath.Base(certFile)+"\n  key_file: "+filepath.Base(keyFile)+"\nbasic_auth_users:\n  ops: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	info := daemon(t, Options{ConfigPath: fastIdleConfig(t), WebConfigFile: webCfg, EnableLifecycle: true})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool()}}, Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	do := func(method, path, user, pass string) int {
		req, _ := http.NewRequest(method, "https://"+info.HTTPAddr+path, nil)
		req.Header.Set("X-Requested-By", "test")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/", "/api/status", "/api/baselines"} {
		if code := do("GET", path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, code)
		}
		if code := do("GET", path, "ops", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", path, code)
		}
	}
	if code := do("POST", "/-/reload", "", ""); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without credentials: %d, want 401", code)
	}
	for _, path := range []string{"/metrics", "/api/baselines"} {
		if code := do("GET", path, "ops", "s3cret"); code != http.StatusOK {
			t.Errorf("GET %s with credentials: %d", path, code)
		}
	}
	if code := do("POST", "/-/reload", "ops", "s3cret"); code != http.StatusOK {
		t.Errorf("POST /-/reload with credentials: %d", code)
	}
	// Plain HTTP gets no answer but a TLS error.
	resp, err := http.Get("http://" + info.HTTPAddr + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served metrics while TLS is configured")
		}
	}
}

// A listener beyond loopback without basic auth is warned about at start;
// loopback, or basic auth, is not.
func TestServeHTTPWarnsWithoutAuthBeyondLoopback(t *testing.T) {
	dir := t.TempDir()
	withAuth := filepath.Join(dir, "web.yml")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err := os.WriteFile(withAuth, []byte("basic_auth_users:\n  ops: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		listen, web string
		warn        bool
	}{
		{"0.0.0.0:0", "", true},
		{":0", "", true},
		{"127.0.0.1:0", "", false},
		{"localhost:0", "", false},
		{"0.0.0.0:0", withAuth, false},
	}
	for _, tc := range tests {
		var buf lockedBuffer // the server's goroutine logs too
		cfg := config.DefaultMetricsConfig()
		cfg.Listen, cfg.WebConfigFile = tc.listen, tc.web
		srv, _, err := serveHTTP(cfg, http.NotFoundHandler(), zerolog.New(&buf))
		if err != nil {
			t.Fatalf("%s: %v", tc.listen, err)
		}
		srv.Close()
		if got := strings.Contains(buf.String(), "beyond loopback without authentication"); got != tc.warn {
			t.Errorf("listen %s web %q: warned %v, want %v\n%s", tc.listen, tc.web, got, tc.warn, buf.String())
		}
	}
	// A web config that does not validate is a start error.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n"), 0o600)
	cfg := config.DefaultMetricsConfig()
	cfg.Listen, cfg.WebConfigFile = "127.0.0.1:0", bad
	if _, _, err := serveHTTP(cfg, http.NotFoundHandler(), zerolog.Nop()); err == nil {
		t.Error("a web config with missing certificate files was accepted")
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
