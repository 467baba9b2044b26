package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and returns either a config or an *Error
// whose every line names the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "../config.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("overrides:\n  - tool: a\n    detectors: &d {latency: {enabled: false}}\n  - agent: b\n    detectors: *d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f.yaml")
		if err == nil {
			if c == nil || len(c.Detectors.All()) == 0 || c.Detectors.All()[0].Params == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		if c != nil {
			t.Fatal("config returned with error")
		}
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %T %v is not a non-empty *Error", err, err)
		}
		for _, l := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(l, "f.yaml") {
				t.Fatalf("error line %q does not name the file", l)
			}
		}
	})
}

// BenchmarkParseShipped: loading is off the hot path; this only guards
// against the reflective walk becoming pathological.
func BenchmarkParseShipped(b *testing.B) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, _ = Parse(data, "config.yaml")
	}
}
