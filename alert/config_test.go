package alert

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the only error; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"info 0 critical 100", func(c *Config) { c.Bands = Bands{0, 50, 100} }, ""},
		{"cooldown 0", func(c *Config) { c.Cooldown = 0 }, ""},
		{"max_firing 0 unlimited", func(c *Config) { c.MaxFiring = 0 }, ""},
		{"info negative", func(c *Config) { c.Bands.Info = -1 }, "bands.info: must be between 0 and 100"},
		{"info NaN", func(c *Config) { c.Bands.Info = math.NaN() }, "bands.info"},
		{"warning = info", func(c *Config) { c.Bands.Warning = 40 }, "bands.warning: must be greater than bands.info (40)"},
		{"critical < warning", func(c *Config) { c.Bands.Critical = 59 }, "bands.critical: must be greater than bands.warning (60)"},
		{"critical > 100", func(c *Config) { c.Bands.Critical = 100.5 }, "bands.critical: must be <= 100"},
		{"info > 100", func(c *Config) { c.Bands = Bands{101, 102, 103} }, "bands.info"},
		{"cooldown negative", func(c *Config) { c.Cooldown = -time.Second }, "cooldown: must be between 0s and 24h"},
		{"cooldown too long", func(c *Config) { c.Cooldown = 25 * time.Hour }, "cooldown"},
		{"resolve_after 0", func(c *Config) { c.ResolveAfter = 0 }, "resolve_after: must be between 1s and 168h"},
		{"max_firing negative", func(c *Config) { c.MaxFiring = -1 }, "max_firing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			es := c.Validate()
			switch {
			case tt.want == "" && len(es) != 0:
				t.Errorf("unexpected errors: %v", es)
			case tt.want != "" && (len(es) != 1 || !strings.Contains(es[0].Error(), tt.want)):
				t.Errorf("errors %v, want one containing %q", es, tt.want)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := "bands: {info: 30, warning: 55, critical: 85}\ncooldown: 10m\nresolve_after: 1h\nmax_firing: 500\n"
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Bands: Bands{30, 55, 85}, Cooldown: 10 * time.Minute, ResolveAfter: time.Hour, MaxFiring: 500}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	dec = yaml.NewDecoder(bytes.NewReader([]byte("cooldwn: 10m\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Error("misspelled key accepted")
	}
}
