package otlp

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `otlp` section.
type Config struct {
	// Enabled starts the receiver (needs ingest.mode jetstream).
	Enabled bool `yaml:"enabled"`
	// HTTPListen serves OTLP/HTTP POST /v1/traces; "" disables it.
	HTTPListen string `yaml:"http_listen"`
	// GRPCListen serves OTLP/gRPC TraceService/Export; "" disables it.
	GRPCListen string `yaml:"grpc_listen"`
	// MaxRequestBytes bounds a request body as sent (compressed).
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxDecompressedBytes bounds a request after gzip decompression
	// (gzip bombs) and a gRPC message.
	MaxDecompressedBytes int `yaml:"max_decompressed_bytes"`
	// MaxConcurrentRequests bounds requests being processed at once; more
	// are answered 429 / RESOURCE_EXHAUSTED (the client retries).
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// PublishTimeout bounds the wait for JetStream's acks of one request;
	// past it the request is answered 503 / UNAVAILABLE.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// RetryAfter is sent with 429/503 (Retry-After, gRPC RetryInfo).
	RetryAfter time.Duration `yaml:"retry_after"`
	// SubjectPrefix: records go to <prefix>.<environment>.<agent_id>; it
	// must be covered by ingest.subject.
	SubjectPrefix string `yaml:"subject_prefix"`
	// DefaultEnvironment is the subject token for records without an
	// environment (the record itself keeps none).
	DefaultEnvironment string `yaml:"default_environment"`
	// ToolSpans selects the spans that are tool calls.
	ToolSpans ToolSpans `yaml:"tool_spans"`
	// Attributes names the span/resource attributes each record field is
	// read from (first present wins; span attributes before resource ones).
	Attributes Attributes `yaml:"attributes"`
	TLS        TLSConfig  `yaml:"tls"`
	Auth       AuthConfig `yaml:"auth"`
}

// ToolSpans is `otlp.tool_spans`.
type ToolSpans struct {
	// Operations: values of the attributes.operation attribute that mark a
	// tool call (GenAI semantic conventions: execute_tool).
	Operations []string `yaml:"operations"`
	// ByToolName: a span carrying any attributes.tool_name attribute is a
	// tool call.
	ByToolName bool `yaml:"by_tool_name"`
}

// Attributes is `otlp.attributes`: attribute names per record field.
type Attributes struct {
	Operation             []string `yaml:"operation"`
	ToolName              []string `yaml:"tool_name"`
	ToolVersion           []string `yaml:"tool_version"`
	ToolPublisher         []string `yaml:"tool_publisher"`
	ToolTrustLevel        []string `yaml:"tool_trust_level"`
	ToolVerificationScore []string `yaml:"tool_verification_score"`
	AgentID               []string `yaml:"agent_id"`
	TaskID                []string `yaml:"task_id"`
	UserID                []string `yaml:"user_id"`
	DataClassification    []string `yaml:"data_classification"`
	Environment           []string `yaml:"environment"`
	InputHash             []string `yaml:"input_hash"`
	OutputHash            []string `yaml:"output_hash"`
	Status                []string `yaml:"status"`
	ErrorType             []string `yaml:"error_type"`
	DurationMS            []string `yaml:"duration_ms"`
	PermissionsUsed       []string `yaml:"permissions_used"`
	PermissionsDenied     []string `yaml:"permissions_denied"`
	OutputBytes           []string `yaml:"output_bytes"`
	InputBytes            []string `yaml:"input_bytes"`
	InputShape            []string `yaml:"input_shape"`
	// Destinations and OutputDestinations carry hashed destinations
	// (package shape/dest: "type:<32 hex>"), never raw values.
	Destinations       []string `yaml:"destinations"`
	OutputDestinations []string `yaml:"output_destinations"`
}

// TLSConfig is `otlp.tls`: a server certificate for both listeners, and
// optionally a CA that client certificates must chain to (mutual TLS).
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether TLS is configured.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" }

