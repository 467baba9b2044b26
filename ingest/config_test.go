package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsValid(t *testing.T) {
	n, c := DefaultNATSConfig(), DefaultConfig()
	if es := n.Validate(); len(es) > 0 {
		t.Errorf("DefaultNATSConfig invalid: %v", es)
	}
	if es := c.Validate(); len(es) > 0 {
		t.Errorf("DefaultConfig invalid: %v", es)
	}
}

func TestNATSConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*NATSConfig)
		want string // "" = valid; else the one expected "path: msg"
	}{
		{"url list", func(c *NATSConfig) { c.URL = "nats://a:4222, tls://b:4443" }, ""},
		{"bad scheme", func(c *NATSConfig) { c.URL = "http://a:4222" }, `url: "http://a:4222": scheme must be nats, tls, ws or wss`},
		{"no host", func(c *NATSConfig) { c.URL = "nats://:4222" }, `url: "nats://:4222": missing host`},
		{"inline credentials", func(c *NATSConfig) { c.URL = "nats://u:p@a:4222" }, `url: "nats://u:p@a:4222": credentials in the URL are not allowed; use user + password_file/password_env or token_file/token_env`},
		{"only commas", func(c *NATSConfig) { c.URL = " , " }, "url: must list at least one server"},
		{"user+password file", func(c *NATSConfig) { c.User, c.PasswordFile = "u", "/run/pw" }, ""},
		{"user without password", func(c *NATSConfig) { c.User = "u" }, "user: user and password_file or password_env must be set together"},
		{"password without user", func(c *NATSConfig) { c.PasswordEnv = "PW" }, "user: user and password_file or password_env must be set together"},
		{"two password sources", func(c *NATSConfig) { c.User, c.PasswordFile, c.PasswordEnv = "u", "/f", "PW" }, "password_env: cannot be combined with password_file"},
		{"two token sources", func(c *NATSConfig) { c.TokenFile, c.TokenEnv = "/f", "T" }, "token_env: cannot be combined with token_file"},
		{"token and creds", func(c *NATSConfig) { c.TokenEnv, c.CredsFile = "T", "/c" }, "creds_file: use only one of creds_file, nkey_seed_file, user/password, token"},
		{"cert without key", func(c *NATSConfig) { c.TLS.CertFile = "/c" }, "tls.cert_file: cert_file and key_file must be set together"},
		{"max wait below wait", func(c *NATSConfig) { c.ReconnectMaxWait = 500 * time.Millisecond }, "reconnect_max_wait: must be >= reconnect_wait (1s)"},
		{"negative jitter", func(c *NATSConfig) { c.ReconnectJitter = -1 }, "reconnect_jitter: must be between 0s and 1h0m0s"},
		{"port", func(c *NATSConfig) { c.Embedded.Port = 70000 }, "embedded.port: must be between 0 and 65535"},
		{"store dir", func(c *NATSConfig) { c.Embedded.StoreDir = " " }, "embedded.store_dir: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultNATSConfig()
			tt.mod(&c)
			checkErrs(t, c.Validate().Err(), tt.want)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"core", func(c *Config) { c.Mode, c.QueueGroup = ModeCore, "detectors" }, ""},
		{"mode", func(c *Config) { c.Mode = "push" }, "mode: must be jetstream or core"},
		{"subject wildcard inside token", func(c *Config) { c.Subject = "audit.rec*" }, "subject: wildcards must be whole tokens ('>' only last)"},
		{"subject empty token", func(c *Config) { c.Subject = "audit..x" }, "subject: must not have empty tokens"},
		{"subject > not last", func(c *Config) { c.Subject = "audit.>.x" }, "subject: wildcards must be whole tokens ('>' only last)"},
		{"dlq wildcard", func(c *Config) { c.DeadLetterSubject = "audit.*" }, "dead_letter_subject: must be a literal subject (no wildcards)"},
		{"dlq loops", func(c *Config) { c.DeadLetterSubject = "audit.records.invalid" }, `dead_letter_subject: must not match subject "audit.records.>" (invalid records would loop)`},
		{"dlq loops *", func(c *Config) { c.Subject, c.DeadLetterSubject = "audit.*", "audit.invalid" }, `dead_letter_subject: must not match subject "audit.*" (invalid records would loop)`},
		{"stream name", func(c *Config) { c.Stream = "AU.DIT" }, "stream: must be a non-empty name without spaces, '.', '*', '>', '/' or '\\'"},
		{"consumer name", func(c *Config) { c.Consumer = "" }, "consumer: must be a non-empty name without spaces, '.', '*', '>', '/' or '\\'"},
		{"core ignores names", func(c *Config) { c.Mode, c.Stream = ModeCore, "" }, ""},
		{"max_age", func(c *Config) { c.MaxAge = -time.Second }, "max_age: must be >= 0s (0s = unlimited)"},
		{"max_bytes", func(c *Config) { c.MaxBytes = -1 }, "max_bytes: must be >= 0 (0 = unlimited)"},
		{"dup window > max age", func(c *Config) { c.MaxAge = time.Minute }, "duplicate_window: must not exceed max_age (1m0s)"},
		{"unlimited age", func(c *Config) { c.MaxAge, c.MaxBytes = 0, 0 }, ""},
		{"ack_wait", func(c *Config) { c.AckWait = 10 * time.Millisecond }, "ack_wait: must be between 1s and 1h0m0s"},
		{"max_deliver", func(c *Config) { c.MaxDeliver = 0 }, "max_deliver: must be -1 (unlimited) or >= 1"},
		{"batch > max ack pending", func(c *Config) { c.MaxAckPending = 100 }, "batch_size: must not exceed max_ack_pending (100)"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch_size: must be between 1 and 10000"},
		{"nak_delay", func(c *Config) { c.NakDelay = 0 }, "nak_delay: must be between 100ms and 1h0m0s"},
		{"pending_limit", func(c *Config) { c.PendingLimit = 0 }, "pending_limit: must be between 1 and 10000000"},
		{"queue group", func(c *Config) { c.QueueGroup = "a b" }, "queue_group: must be a name without spaces"},
		{"replicas", func(c *Config) { c.Replicas = 0 }, "replicas: must be between 1 and 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			checkErrs(t, c.Validate().Err(), tt.want)
		})
	}
}

