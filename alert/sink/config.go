package sink

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `sinks` section. Secrets are never inline: they are read
// from the files or environment variables named here.
type Config struct {
	Alertmanager AlertmanagerConfig `yaml:"alertmanager"`
	Webhook      WebhookConfig      `yaml:"webhook"`
	NATS         NATSConfig         `yaml:"nats"`
	Log          LogConfig          `yaml:"log"`
	// NotificationLog is read at start only (a reload does not reopen it).
	NotificationLog NotificationLogConfig `yaml:"notification_log"`
}

// NotificationLogConfig is `sinks.notification_log`: the JetStream KV
// bucket remembering which alert ids each log, NATS and webhook target
// delivered, so records re-applied after a crash do not deliver them again
// (package nflog). Alertmanager needs none: it deduplicates by labels.
type NotificationLogConfig struct {
	Enabled bool   `yaml:"enabled"`
	Bucket  string `yaml:"bucket"`
	// TTL expires entries; it must outlive snapshot.interval plus the
	// longest expected downtime.
	TTL time.Duration `yaml:"ttl"`
}

// AlertmanagerConfig is `sinks.alertmanager`: POST /api/v2/alerts to every
// URL, each with its own queue.
type AlertmanagerConfig struct {
	Enabled bool `yaml:"enabled"`
	// URLs are Alertmanager base URLs (e.g. http://alertmanager:9093); the
	// sink appends /api/v2/alerts.
	URLs []string `yaml:"urls"`
	// Timeout bounds one POST.
	Timeout time.Duration `yaml:"timeout"`
	// ResendInterval: firing alerts are re-sent this often with
	// endsAt = now + 4×ResendInterval, so Alertmanager expires them if the
	// detector dies.
	ResendInterval time.Duration `yaml:"resend_interval"`
	// ResolveRetention: resolved alerts keep being re-sent this long.
	ResolveRetention time.Duration `yaml:"resolve_retention"`
	// QueueSize per URL, in alerts; a full queue drops the oldest.
	QueueSize int `yaml:"queue_size"`
	// GeneratorURL is the base of each alert's generatorURL (the alert's
	// fingerprint is appended as a query parameter); empty omits it.
	GeneratorURL string    `yaml:"generator_url"`
	BasicAuth    BasicAuth `yaml:"basic_auth"`
	// BearerTokenFile holds a bearer token (exclusive with basic_auth).
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// BasicAuth is HTTP basic auth with the password read from a file.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// WebhookConfig is `sinks.webhook`: one signed POST per alert (Standard
// Webhooks) to every URL, each with its own queue.
type WebhookConfig struct {
	Enabled bool     `yaml:"enabled"`
	URLs    []string `yaml:"urls"`
	// SecretFile / SecretEnv name where the signing secret is read from
	// (exactly one): `whsec_<base64>` or raw bytes.
	SecretFile string        `yaml:"secret_file"`
	SecretEnv  string        `yaml:"secret_env"`
	Timeout    time.Duration `yaml:"timeout"`
	// MaxRetries after the first attempt, on 5xx/429/network errors.
	MaxRetries int `yaml:"max_retries"`
	QueueSize  int `yaml:"queue_size"`
	// GoneRetryInterval: after a 410 Gone the URL's alerts are held in its
	// queue and the URL is tried again after this (or at any reload).
	GoneRetryInterval time.Duration `yaml:"gone_retry_interval"`
}

// NATSConfig is `sinks.nats`: publish each alert to
// <subject_prefix>.<pattern>.<severity>.
type NATSConfig struct {
	Enabled       bool   `yaml:"enabled"`
	SubjectPrefix string `yaml:"subject_prefix"`
}

// LogConfig is `sinks.log`: one structured log line per alert.
type LogConfig struct {
	Enabled bool `yaml:"enabled"`
}

// DefaultConfig returns the documented defaults: log and NATS on,
// Alertmanager and webhook off with no URLs.
func DefaultConfig() Config {
	return Config{
		Alertmanager: AlertmanagerConfig{
			Timeout:          10 * time.Second,
			ResendInterval:   time.Minute,
			ResolveRetention: 15 * time.Minute,
			QueueSize:        10000,
		},
		Webhook: WebhookConfig{
			Timeout:           10 * time.Second,
			MaxRetries:        5,
			QueueSize:         1000,
			GoneRetryInterval: time.Hour,
		},
		NATS:            NATSConfig{Enabled: true, SubjectPrefix: "audit.alerts"},
		Log:             LogConfig{Enabled: true},
		NotificationLog: NotificationLogConfig{Enabled: true, Bucket: "toolwatch-nflog", TTL: 24 * time.Hour},
	}
}

// Validate checks ranges and cross-field rules; paths are relative to
// `sinks`.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	am := &c.Alertmanager
	validateURLs(&es, "alertmanager.urls", am.URLs, am.Enabled)
	es.DurationIn("alertmanager.timeout", am.Timeout, 100*time.Millisecond, 5*time.Minute)
	es.DurationIn("alertmanager.resend_interval", am.ResendInterval, time.Second, time.Hour)
	es.DurationIn("alertmanager.resolve_retention", am.ResolveRetention, time.Second, 24*time.Hour)
	queueSize(&es, "alertmanager.queue_size", am.QueueSize)
	if am.GeneratorURL != "" {
		if msg := checkURL(am.GeneratorURL); msg != "" {
			es.Addf("alertmanager.generator_url", "%s", msg)
		}
	}
	if (am.BasicAuth.Username == "") != (am.BasicAuth.PasswordFile == "") {
		es.Addf("alertmanager.basic_auth", "username and password_file must be set together")
	}
	if am.BasicAuth.Username != "" && am.BearerTokenFile != "" {
		es.Addf("alertmanager.bearer_token_file", "cannot be combined with basic_auth")
	}

	wh := &c.Webhook
	validateURLs(&es, "webhook.urls", wh.URLs, wh.Enabled)
	es.DurationIn("webhook.timeout", wh.Timeout, 100*time.Millisecond, 5*time.Minute)
	if wh.MaxRetries < 0 || wh.MaxRetries > 100 {
		es.Addf("webhook.max_retries", "must be between 0 and 100")
	}
	queueSize(&es, "webhook.queue_size", wh.QueueSize)
	es.DurationIn("webhook.gone_retry_interval", wh.GoneRetryInterval, time.Minute, 24*time.Hour)
	switch {
	case wh.SecretFile != "" && wh.SecretEnv != "":
		es.Addf("webhook.secret_env", "set only one of secret_file and secret_env")
	case wh.Enabled && wh.SecretFile == "" && wh.SecretEnv == "":
		es.Addf("webhook", "enabled requires secret_file or secret_env")
	}

	if msg := checkSubjectPrefix(c.NATS.SubjectPrefix); msg != "" {
		es.Addf("nats.subject_prefix", "%s", msg)
	}
	nl := &c.NotificationLog
	if !validBucket(nl.Bucket) {
		es.Addf("notification_log.bucket", "must be 1..64 letters, digits, '-' or '_'")
	}
	es.DurationIn("notification_log.ttl", nl.TTL, time.Minute, 720*time.Hour)
	return es
}

