// Package config loads config.yaml (docs/design.md §8): every section starts from
// its owner's DefaultX(), the file is decoded on top (a key not in the file
// keeps its default), and each section's Validate() runs. Problems are
// reported all at once, each naming the file, line and full key path:
//
//	config.yaml:12: detectors.latency.quantil: unknown key (did you mean "quantile"?)
//	config.yaml:14: detectors.latency.min_samples: must be >= 10
//
// The decoder walks the YAML node tree against the section structs by
// reflection (yaml tags), so owners add knobs to their own structs and
// nothing here changes. The `detectors:` section and alerts.runbook_urls
// take their keys from a detector registry (detect/registry.Default, or
// the one given to ParseWith): each registered detector's section is
// decoded by its own yaml tags. Per-tool / per-agent overrides are
// resolved at load into each detector's detect.Params: each rule holds a
// full config (the base with the override's keys decoded on top),
// validated like the base.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/group"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/ingest/otlp"
	"github.com/toolwatch/toolwatch/internal/validate"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape/dest"
	"github.com/toolwatch/toolwatch/snapshot"
)

// Config is the whole config.yaml.
type Config struct {
	NATS      ingest.NATSConfig `yaml:"nats"`
	Ingest    ingest.Config     `yaml:"ingest"`
	OTLP      otlp.Config       `yaml:"otlp"`
	Time      detect.TimeConfig `yaml:"time"`
	Limits    record.Limits     `yaml:"limits"`
	Baseline  baseline.Config   `yaml:"baseline"`
	Snapshot  snapshot.Config   `yaml:"snapshot"`
	Group     group.Config      `yaml:"group"`
	Detectors Detectors         `yaml:"detectors"`
	Overrides []Override        `yaml:"overrides"`
	Alerts    alert.Config      `yaml:"alerts"`
	Sinks     sink.Config       `yaml:"sinks"`
	// Destinations is read by Go runtimes using shape/dest and by
	// `detector shape`; the daemon only validates it.
	Destinations dest.Config   `yaml:"destinations"`
	Metrics      MetricsConfig `yaml:"metrics"`
	Log          LogConfig     `yaml:"log"`
}

// Override is one `overrides` entry: detector settings for the keys whose
// tool and agent match the globs (path.Match syntax; empty matches all).
// Detectors holds the raw `detectors:` block; its keys are applied onto a
// copy of the top-level detector config when the params are built.
type Override struct {
	Tool      string    `yaml:"tool"`
	Agent     string    `yaml:"agent"`
	Detectors yaml.Node `yaml:"detectors"`
}

// MetricsConfig is the `metrics` section: the Prometheus endpoint.
type MetricsConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	Path    string `yaml:"path"`
	// MaxToolLabels caps the distinct tool names with their own metric
	// label; later ones are counted as tool="other".
	MaxToolLabels int `yaml:"max_tool_labels"`
	// WebConfigFile is a Prometheus exporter-toolkit web configuration
	// (TLS, basic_auth_users, headers) applied to every endpoint; "" serves
	// plain HTTP without authentication.
	WebConfigFile string `yaml:"web_config_file"`
	// EnableLifecycle serves POST /-/reload (off by default, as
	// Prometheus's --web.enable-lifecycle).
	EnableLifecycle bool `yaml:"enable_lifecycle"`
}

// DefaultMetricsConfig returns the documented defaults.
func DefaultMetricsConfig() MetricsConfig {
	return MetricsConfig{Enabled: true, Listen: "127.0.0.1:9464", Path: "/metrics", MaxToolLabels: 50}
}

// Validate checks the listen address and path.
func (c *MetricsConfig) Validate() validate.Errors {
	var es validate.Errors
	if !c.Enabled {
		return es
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		es.Addf("listen", "must be host:port, e.g. \"127.0.0.1:9464\"")
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		es.Addf("listen", "port must be a number between 0 and 65535")
	}
	if len(c.Path) == 0 || c.Path[0] != '/' {
		es.Addf("path", "must start with \"/\"")
	}
	if c.MaxToolLabels < 1 || c.MaxToolLabels > 10000 {
		es.Addf("max_tool_labels", "must be between 1 and 10000")
	}
	return es
}

// LogConfig is the `log` section.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, else json), json, console
}

// DefaultLogConfig returns the documented defaults.
func DefaultLogConfig() LogConfig { return LogConfig{Level: "info", Format: "auto"} }

// Validate checks the enumerations.
func (c *LogConfig) Validate() validate.Errors {
	var es validate.Errors
	switch c.Level {
	case "debug", "info", "warn", "error":
	default:
		es.Addf("level", "must be one of debug, info, warn, error")
	}
	switch c.Format {
	case "auto", "json", "console":
	default:
		es.Addf("format", "must be auto, json or console")
	}
	return es
}

// Default returns the built-in configuration with the shipped detectors
// (detect/registry.Default); the shipped config.yaml spells out exactly
// these values.
func Default() *Config { return DefaultWith(registry.Default) }

// DefaultWith returns the built-in configuration with the detectors of reg:
// each one's default section, and an empty runbook link per pattern.
func DefaultWith(reg *detect.Registry) *Config {
	c := &Config{
		NATS:         ingest.DefaultNATSConfig(),
		Ingest:       ingest.DefaultConfig(),
		OTLP:         otlp.DefaultConfig(),
		Time:         detect.DefaultTimeConfig(),
		Limits:       record.DefaultLimits(),
		Baseline:     baseline.DefaultConfig(),
		Snapshot:     snapshot.DefaultConfig(),
		Group:        group.DefaultConfig(),
		Detectors:    newDetectors(reg),
		Alerts:       alert.DefaultConfig(),
		Sinks:        sink.DefaultConfig(),
		Destinations: dest.DefaultDestinations(),
		Metrics:      DefaultMetricsConfig(),
		Log:          DefaultLogConfig(),
	}
	c.Alerts.RunbookURLs = make(alert.RunbookURLs, len(reg.Factories()))
	for _, p := range reg.Patterns() {
		c.Alerts.RunbookURLs[p] = ""
	}
	buildParams(newDecoder(), c)
	return c
}

