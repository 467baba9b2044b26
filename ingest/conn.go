package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/toolwatch/toolwatch/internal/secret"
)

// Connect dials the servers of cfg.URL (which must not be empty: with no URL
// start the embedded server first and pass its URL). It does not wait for
// the server: with RetryOnFailedConnect the connection keeps trying in the
// background, forever, with exponential backoff and jitter, so the daemon
// starts even while NATS is down. Secrets are read here, once; a missing
// secret file or variable is an error.
func Connect(ctx context.Context, cfg NATSConfig, log zerolog.Logger) (*nats.Conn, error) {
	return ConnectStatus(ctx, cfg, log, nil)
}

// ConnectStatus is Connect reporting failed attempts and their cause to st
// (nil: only logged at debug). Call st.Watch to catch handshake failures.
func ConnectStatus(ctx context.Context, cfg NATSConfig, log zerolog.Logger, st *ConnStatus) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	urls := cfg.URLs()
	if len(urls) == 0 {
		return nil, errors.New("nats: no server URL")
	}
	opts, err := connOptions(cfg, log.With().Str("component", "ingest").Logger(), st)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", redactURLs(urls), err)
	}
	return nc, nil
}

func connOptions(cfg NATSConfig, log zerolog.Logger, st *ConnStatus) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(backoff(cfg.ReconnectWait, cfg.ReconnectMaxWait, cfg.ReconnectJitter)),
		nats.ConnectHandler(func(nc *nats.Conn) {
			if st != nil {
				st.connected()
			}
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("nats connected")
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			ev := log.Warn()
			if err != nil {
				ev = ev.Err(err)
			}
			ev.Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if st != nil {
				st.connected()
			}
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Uint64("reconnects", nc.Stats().Reconnects).Msg("nats reconnected")
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			if st != nil {
				st.failed(err) // warn with the cause (TLS, auth, DNS, ...)
				return
			}
			log.Debug().Err(err).Msg("nats reconnect attempt failed")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			ev := log.Info()
			if err := nc.LastError(); err != nil {
				ev = log.Warn().Err(err)
			}
			ev.Msg("nats connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("nats async error")
		}),
	}
	switch {
	case cfg.CredsFile != "":
		if _, err := os.Stat(cfg.CredsFile); err != nil {
			return nil, fmt.Errorf("nats creds_file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey_seed_file: %w", err)
		}
		opts = append(opts, o)
	case cfg.User != "":
		pw, err := secret.Read("nats", "password", cfg.PasswordFile, cfg.PasswordEnv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(cfg.User, pw))
	case cfg.TokenFile != "" || cfg.TokenEnv != "":
		tok, err := secret.Read("nats", "token", cfg.TokenFile, cfg.TokenEnv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok))
	}
	if cfg.TLS.Enabled() {
		for _, f := range []string{cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("nats tls: %w", err)
			}
		}
		if cfg.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(cfg.TLS.CAFile))
		}
		if cfg.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(cfg.TLS.CertFile, cfg.TLS.KeyFile))
		}
		opts = append(opts, nats.Secure())
	}
	return opts, nil
}

// backoff returns a reconnect delay: base doubling per attempt up to max,
// plus up to jitter of random delay so many daemons do not reconnect in
// lockstep.
func backoff(base, max, jitter time.Duration) nats.ReconnectDelayHandler {
	return func(attempts int) time.Duration {
		d := base
		for i := 1; i < attempts && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		if jitter > 0 {
			d += rand.N(jitter)
		}
		return d
	}
}

// redactURLs drops any userinfo before a URL list is logged or wrapped in
// an error.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				u = u[:s+3] + "REDACTED@" + u[at+1:]
			}
		}
		out[i] = u
	}
	return strings.Join(out, ",")
}