// AuthConfig is `otlp.auth`: a bearer token clients must send
// (Authorization: Bearer <token>), read from a file or an environment
// variable, never written in the config.
type AuthConfig struct {
	BearerTokenFile string `yaml:"bearer_token_file"`
	BearerTokenEnv  string `yaml:"bearer_token_env"`
}

// Enabled reports whether a token is required.
func (c AuthConfig) Enabled() bool { return c.BearerTokenFile != "" || c.BearerTokenEnv != "" }

// DefaultConfig returns the documented defaults: off, loopback listeners on
// the OTLP ports.
func DefaultConfig() Config {
	return Config{
		HTTPListen:            "127.0.0.1:4318",
		GRPCListen:            "127.0.0.1:4317",
		MaxRequestBytes:       4 << 20,
		MaxDecompressedBytes:  16 << 20,
		MaxConcurrentRequests: 64,
		PublishTimeout:        5 * time.Second,
		RetryAfter:            5 * time.Second,
		SubjectPrefix:         "audit.records",
		DefaultEnvironment:    "unknown",
		ToolSpans:             ToolSpans{Operations: []string{"execute_tool"}, ByToolName: true},
		Attributes:            DefaultAttributes(),
	}
}

// DefaultAttributes returns the default attribute names: the audit-trail
// convention (tool.name, agent.id, ...) and the GenAI semantic conventions.
func DefaultAttributes() Attributes {
	return Attributes{
		Operation:             []string{"gen_ai.operation.name"},
		ToolName:              []string{"tool.name", "gen_ai.tool.name"},
		ToolVersion:           []string{"tool.version"},
		ToolPublisher:         []string{"tool.publisher"},
		ToolTrustLevel:        []string{"tool.trust_level"},
		ToolVerificationScore: []string{"tool.verification_score"},
		AgentID:               []string{"agent.id", "gen_ai.agent.id", "gen_ai.agent.name", "service.name"},
		TaskID:                []string{"task.id"},
		UserID:                []string{"user.id", "enduser.id"},
		DataClassification:    []string{"data.classification"},
		Environment:           []string{"deployment.environment.name", "deployment.environment"},
		InputHash:             []string{"input.hash"},
		OutputHash:            []string{"output.hash"},
		Status:                []string{"invocation.status"},
		ErrorType:             []string{"error.type"},
		DurationMS:            []string{"invocation.duration_ms"},
		PermissionsUsed:       []string{"permissions.used"},
		PermissionsDenied:     []string{"permissions.denied"},
		OutputBytes:           []string{"invocation.output_bytes"},
		InputBytes:            []string{"invocation.input_bytes"},
		InputShape:            []string{"invocation.input_shape"},
		Destinations:          []string{"toolwatch.destinations"},
		OutputDestinations:    []string{"toolwatch.output_destinations"},
	}
}