// Registry is the detector table of c.
func (c *Config) Registry() *detect.Registry { return c.Detectors.Registry() }

// Load reads and parses the file at path. Problems in the file's content
// are returned as *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Check loads path for `detector check-config`: nil, or every problem, one
// per line.
func Check(path string) error {
	_, err := Load(path)
	return err
}

// maxProblems caps the problems listed, so a garbage file gives a readable
// error rather than megabytes of it.
const maxProblems = 100

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes data (named filename in errors) on top of Default(),
// validates every section and builds the detectors' params. On any problem
// it returns a *Error listing all of them and a nil Config.
func Parse(data []byte, filename string) (*Config, error) {
	return ParseWith(registry.Default, data, filename)
}

// ParseWith is Parse with the detectors of reg instead of the shipped ones.
func ParseWith(reg *detect.Registry, data []byte, filename string) (*Config, error) {
	c := DefaultWith(reg)
	d := newDecoder()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(filename, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(filename, err)
	default:
		return nil, &Error{File: filename, Problems: []Problem{{Line: extra.Line, Msg: "only one YAML document is allowed"}}}
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode && !isNull(root) {
			d.addf(root.Line, "", "expected a mapping of sections at the top level, got %s", kindName(root))
		} else {
			d.decode(root, reflect.ValueOf(c).Elem(), "", root.Line)
		}
	}
	d.checkRunbooks(c)
	d.addValidation("", c.Validate())
	d.checkOverrides(c)
	buildParams(d, c)
	if len(d.probs) > 0 {
		sortProblems(d.probs)
		if n := len(d.probs) - maxProblems; n > 0 {
			d.probs = append(d.probs[:maxProblems], Problem{Msg: fmt.Sprintf("... and %d more problems", n)})
		}
		return nil, &Error{File: filename, Problems: d.probs}
	}
	return c, nil
}

// syntaxError turns yaml's "yaml: line N: msg" into a one-problem *Error.
func syntaxError(filename string, err error) *Error {
	msg, line := err.Error(), 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = yamlErrMsg(err)
	}
	return &Error{File: filename, Problems: []Problem{{Line: line, Msg: "syntax error: " + msg}}}
}

type validator interface{ Validate() validate.Errors }

// Validate runs every section's Validate (detectors one by one) and returns
// the problems with full key paths. Override rules are validated by Parse.
func (c *Config) Validate() validate.Errors {
	return validateTree(reflect.ValueOf(c).Elem(), "")
}

func validateTree(v reflect.Value, prefix string) validate.Errors {
	if val, ok := v.Addr().Interface().(validator); ok && prefix != "" {
		var out validate.Errors
		for _, e := range val.Validate() {
			out = append(out, validate.FieldError{Path: joinPath(prefix, e.Path), Msg: e.Msg})
		}
		return out
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out validate.Errors
	for _, f := range structFields(v.Type()) {
		out = append(out, validateTree(v.FieldByIndex(f.index), joinPath(prefix, f.key))...)
	}
	return out
}

// checkOverrides checks each override's globs and that its detectors block
// names only known detectors.
func (d *decoder) checkOverrides(c *Config) {
	known := c.Registry().Patterns()
	for i := range c.Overrides {
		o := &c.Overrides[i]
		p := "overrides[" + strconv.Itoa(i) + "]"
		if o.Tool == "" && o.Agent == "" {
			d.addf(d.lineOf(p), p, "must set tool and/or agent")
		}
		for _, g := range [...]struct{ key, glob string }{{"tool", o.Tool}, {"agent", o.Agent}} {
			if _, err := path.Match(g.glob, ""); err != nil {
				gp := p + "." + g.key
				d.addf(d.lineOf(gp), gp, "bad glob %q: %v", g.glob, err)
			}
		}
		dp := p + ".detectors"
		n := &o.Detectors
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind == 0 || isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0) {
			d.addf(d.lineOf(dp), dp, "must name at least one detector")
			continue
		}
		for _, kv := range d.pairs(n, detectorsType, dp, d.lineOf(dp)) {
			if !slices.Contains(known, kv[0].Value) {
				d.unknownKey(kv[0].Line, joinPath(dp, kv[0].Value), kv[0].Value, known)
			}
		}
	}
}

// checkRunbooks reports alerts.runbook_urls keys that name no detector
// and drops them, so Validate does not judge their templates too.
func (d *decoder) checkRunbooks(c *Config) {
	known := c.Registry().Patterns()
	for _, k := range slices.Sorted(maps.Keys(c.Alerts.RunbookURLs)) {
		if !slices.Contains(known, k) {
			p := "alerts.runbook_urls." + k
			d.unknownKey(d.lineOf(p), p, k, known)
			delete(c.Alerts.RunbookURLs, k)
		}
	}
}

// overrideNode returns the node of detector key in o's detectors block.
func (o *Override) overrideNode(key string) (k, v *yaml.Node) {
	n := &o.Detectors
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1] // first wins; duplicates were reported
		}
	}
	return nil, nil
}
