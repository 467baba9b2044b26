package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// ConnStatus tells operators why the NATS connection is down: the cause of
// the last failed attempt (TLS, auth, DNS, refused, ...), logged at warn
// at the first failure and whenever the cause changes (then at most once a
// minute while it lasts), and served by /readyz and the status page.
// nats.go reports failed attempts of the initial connect and of redials
// through its reconnect-error callback, but a failed TLS or auth handshake
// after a successful dial only through LastError, so Watch also polls it.
type ConnStatus struct {
	log   zerolog.Logger
	now   func() time.Time
	every time.Duration // repeat interval of the warning while it lasts

	mu       sync.Mutex
	cause    string // "" while connected or before any failure
	kind     string
	since    time.Time
	attempts int
	logged   time.Time
	down     bool
}

// NewConnStatus returns a status that logs to log.
func NewConnStatus(log zerolog.Logger) *ConnStatus {
	return &ConnStatus{log: log.With().Str("component", "ingest").Logger(), now: time.Now, every: time.Minute}
}

// Problem is the cause of the connection being down ("" when connected),
// its kind (tls, auth, dns, refused, timeout, other), since when it has
// lasted and how many attempts failed with it.
func (s *ConnStatus) Problem() (cause, kind string, since time.Time, attempts int) {
	if s == nil {
		return "", "", time.Time{}, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return "", "", time.Time{}, 0
	}
	return s.cause, s.kind, s.since, s.attempts
}

// failed records one failed attempt.
func (s *ConnStatus) failed(err error) {
	if err == nil {
		return
	}
	kind, cause := classify(err)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := !s.down || cause != s.cause
	if changed {
		s.cause, s.kind, s.since, s.attempts = cause, kind, now, 0
	}
	s.down = true
	s.attempts++
	if changed || now.Sub(s.logged) >= s.every {
		s.logged = now
		ev := s.log.Warn().Str("kind", kind).Str("cause", cause).Int("attempts", s.attempts)
		if !changed {
			ev = ev.Time("since", s.since)
		}
		ev.Msg("cannot connect to NATS: " + cause)
	}
}

// connected records that the connection is up.
func (s *ConnStatus) connected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = false
}

// Watch polls nc every interval until ctx ends, catching handshake
// failures that nats.go reports only through LastError.
func (s *ConnStatus) Watch(ctx context.Context, nc *nats.Conn, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if nc.IsConnected() {
			s.connected()
		} else if err := nc.LastError(); err != nil {
			s.failedOnce(err)
		}
	}
}

// failedOnce records err unless it is the cause already recorded (the poll
// sees the same LastError many times; it is not an attempt each time).
func (s *ConnStatus) failedOnce(err error) {
	_, cause := classify(err)
	s.mu.Lock()
	same := s.down && s.cause == cause
	s.mu.Unlock()
	if !same {
		s.failed(err)
	}
}

// classify names the kind of a connection failure and a one-line cause
// that keeps the library's reason (x509 detail, DNS name, ...).
func classify(err error) (kind, cause string) {
	cause = strings.ReplaceAll(err.Error(), "\n", " ")
	var (
		dnsErr     *net.DNSError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted),
		strings.Contains(cause, "x509:"), strings.Contains(cause, "tls:"):
		kind = "tls"
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired),
		strings.Contains(strings.ToLower(cause), "authorization violation"),
		strings.Contains(strings.ToLower(cause), "authentication"):
		kind = "auth"
	case errors.As(err, &dnsErr):
		kind = "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, nats.ErrTimeout):
		kind = "timeout"
	default:
		kind = "other"
	}
	if len(cause) > 300 {
		cause = cause[:300]
	}
	return kind, cause
}
