package main

import (
	"runtime/debug"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
)

func TestGCSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	const mib = 1 << 20
	tests := []struct {
		name    string
		b       baseline.Config
		env     map[string]string
		percent int
		limit   int64
		ok      bool
	}{
		{"default budget", baseline.Config{MemoryLimit: 512 * mib}, nil, 400, 768 * mib, true},
		{"small budget", baseline.Config{MemoryLimit: 16 * mib}, nil, 400, 272 * mib, true},
		{"GOGC set", baseline.Config{MemoryLimit: 512 * mib}, map[string]string{"GOGC": "100"}, 0, 0, false},
		{"GOMEMLIMIT set", baseline.Config{MemoryLimit: 512 * mib}, map[string]string{"GOMEMLIMIT": "2GiB"}, 0, 0, false},
		{"no budget", baseline.Config{}, nil, 0, 0, false},
		{"max_keys caps instead", baseline.Config{MemoryLimit: 512 * mib, MaxKeys: 1000000}, nil, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l, ok := gcSettings(tt.b, env(tt.env))
			if p != tt.percent || l != tt.limit || ok != tt.ok {
				t.Errorf("gcSettings = %d, %d, %v; want %d, %d, %v", p, l, ok, tt.percent, tt.limit, tt.ok)
			}
		})
	}
}

func TestTuneGCApplies(t *testing.T) {
	oldP := debug.SetGCPercent(100)
	oldL := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldP); debug.SetMemoryLimit(oldL) })
	if _, _, ok := tuneGC(baseline.Config{MemoryLimit: 64 << 20}, func(string) string { return "" }); !ok {
		t.Fatal("tuneGC left the defaults for a budgeted config")
	}
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("GC percent %d, want %d", got, daemonGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != (64<<20)+gcHeadroom {
		t.Errorf("memory limit %d, want %d", got, (64<<20)+gcHeadroom)
	}
	// An operator's GOGC wins: nothing is changed.
	debug.SetGCPercent(100)
	if _, _, ok := tuneGC(baseline.Config{MemoryLimit: 64 << 20}, func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}); ok {
		t.Fatal("tuneGC overrode GOGC")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after GOGC set, want 100 (unchanged)", got)
	}
}
