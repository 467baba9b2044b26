package loadbench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/app"
)

// A member's generated configuration loads and is a group member's of the
// right group, with sharing as asked.
func TestMemberConfigLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(memberConfig(2, 1, 12, 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(app.Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Group
	if !g.Enabled || g.Name != "bench-2" || g.Member != "m1" || g.Partitions != 12 || g.ShareInterval != 0 || cfg.Ingest.CreateStream {
		t.Fatalf("group config %+v, create_stream %v", g, cfg.Ingest.CreateStream)
	}
}

// --members needs member processes of the built-in configuration.
func TestMembersRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []Config{
		{Members: []int{1}},
		{Members: []int{1}, Daemon: &Process{Exe: "detector"}, ConfigPath: "config.yaml"},
		{Members: []int{13}, Daemon: &Process{Exe: "detector"}},
	} {
		if _, err := Run(ctx, c); err == nil || !strings.Contains(err.Error(), "--members") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