func validateURLs(es *validate.Errors, path string, urls []string, enabled bool) {
	if enabled && len(urls) == 0 {
		es.Addf(path, "enabled requires at least one URL")
	}
	seen := make(map[string]bool, len(urls))
	for i, u := range urls {
		p := path + "[" + strconv.Itoa(i) + "]"
		if msg := checkURL(u); msg != "" {
			es.Addf(p, "%s", msg)
		} else if seen[u] {
			es.Addf(p, "duplicate URL %q", u)
		}
		seen[u] = true
	}
}

// checkURL accepts absolute http(s) URLs without inline credentials.
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "scheme must be http or https"
	case u.Host == "":
		return "missing host"
	case u.User != nil:
		return "credentials must not be inline; use basic_auth.password_file or bearer_token_file"
	}
	return ""
}

func checkSubjectPrefix(p string) string {
	if p == "" {
		return "must not be empty"
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return "empty subject token"
		}
		if strings.ContainsAny(tok, "*> \t\r\n") {
			return "must not contain wildcards or whitespace"
		}
	}
	return ""
}

func validBucket(b string) bool {
	if b == "" || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func queueSize(es *validate.Errors, path string, n int) {
	if n < 1 || n > 1_000_000 {
		es.Addf(path, "must be between 1 and 1000000")
	}
}
