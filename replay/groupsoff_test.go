package replay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/tools/sim"
)

var updateGroupsOff = flag.Bool("update-groups-off", false, "rewrite testdata/groups-off.sha256")

// TestReplayGroupsOffUnchanged: with group off (the default), the alerts a
// replay writes are byte for byte those of the code before consumer
// groups shared tool sketches (issue 13: kvsketch): the golden digest was
// written by that code. A detector change that is meant to change alerts
// rewrites it with -update-groups-off.
func TestReplayGroupsOffUnchanged(t *testing.T) {
	cfg := config.Default()
	if cfg.Group.Enabled {
		t.Fatal("group is on by default")
	}
	in := simulated(t, sim.Config{Seed: 11, Duration: 48 * time.Hour, Scale: 0.5, WarmUp: 24 * time.Hour, Jitter: 3 * time.Second})
	var out bytes.Buffer
	sum, err := Run(context.Background(), bytes.NewReader(in), &out, Options{Config: cfg, Now: wall})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Firing == 0 {
		t.Fatalf("no alerts: the comparison would be vacuous (%+v)", sum)
	}
	d := sha256.Sum256(out.Bytes())
	got := hex.EncodeToString(d[:])
	path := filepath.Join("testdata", "groups-off.sha256")
	if *updateGroupsOff {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Fatalf("replay alerts (%d bytes, %d firing) digest %s, golden %s", out.Len(), sum.Firing, got, want)
	}
}
