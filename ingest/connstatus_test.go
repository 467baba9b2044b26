package ingest

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func TestClassifyConnErrors(t *testing.T) {
	tests := []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("tls: failed to verify certificate: %w", x509.UnknownAuthorityError{}), "tls"},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "nats.internal"}, "tls"},
		{nats.ErrSecureConnRequired, "tls"},
		{nats.ErrAuthorization, "auth"},
		{errors.New("nats: Authorization Violation"), "auth"},
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nats.invalid", IsNotFound: true}}, "dns"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "refused"},
		{nats.ErrTimeout, "timeout"},
		{errors.New("something else"), "other"},
	}
	for _, tc := range tests {
		if kind, cause := classify(tc.err); kind != tc.kind || cause == "" {
			t.Errorf("classify(%v) = %s %q, want %s", tc.err, kind, cause, tc.kind)
		}
	}
}

// The first failure and a change of cause are logged at warn; repeats of
// the same cause at most once per interval; Problem clears on connect.
func TestConnStatusLogsCauseOnce(t *testing.T) {
	var buf bytes.Buffer
	s := NewConnStatus(zerolog.New(&buf))
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	dns := &net.DNSError{Err: "no such host", Name: "nats.invalid", IsNotFound: true}
	s.failed(dns)
	now = now.Add(10 * time.Second)
	s.failed(dns)
	s.failedOnce(dns)
	if n := strings.Count(buf.String(), `"level":"warn"`); n != 1 {
		t.Fatalf("%d warn lines for one cause, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "no such host") || !strings.Contains(buf.String(), `"kind":"dns"`) {
		t.Errorf("warn line lacks the cause: %s", buf.String())
	}
	cause, kind, since, attempts := s.Problem()
	if kind != "dns" || !strings.Contains(cause, "nats.invalid") || since != time.Unix(1000, 0) || attempts != 2 {
		t.Errorf("Problem() = %q %s %v %d", cause, kind, since, attempts)
	}
	now = now.Add(time.Minute)
	s.failed(dns)
	s.failed(nats.ErrAuthorization)
	if n := strings.Count(buf.String(), `"level":"warn"`); n != 3 {
		t.Errorf("%d warn lines, want 3 (first, a minute later, new cause):\n%s", n, buf.String())
	}
	s.connected()
	if cause, _, _, _ := s.Problem(); cause != "" {
		t.Errorf("Problem() after connect = %q", cause)
	}
	var nilStatus *ConnStatus
	if cause, _, _, _ := nilStatus.Problem(); cause != "" {
		t.Error("nil status has a problem")
	}
}
