package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/ingest"
)

// serveHTTP listens on cfg.Listen and serves h through the Prometheus
// exporter-toolkit (metrics.web_config_file: TLS, basic auth, headers,
// the --web.config.file convention), returning the server and its address.
// A web config that does not validate is a start error. Listening beyond
// loopback without basic auth is logged as a warning.
func serveHTTP(cfg config.MetricsConfig, h http.Handler, log zerolog.Logger) (*http.Server, string, error) {
	if err := web.Validate(cfg.WebConfigFile); err != nil {
		return nil, "", fmt.Errorf("metrics.web_config_file %s: %w", cfg.WebConfigFile, err)
	}
	auth, err := hasBasicAuth(cfg.WebConfigFile)
	if err != nil {
		return nil, "", fmt.Errorf("metrics.web_config_file %s: %w", cfg.WebConfigFile, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	addr := ln.Addr().String()
	if !auth && !loopbackOnly(cfg.Listen) {
		log.Warn().Str("listen", cfg.Listen).Bool("lifecycle", cfg.EnableLifecycle).
			Msg("HTTP endpoints listen beyond loopback without authentication: anyone who reaches this address sees the status page and metrics; set basic_auth_users (and TLS) in metrics.web_config_file (--web.config.file)")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	webFile := cfg.WebConfigFile
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{cfg.Listen}, WebSystemdSocket: &systemd, WebConfigFile: &webFile}
	slogger := slog.New(zerolog.NewSlogHandler(log.With().Str("component", "http").Logger()))
	go func() {
		if err := web.Serve(ln, srv, flags, slogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server failed")
		}
	}()
	log.Info().Str("addr", addr).Str("metrics", cfg.Path).Bool("tls_or_auth", webFile != "").
		Bool("lifecycle", cfg.EnableLifecycle).Msg("http endpoints listening")
	return srv, addr, nil
}

// hasBasicAuth reports whether the web config file sets basic_auth_users.
func hasBasicAuth(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var wc struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false, err
	}
	return len(wc.Users) > 0, nil
}

// loopbackOnly reports whether listen (host:port) binds loopback only. An
// empty host, 0.0.0.0 or :: bind every interface; a host name other than
// localhost may resolve anywhere.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// baseMux serves what every daemon serves: metrics and /healthz.
func baseMux(cfg config.MetricsConfig, reg prometheus.Registerer, gatherer prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(rw, "ok\n")
	})
	return mux
}

// shutdownHTTP stops srv (nil: none), waiting at most 2s for requests.
func shutdownHTTP(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(ctx)
	cancel()
}

// notifyStarted calls started(info) in a goroutine of wg once ready is
// closed, unless ctx ends first; nothing when started is nil.
func notifyStarted(ctx context.Context, wg *sync.WaitGroup, ready <-chan struct{}, started func(Info), info Info) {
	if started == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-ready:
			started(info)
		}
	}()
}

func newMux(cfg config.MetricsConfig, reg prometheus.Registerer, gatherer prometheus.Gatherer, consumer *ingest.Consumer, conn *ingest.ConnStatus, rl *reloader, w *worker) *http.ServeMux {
	mux := baseMux(cfg, reg, gatherer)
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !consumer.Ready() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			if cause, kind, since, attempts := conn.Problem(); cause != "" {
				fmt.Fprintf(rw, "not ready: cannot connect to NATS (%s error since %s, %d attempts): %s\n",
					kind, since.UTC().Format(time.RFC3339), attempts, cause)
				return
			}
			io.WriteString(rw, "not ready: not connected or not consuming\n")
			return
		}
		io.WriteString(rw, "ready\n")
	})
	mux.Handle("/-/reload", lifecycle(cfg.EnableLifecycle, func(rw http.ResponseWriter, r *http.Request) {
		if err := rl.reload("http"); err != nil {
			http.Error(rw, "reload rejected; the previous configuration keeps running:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(rw, "reloaded\n")
	}))
	w.mountStatus(mux)
	w.mountBaselines(mux)
	w.mountTriage(mux, cfg.EnableLifecycle)
	return mux
}

// lifecycle guards a state-changing endpoint: 403 unless enabled
// (metrics.enable_lifecycle), POST only, and only for requests a browser
// cannot send cross-origin without a CORS preflight (which this server
// never grants): they must carry an X-Requested-By header or a Content-Type
// other than the three a plain HTML form or no-cors fetch may use.
func lifecycle(enabled bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case !enabled:
			http.Error(rw, "Lifecycle API is not enabled (metrics.enable_lifecycle or --web.enable-lifecycle).", http.StatusForbidden)
		case r.Method != http.MethodPost:
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, "use POST", http.StatusMethodNotAllowed)
		case !notFromBrowserForm(r):
			http.Error(rw, "send the header X-Requested-By (any value) or a non-form Content-Type such as application/json; cross-origin browser requests are refused", http.StatusForbidden)
		default:
			h(rw, r)
		}
	})
}

// notFromBrowserForm: the request has a header that a cross-origin browser
// request can only send after a CORS preflight.
func notFromBrowserForm(r *http.Request) bool {
	if r.Header.Get("X-Requested-By") != "" {
		return true
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch strings.ToLower(mt) {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return false
	}
	return true
}