// Validate checks ranges and cross-field rules; paths are relative to
// `otlp`.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.Enabled && c.HTTPListen == "" && c.GRPCListen == "" {
		es.Addf("http_listen", "enabled, but http_listen and grpc_listen are both empty")
	}
	for _, l := range [...]struct{ key, addr string }{{"http_listen", c.HTTPListen}, {"grpc_listen", c.GRPCListen}} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil {
			es.Addf(l.key, "must be host:port, e.g. \"127.0.0.1:4318\", or \"\" to disable")
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			es.Addf(l.key, "port must be a number between 0 and 65535")
		}
	}
	if c.HTTPListen != "" && c.HTTPListen == c.GRPCListen && !strings.HasSuffix(c.HTTPListen, ":0") {
		es.Addf("grpc_listen", "must differ from http_listen")
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 256<<20 {
		es.Addf("max_request_bytes", "must be between 1024 and 268435456")
	}
	if c.MaxDecompressedBytes < c.MaxRequestBytes || c.MaxDecompressedBytes > 1<<30 {
		es.Addf("max_decompressed_bytes", "must be between max_request_bytes (%d) and 1073741824", c.MaxRequestBytes)
	}
	if c.MaxConcurrentRequests < 1 || c.MaxConcurrentRequests > 100000 {
		es.Addf("max_concurrent_requests", "must be between 1 and 100000")
	}
	es.DurationIn("publish_timeout", c.PublishTimeout, 100*time.Millisecond, 5*time.Minute)
	es.DurationIn("retry_after", c.RetryAfter, time.Second, time.Hour)
	if c.SubjectPrefix == "" || strings.ContainsAny(c.SubjectPrefix, " \t\r\n*>") ||
		strings.HasPrefix(c.SubjectPrefix, ".") || strings.HasSuffix(c.SubjectPrefix, ".") || strings.Contains(c.SubjectPrefix, "..") {
		es.Addf("subject_prefix", "must be a literal subject without wildcards or empty tokens")
	}
	if c.DefaultEnvironment == "" || strings.ContainsAny(c.DefaultEnvironment, " \t\r\n*>.") {
		es.Addf("default_environment", "must be one subject token (no spaces, '.', '*', '>')")
	}
	if len(c.ToolSpans.Operations) == 0 && !c.ToolSpans.ByToolName {
		es.Addf("tool_spans", "select tool spans by operations and/or by_tool_name")
	}
	if len(c.ToolSpans.Operations) > 0 && len(c.Attributes.Operation) == 0 {
		es.Addf("attributes.operation", "must name at least one attribute when tool_spans.operations is set")
	}
	for _, f := range c.Attributes.fields() {
		if f.required && len(*f.names) == 0 {
			es.Addf("attributes."+f.key, "must name at least one attribute")
		}
		for _, n := range *f.names {
			if strings.TrimSpace(n) == "" {
				es.Addf("attributes."+f.key, "attribute names must not be empty")
				break
			}
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		es.Addf("tls.cert_file", "cert_file and key_file must be set together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		es.Addf("tls.client_ca_file", "needs cert_file and key_file")
	}
	if c.Auth.BearerTokenFile != "" && c.Auth.BearerTokenEnv != "" {
		es.Addf("auth.bearer_token_env", "cannot be combined with bearer_token_file")
	}
	return es
}

type attrField struct {
	key      string
	names    *[]string
	required bool // the record field is required and has no other source
}

func (a *Attributes) fields() []attrField {
	return []attrField{
		{"operation", &a.Operation, false},
		{"tool_name", &a.ToolName, true},
		{"tool_version", &a.ToolVersion, false},
		{"tool_publisher", &a.ToolPublisher, false},
		{"tool_trust_level", &a.ToolTrustLevel, false},
		{"tool_verification_score", &a.ToolVerificationScore, false},
		{"agent_id", &a.AgentID, true},
		{"task_id", &a.TaskID, false},
		{"user_id", &a.UserID, false},
		{"data_classification", &a.DataClassification, false},
		{"environment", &a.Environment, false},
		{"input_hash", &a.InputHash, false},
		{"output_hash", &a.OutputHash, false},
		{"status", &a.Status, false},
		{"error_type", &a.ErrorType, false},
		{"duration_ms", &a.DurationMS, false},
		{"permissions_used", &a.PermissionsUsed, false},
		{"permissions_denied", &a.PermissionsDenied, false},
		{"output_bytes", &a.OutputBytes, false},
		{"input_bytes", &a.InputBytes, false},
		{"input_shape", &a.InputShape, false},
		{"destinations", &a.Destinations, false},
		{"output_destinations", &a.OutputDestinations, false},
	}
}

// SubjectCovered reports whether every subject prefix.<env>.<agent> the
// receiver publishes on matches the consumer's subject pattern.
func SubjectCovered(pattern, prefix string) bool {
	p := strings.Split(pattern, ".")
	s := append(strings.Split(prefix, "."), "x", "y")
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
