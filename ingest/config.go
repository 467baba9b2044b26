package ingest

import (
	"net/url"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// NATSConfig is the `nats` section: how the daemon connects, or, with an
// empty URL, the embedded server it starts instead.
type NATSConfig struct {
	// URL is one server URL or a comma-separated list
	// ("nats://a:4222,nats://b:4222"); empty starts the embedded server.
	URL string `yaml:"url"`
	// Name is the connection name shown in the server's monitoring.
	Name string `yaml:"name"`
	// CredsFile is a JWT + nkey credentials file (decentralised auth).
	CredsFile string `yaml:"creds_file"`
	// NKeySeedFile is an nkey seed file.
	NKeySeedFile string `yaml:"nkey_seed_file"`
	// User with the password read from PasswordFile or PasswordEnv.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// Token read from TokenFile or TokenEnv.
	TokenFile string    `yaml:"token_file"`
	TokenEnv  string    `yaml:"token_env"`
	TLS       TLSConfig `yaml:"tls"`
	// Reconnects never stop: the delay starts at ReconnectWait, doubles up to
	// ReconnectMaxWait, plus a random jitter up to ReconnectJitter.
	ReconnectWait    time.Duration `yaml:"reconnect_wait"`
	ReconnectMaxWait time.Duration `yaml:"reconnect_max_wait"`
	ReconnectJitter  time.Duration `yaml:"reconnect_jitter"`
	// ConnectTimeout bounds one dial attempt.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Embedded is the server started when URL is empty.
	Embedded EmbeddedConfig `yaml:"embedded"`
}

// TLSConfig is `nats.tls`. CAFile alone verifies the server; CertFile and
// KeyFile add a client certificate (mutual TLS).
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether any TLS setting is present.
func (c TLSConfig) Enabled() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// EmbeddedConfig is `nats.embedded`: the in-process server (JetStream on)
// listening on 127.0.0.1.
type EmbeddedConfig struct {
	// Port on 127.0.0.1; 0 picks a free port.
	Port int `yaml:"port"`
	// StoreDir holds the JetStream file store.
	StoreDir string `yaml:"store_dir"`
}

// Mode selects how records are consumed.
const (
	ModeJetStream = "jetstream"
	ModeCore      = "core"
)

// Config is the `ingest` section.
type Config struct {
	// Mode: "jetstream" (durable pull consumer, at-least-once, deduplicated
	// by stream sequence) or "core" (plain subscription, at-most-once).
	Mode string `yaml:"mode"`
	// Subject records are published on (wildcards allowed).
	Subject string `yaml:"subject"`
	// DeadLetterSubject receives invalid records unchanged, with the reason
	// in the Toolwatch-Reason header. Must not match Subject.
	DeadLetterSubject string `yaml:"dead_letter_subject"`
	// Stream holds the records (jetstream mode).
	Stream string `yaml:"stream"`
	// CreateStream creates Stream over Subject if it does not exist; an
	// existing stream is used as it is.
	CreateStream bool `yaml:"create_stream"`
	// Limits of a created stream; 0 = unlimited. The oldest records are
	// discarded first.
	MaxAge          time.Duration `yaml:"max_age"`
	MaxBytes        int64         `yaml:"max_bytes"`
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	Replicas        int           `yaml:"replicas"`
	// Consumer is the durable pull consumer's name.
	Consumer string `yaml:"consumer"`
	// AckWait: a delivered record not acked within this is redelivered.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAckPending bounds records delivered but not yet acked
	// (backpressure).
	MaxAckPending int `yaml:"max_ack_pending"`
	// MaxDeliver bounds deliveries of one record; -1 = unlimited (the server
	// drops a record silently after MaxDeliver, so keep it unlimited unless
	// you watch the max-deliveries advisories).
	MaxDeliver int `yaml:"max_deliver"`
	// BatchSize is the number of records prefetched: pulled ahead of the
	// detector and buffered in the client (a new pull is issued when half
	// are used).
	BatchSize int `yaml:"batch_size"`
	// NakDelay: when the dead-letter publish fails, the record is
	// redelivered after this delay.
	NakDelay time.Duration `yaml:"nak_delay"`
	// QueueGroup (core mode) shares the subject among several daemons.
	QueueGroup string `yaml:"queue_group"`
	// PendingLimit (core mode) bounds records buffered in the client; beyond
	// it the client drops records and counts them (slow consumer).
	PendingLimit int `yaml:"pending_limit"`
}

// DefaultNATSConfig returns the documented defaults.
func DefaultNATSConfig() NATSConfig {
	return NATSConfig{
		Name:             "toolwatch-detector",
		ReconnectWait:    time.Second,
		ReconnectMaxWait: 30 * time.Second,
		ReconnectJitter:  time.Second,
		ConnectTimeout:   5 * time.Second,
		Embedded:         EmbeddedConfig{Port: 4222, StoreDir: "./data/nats"},
	}
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Mode:              ModeJetStream,
		Subject:           "audit.records.>",
		DeadLetterSubject: "audit.invalid",
		Stream:            "AUDIT",
		CreateStream:      true,
		MaxAge:            72 * time.Hour,
		MaxBytes:          10 << 30,
		DuplicateWindow:   2 * time.Minute,
		Replicas:          1,
		Consumer:          "toolwatch-detector",
		AckWait:           30 * time.Second,
		MaxAckPending:     1000,
		MaxDeliver:        -1,
		BatchSize:         256,
		NakDelay:          5 * time.Second,
		PendingLimit:      65536,
	}
}