func checkErrs(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want %q", want)
	case want != "" && err.Error() != want:
		t.Errorf("error:\n %s\nwant\n %s", err, want)
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"audit.records.>", "audit.records.a", true},
		{"audit.records.>", "audit.records.a.b", true},
		{"audit.records.>", "audit.records", false},
		{"audit.records.>", "audit.invalid", false},
		{"audit.*", "audit.invalid", true},
		{"audit.*", "audit.invalid.x", false},
		{"*.invalid", "audit.invalid", true},
		{"audit.invalid", "audit.invalid", true},
		{"audit.invalid", "audit.invalid2", false},
		{">", "x", true},
	}
	for _, tt := range tests {
		if got := subjectMatches(tt.pattern, tt.subject); got != tt.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
	}
}

func TestURLs(t *testing.T) {
	c := NATSConfig{URL: " nats://a:4222 ,,nats://b:4222"}
	if got := strings.Join(c.URLs(), "|"); got != "nats://a:4222|nats://b:4222" {
		t.Errorf("URLs = %q", got)
	}
	if got := redactURLs([]string{"nats://u:secret@a:4222", "nats://b:1"}); got != "nats://REDACTED@a:4222,nats://b:1" {
		t.Errorf("redactURLs = %q", got)
	}
}

func TestHeaderValue(t *testing.T) {
	if got := headerValue("a\r\nb"); got != "a  b" {
		t.Errorf("headerValue = %q", got)
	}
	if got := headerValue(""); got != "invalid record" {
		t.Errorf("headerValue(\"\") = %q", got)
	}
	if got := headerValue(strings.Repeat("x", 600)); len(got) != 512 {
		t.Errorf("len = %d, want 512", len(got))
	}
}

func TestBackoff(t *testing.T) {
	f := backoff(time.Second, 30*time.Second, 0)
	for attempts, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 100: 30 * time.Second} {
		if got := f(attempts); got != want {
			t.Errorf("attempt %d: %s, want %s", attempts, got, want)
		}
	}
	j := backoff(time.Second, 30*time.Second, 500*time.Millisecond)
	for range 100 {
		if d := j(2); d < 2*time.Second || d >= 2500*time.Millisecond {
			t.Fatalf("jittered delay %s outside [2s, 2.5s)", d)
		}
	}
}
