package otlp

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // substring of the problems; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"enabled defaults", func(c *Config) { c.Enabled = true }, ""},
		{"both listeners off", func(c *Config) { c.Enabled = true; c.HTTPListen, c.GRPCListen = "", "" }, "http_listen: enabled, but"},
		{"one listener off", func(c *Config) { c.Enabled = true; c.GRPCListen = "" }, ""},
		{"bad listen", func(c *Config) { c.HTTPListen = "4318" }, "http_listen: must be host:port"},
		{"bad port", func(c *Config) { c.GRPCListen = "127.0.0.1:99999" }, "grpc_listen: port must be"},
		{"same address", func(c *Config) { c.GRPCListen = c.HTTPListen }, "grpc_listen: must differ"},
		{"tiny body limit", func(c *Config) { c.MaxRequestBytes = 10 }, "max_request_bytes"},
		{"decompressed below compressed", func(c *Config) { c.MaxDecompressedBytes = c.MaxRequestBytes - 1 }, "max_decompressed_bytes"},
		{"no concurrency", func(c *Config) { c.MaxConcurrentRequests = 0 }, "max_concurrent_requests"},
		{"publish timeout", func(c *Config) { c.PublishTimeout = time.Millisecond }, "publish_timeout"},
		{"retry after", func(c *Config) { c.RetryAfter = 0 }, "retry_after"},
		{"wildcard prefix", func(c *Config) { c.SubjectPrefix = "audit.>" }, "subject_prefix"},
		{"empty token in prefix", func(c *Config) { c.SubjectPrefix = "audit..records" }, "subject_prefix"},
		{"dotted default env", func(c *Config) { c.DefaultEnvironment = "a.b" }, "default_environment"},
		{"no tool span rule", func(c *Config) { c.ToolSpans = ToolSpans{} }, "tool_spans"},
		{"operations without attribute", func(c *Config) { c.Attributes.Operation = nil }, "attributes.operation"},
		{"no tool name attribute", func(c *Config) { c.Attributes.ToolName = nil }, "attributes.tool_name"},
		{"no agent attribute", func(c *Config) { c.Attributes.AgentID = []string{} }, "attributes.agent_id"},
		{"empty attribute name", func(c *Config) { c.Attributes.TaskID = []string{" "} }, "attributes.task_id: attribute names must not be empty"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls.cert_file"},
		{"client CA without cert", func(c *Config) { c.TLS.ClientCAFile = "ca.pem" }, "tls.client_ca_file"},
		{"token file and env", func(c *Config) { c.Auth.BearerTokenFile, c.Auth.BearerTokenEnv = "f", "E" }, "auth.bearer_token_env"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			es := c.Validate()
			got := ""
			for _, e := range es {
				got += e.Path + ": " + e.Msg + "\n"
			}
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSubjectCovered(t *testing.T) {
	for _, tc := range []struct {
		pattern, prefix string
		want            bool
	}{
		{"audit.records.>", "audit.records", true},
		{"audit.records.*.*", "audit.records", true},
		{"audit.>", "audit.records", true},
		{">", "x", true},
		{"audit.records.>", "audit.otel", false},
		{"audit.records.*", "audit.records", false},
		{"audit.records.production.>", "audit.records", false},
		{"audit.records.*.*.*", "audit.records", false},
	} {
		if got := SubjectCovered(tc.pattern, tc.prefix); got != tc.want {
			t.Errorf("SubjectCovered(%q, %q) = %v, want %v", tc.pattern, tc.prefix, got, tc.want)
		}
	}
}
