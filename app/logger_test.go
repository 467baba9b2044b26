package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/toolwatch/toolwatch/config"
)

// log.format auto writes JSON when the output is not a terminal (a pipe,
// a file, journald); console is readable text without colour codes there.
func TestLoggerFormats(t *testing.T) {
	for _, tt := range []struct {
		format string
		json   bool
	}{{"auto", true}, {"json", true}, {"console", false}} {
		var buf bytes.Buffer
		log := NewLogger(config.LogConfig{Level: "info", Format: tt.format}, &buf)
		log.Info().Str("tool", "customer-lookup").Msg("hello")
		line := buf.String()
		var m map[string]any
		isJSON := json.Unmarshal([]byte(line), &m) == nil
		if isJSON != tt.json {
			t.Errorf("format %s: JSON=%v, want %v: %q", tt.format, isJSON, tt.json, line)
		}
		if !tt.json && (!strings.Contains(line, "hello") || !strings.Contains(line, "tool=customer-lookup") || strings.Contains(line, "\x1b[")) {
			t.Errorf("format %s: %q, want plain console text", tt.format, line)
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}