// URLs splits URL into its comma-separated servers.
func (c *NATSConfig) URLs() []string {
	var out []string
	for _, u := range strings.Split(c.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Validate checks ranges and cross-field rules; paths are relative to `nats`.
func (c *NATSConfig) Validate() validate.Errors {
	var es validate.Errors
	if strings.TrimSpace(c.URL) != "" {
		urls := c.URLs()
		if len(urls) == 0 {
			es.Addf("url", "must list at least one server")
		}
		for _, u := range urls {
			if msg := checkNATSURL(u); msg != "" {
				es.Addf("url", "%q: %s", u, msg)
			}
		}
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		es.Addf("password_env", "cannot be combined with password_file")
	}
	hasPassword := c.PasswordFile != "" || c.PasswordEnv != ""
	if (c.User != "") != hasPassword {
		es.Addf("user", "user and password_file or password_env must be set together")
	}
	if c.TokenFile != "" && c.TokenEnv != "" {
		es.Addf("token_env", "cannot be combined with token_file")
	}
	hasToken := c.TokenFile != "" || c.TokenEnv != ""
	methods := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeySeedFile != "", c.User != "" || hasPassword, hasToken} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		es.Addf("creds_file", "use only one of creds_file, nkey_seed_file, user/password, token")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		es.Addf("tls.cert_file", "cert_file and key_file must be set together")
	}
	es.DurationIn("reconnect_wait", c.ReconnectWait, 10*time.Millisecond, time.Hour)
	es.DurationIn("reconnect_max_wait", c.ReconnectMaxWait, 10*time.Millisecond, time.Hour)
	if c.ReconnectMaxWait < c.ReconnectWait {
		es.Addf("reconnect_max_wait", "must be >= reconnect_wait (%s)", c.ReconnectWait)
	}
	es.DurationIn("reconnect_jitter", c.ReconnectJitter, 0, time.Hour)
	es.DurationIn("connect_timeout", c.ConnectTimeout, 100*time.Millisecond, 5*time.Minute)
	if c.Embedded.Port < 0 || c.Embedded.Port > 65535 {
		es.Addf("embedded.port", "must be between 0 and 65535")
	}
	if strings.TrimSpace(c.Embedded.StoreDir) == "" {
		es.Addf("embedded.store_dir", "must not be empty")
	}
	return es
}

func checkNATSURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return "scheme must be nats, tls, ws or wss"
	}
	if u.Hostname() == "" {
		return "missing host"
	}
	if u.User != nil {
		return "credentials in the URL are not allowed; use user + password_file/password_env or token_file/token_env"
	}
	return ""
}

// Validate checks ranges and cross-field rules; paths are relative to
// `ingest`.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	switch c.Mode {
	case ModeJetStream, ModeCore:
	default:
		es.Addf("mode", "must be jetstream or core")
	}
	if msg := checkSubject(c.Subject, true); msg != "" {
		es.Addf("subject", "%s", msg)
	}
	if msg := checkSubject(c.DeadLetterSubject, false); msg != "" {
		es.Addf("dead_letter_subject", "%s", msg)
	} else if checkSubject(c.Subject, true) == "" && subjectMatches(c.Subject, c.DeadLetterSubject) {
		es.Addf("dead_letter_subject", "must not match subject %q (invalid records would loop)", c.Subject)
	}
	if c.Mode == ModeJetStream {
		if !validName(c.Stream) {
			es.Addf("stream", "must be a non-empty name without spaces, '.', '*', '>', '/' or '\\'")
		}
		if !validName(c.Consumer) {
			es.Addf("consumer", "must be a non-empty name without spaces, '.', '*', '>', '/' or '\\'")
		}
	}
	if c.MaxAge < 0 {
		es.Addf("max_age", "must be >= 0s (0s = unlimited)")
	}
	if c.MaxBytes < 0 {
		es.Addf("max_bytes", "must be >= 0 (0 = unlimited)")
	}
	es.DurationIn("duplicate_window", c.DuplicateWindow, 0, 7*24*time.Hour)
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		es.Addf("duplicate_window", "must not exceed max_age (%s)", c.MaxAge)
	}
	intIn(&es, "replicas", c.Replicas, 1, 5)
	es.DurationIn("ack_wait", c.AckWait, time.Second, time.Hour)
	intIn(&es, "max_ack_pending", c.MaxAckPending, 1, 1_000_000)
	if c.MaxDeliver != -1 && c.MaxDeliver < 1 {
		es.Addf("max_deliver", "must be -1 (unlimited) or >= 1")
	}
	intIn(&es, "batch_size", c.BatchSize, 1, 10000)
	if c.BatchSize > c.MaxAckPending && c.MaxAckPending >= 1 {
		es.Addf("batch_size", "must not exceed max_ack_pending (%d)", c.MaxAckPending)
	}
	es.DurationIn("nak_delay", c.NakDelay, 100*time.Millisecond, time.Hour)
	if c.QueueGroup != "" && !validToken(c.QueueGroup) {
		es.Addf("queue_group", "must be a name without spaces")
	}
	intIn(&es, "pending_limit", c.PendingLimit, 1, 10_000_000)
	return es
}

func intIn(es *validate.Errors, path string, v, lo, hi int) {
	if v < lo || v > hi {
		es.Addf(path, "must be between %d and %d", lo, hi)
	}
}

func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n")
}

// validName is a JetStream stream or consumer name.
func validName(s string) bool {
	return validToken(s) && !strings.ContainsAny(s, ".*>/\\")
}

// checkSubject returns "" for a valid subject; wildcards ('*' as a whole
// token, '>' as the whole last token) only when wild.
func checkSubject(s string, wild bool) string {
	if s == "" {
		return "must not be empty"
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "must not contain whitespace"
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return "must not have empty tokens"
		case t == "*" || (t == ">" && i == len(toks)-1):
			if !wild {
				return "must be a literal subject (no wildcards)"
			}
		case strings.ContainsAny(t, "*>"):
			return "wildcards must be whole tokens ('>' only last)"
		}
	}
	return ""
}

// subjectMatches reports whether the literal subject matches pattern.
func subjectMatches(pattern, subject string) bool {
	p := strings.Split(pattern, ".")
	s := strings.Split(subject, ".")
	for i, t := range p {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}
