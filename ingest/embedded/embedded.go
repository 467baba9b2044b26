// Package embedded runs an in-process NATS server with JetStream, used by
// the daemon when no NATS URL is configured (docs/design.md §7) and by tests. It
// lives apart from package ingest so that importing the configuration types
// does not link the whole server.
package embedded

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Start starts a server listening on 127.0.0.1:port (0 picks a free port)
// with JetStream storing under storeDir, and returns it with the URL
// clients connect to. Stop it with Shutdown then WaitForShutdown.
func Start(port int, storeDir string, log zerolog.Logger) (*server.Server, string, error) {
	if port < 0 || port > 65535 {
		return nil, "", fmt.Errorf("embedded nats: port %d out of range", port)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server treats 0 as "the default 4222"
	}
	if storeDir == "" {
		return nil, "", errors.New("embedded nats: empty store dir")
	}
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, "", fmt.Errorf("embedded nats store %s: %w", storeDir, err)
	}
	opts := &server.Options{
		ServerName: "toolwatch-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true, // the daemon owns signal handling
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("embedded nats: %w", err)
	}
	log = log.With().Str("component", "nats-server").Logger()
	s.SetLoggerV2(logger{log}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, "", fmt.Errorf("embedded nats on 127.0.0.1:%d with store %s: not ready for connections", port, storeDir)
	}
	url := s.ClientURL()
	log.Debug().Str("url", url).Str("store_dir", storeDir).Msg("embedded nats server started")
	return s, url, nil
}

// logger adapts the server's printf logger to zerolog: notices at debug
// (the server is chatty at start-up), warnings and errors as such.
type logger struct{ l zerolog.Logger }

func (g logger) Noticef(format string, v ...any) { g.l.Debug().Msgf(format, v...) }
func (g logger) Warnf(format string, v ...any)   { g.l.Warn().Msgf(format, v...) }
func (g logger) Fatalf(format string, v ...any)  { g.l.Error().Msgf(format, v...) }
func (g logger) Errorf(format string, v ...any)  { g.l.Error().Msgf(format, v...) }
func (g logger) Debugf(format string, v ...any)  { g.l.Debug().Msgf(format, v...) }
func (g logger) Tracef(format string, v ...any)  { g.l.Trace().Msgf(format, v...) }
