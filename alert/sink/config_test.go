package sink

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func decode(t *testing.T, data []byte) (Config, error) {
	t.Helper()
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if es := c.Validate(); len(es) != 0 {
		t.Fatalf("defaults invalid: %v", es)
	}
	if !c.Log.Enabled || !c.NATS.Enabled || c.Alertmanager.Enabled || c.Webhook.Enabled ||
		len(c.Alertmanager.URLs) != 0 || len(c.Webhook.URLs) != 0 {
		t.Errorf("defaults: want log+nats on, alertmanager+webhook off without urls: %+v", c)
	}
	if c.Alertmanager.ResendInterval != time.Minute || c.Alertmanager.ResolveRetention != 15*time.Minute {
		t.Errorf("alertmanager defaults %+v", c.Alertmanager)
	}
}

func TestConfigDecodeTestdata(t *testing.T) {
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decode(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if es := c.Validate(); len(es) != 0 {
		t.Fatalf("testdata invalid: %v", es)
	}
	am, wh := c.Alertmanager, c.Webhook
	if !am.Enabled || len(am.URLs) != 2 || am.Timeout != 5*time.Second || am.ResendInterval != 30*time.Second ||
		am.ResolveRetention != 10*time.Minute || am.QueueSize != 500 || am.BasicAuth.Username != "toolwatch" ||
		am.BasicAuth.PasswordFile != "/run/secrets/am-password" || am.GeneratorURL != "https://toolwatch.example/alerts" {
		t.Errorf("alertmanager decoded as %+v", am)
	}
	if !wh.Enabled || wh.SecretEnv != "TOOLWATCH_WEBHOOK_SECRET" || wh.MaxRetries != 2 || wh.QueueSize != 100 || wh.Timeout != 3*time.Second {
		t.Errorf("webhook decoded as %+v", wh)
	}
	if c.NATS.Enabled || c.NATS.SubjectPrefix != "team.alerts" || c.Log.Enabled {
		t.Errorf("nats/log decoded as %+v %+v", c.NATS, c.Log)
	}
}

func TestConfigUnknownKeyIsError(t *testing.T) {
	_, err := decode(t, []byte("alertmanager:\n  resend_intervall: 1m\n"))
	if err == nil || !strings.Contains(err.Error(), "resend_intervall") {
		t.Fatalf("typo accepted: %v", err)
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"am enabled without urls", "alertmanager: {enabled: true}", "alertmanager.urls: enabled requires at least one URL"},
		{"am bad scheme", "alertmanager: {urls: [ftp://x]}", "alertmanager.urls[0]: scheme must be http or https"},
		{"am no host", "alertmanager: {urls: ['http://']}", "alertmanager.urls[0]: missing host"},
		{"am not a url", "alertmanager: {urls: ['http://a b:x']}", "alertmanager.urls[0]: not a URL"},
		{"am inline credentials", "alertmanager: {urls: ['http://u:p@am:9093']}", "alertmanager.urls[0]: credentials must not be inline"},
		{"am duplicate", "alertmanager: {urls: [http://a, http://a]}", "alertmanager.urls[1]: duplicate URL"},
		{"am zero timeout", "alertmanager: {timeout: 0s}", "alertmanager.timeout: must be between 100ms and 5m0s"},
		{"am negative resend", "alertmanager: {resend_interval: -1m}", "alertmanager.resend_interval: must be between 1s and 1h0m0s"},
		{"am zero retention", "alertmanager: {resolve_retention: 0s}", "alertmanager.resolve_retention: must be between 1s and 24h0m0s"},
		{"am queue", "alertmanager: {queue_size: 0}", "alertmanager.queue_size: must be between 1 and 1000000"},
		{"am generator url", "alertmanager: {generator_url: 'toolwatch'}", "alertmanager.generator_url: scheme must be http or https"},
		{"am half basic auth", "alertmanager: {basic_auth: {username: u}}", "alertmanager.basic_auth: username and password_file must be set together"},
		{"am basic and bearer", "alertmanager: {basic_auth: {username: u, password_file: f}, bearer_token_file: t}", "alertmanager.bearer_token_file: cannot be combined with basic_auth"},
		{"webhook enabled without urls", "webhook: {enabled: true, secret_env: S}", "webhook.urls: enabled requires at least one URL"},
		{"webhook without secret", "webhook: {enabled: true, urls: ['https://h']}", "webhook: enabled requires secret_file or secret_env"},
		{"webhook two secrets", "webhook: {secret_file: f, secret_env: S}", "webhook.secret_env: set only one of secret_file and secret_env"},
		{"webhook retries", "webhook: {max_retries: -1}", "webhook.max_retries: must be between 0 and 100"},
		{"webhook timeout", "webhook: {timeout: 10m}", "webhook.timeout: must be between 100ms and 5m0s"},
		{"webhook queue", "webhook: {queue_size: -3}", "webhook.queue_size: must be between 1 and 1000000"},
		{"nats empty prefix", "nats: {subject_prefix: ''}", "nats.subject_prefix: must not be empty"},
		{"nats wildcard", "nats: {subject_prefix: 'audit.*'}", "nats.subject_prefix: must not contain wildcards or whitespace"},
		{"nats empty token", "nats: {subject_prefix: 'audit..alerts'}", "nats.subject_prefix: empty subject token"},
		{"nflog bucket", "notification_log: {bucket: 'a.b'}", "notification_log.bucket: must be 1..64 letters, digits, '-' or '_'"},
		{"nflog ttl", "notification_log: {ttl: 10s}", "notification_log.ttl: must be between 1m0s and 720h0m0s"},
		{"webhook gone retry", "webhook: {gone_retry_interval: 1s}", "webhook.gone_retry_interval: must be between 1m0s and 24h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decode(t, []byte(tc.yaml))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			es := c.Validate()
			if len(es) != 1 || !strings.HasPrefix(es[0].Error(), tc.want) {
				t.Fatalf("Validate() = %v, want exactly one error starting %q", es, tc.want)
			}
		})
	}
}

func FuzzConfigDecode(f *testing.F) {
	data, _ := os.ReadFile("testdata/config.yaml")
	f.Add(data)
	f.Add([]byte("webhook: {enabled: true, urls: ['https://h'], secret_file: /s}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decode(t, data)
		if err != nil {
			return
		}
		_ = c.Validate() // must not panic
	})
}

// The shipped config.yaml's sinks block lists exactly the defaults (the
// config package checks the whole file too; this keeps the block honest
// while other sections are in flux).
func TestShippedSinksBlockIsDefault(t *testing.T) {
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Skipf("no shipped config.yaml: %v", err)
	}
	var doc struct {
		Sinks yaml.Node `yaml:"sinks"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Sinks.Kind == 0 {
		t.Fatal("config.yaml has no sinks section")
	}
	out, err := yaml.Marshal(&doc.Sinks)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(t, out)
	if err != nil {
		t.Fatalf("sinks block: %v", err)
	}
	if got.Alertmanager.URLs != nil && len(got.Alertmanager.URLs) == 0 {
		got.Alertmanager.URLs = nil // "[]" means none, like an absent list
	}
	if got.Webhook.URLs != nil && len(got.Webhook.URLs) == 0 {
		got.Webhook.URLs = nil
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml sinks block\n %+v\nwant defaults\n %+v", got, want)
	}
	for _, key := range []string{"password_file", "bearer_token_file", "secret_file", "secret_env", "generator_url", "resolve_retention", "max_retries", "subject_prefix"} {
		if !bytes.Contains(out, []byte(key+":")) {
			t.Errorf("config.yaml sinks block does not document %s", key)
		}
	}
}
