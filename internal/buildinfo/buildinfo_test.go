package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestInfoForms(t *testing.T) {
	tests := []struct {
		in          Info
		short, long string
	}{
		{Info{Version: "1.2.0", Commit: "3f2a9c1d0e4b5a69788796a5b4c3d2e1f0a9b8c7", Time: "2026-03-23T14:30:00Z", GoVersion: "go1.26.0", Platform: "linux/amd64"},
			"1.2.0 (3f2a9c1d0e4b, go1.26.0)",
			"detector 1.2.0\ncommit:   3f2a9c1d0e4b5a69788796a5b4c3d2e1f0a9b8c7\ndate:     2026-03-23T14:30:00Z\ngo:       go1.26.0 linux/amd64\n"},
		{Info{Version: "0.1.0-dev", Commit: "abc", Modified: true, GoVersion: "go1.26.0", Platform: "darwin/arm64"},
			"0.1.0-dev (abc-dirty, go1.26.0)",
			"detector 0.1.0-dev\ncommit:   abc (modified)\ngo:       go1.26.0 darwin/arm64\n"},
		{Info{Version: "0.1.0-dev", Commit: "unknown", GoVersion: "go1.26.0", Platform: "linux/arm64"},
			"0.1.0-dev (go1.26.0)",
			"detector 0.1.0-dev\ncommit:   unknown\ngo:       go1.26.0 linux/arm64\n"},
	}
	for _, tt := range tests {
		if got := tt.in.Short(); got != tt.short {
			t.Errorf("Short() = %q, want %q", got, tt.short)
		}
		if got := tt.in.String(); got != tt.long {
			t.Errorf("String() = %q, want %q", got, tt.long)
		}
	}
}

func TestReadOverride(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	i := Read()
	if i.Version != Version || i.GoVersion != runtime.Version() || !strings.Contains(i.Platform, "/") || i.Commit == "" {
		t.Errorf("Read() = %+v", i)
	}
	Version, Commit = "9.9.9", "feedface"
	if i := Read(); i.Version != "9.9.9" || i.Commit != "feedface" {
		t.Errorf("ldflags values not used: %+v", i)
	}
}
