package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A snapshot written before the explicit-record format (format 1, gob
// sections; snapshot/testdata holds one written by 81a1406) is refused
// with one clear line, the baselines are rebuilt by replaying the stream,
// and the next snapshot is written in the current format.
func TestGobEraSnapshotRebuildsByReplay(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ConfigPath: fastIdleConfig(t), DataDir: dir}
	snapPath := filepath.Join(dir, "toolwatch.snapshot")
	gob, err := os.ReadFile("../snapshot/testdata/format-v1-gob.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{snapPath, snapPath + ".prev"} {
		if err := os.WriteFile(p, gob, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r := startInProc(t, opts)
	p := newProducer(t, r.info.NATSURL)
	p.warmUp("a", "db-query", 20)
	waitApplied(t, r.info.HTTPAddr, 20)
	mt := metricsText(t, r.info.HTTPAddr)
	for _, want := range []string{
		`toolwatch_snapshot_load_failures_total{reason="version"} 1`,
		`toolwatch_snapshot_restored 0`,
	} {
		if !strings.Contains(mt, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	p.nc.Close()
	r.stop(t)
	logs := r.log.String()
	for _, want := range []string{
		"snapshot from an older toolwatch (gob sections) refused; the baselines are rebuilt by replaying the stream",
		"no usable snapshot: rebuilding baselines by replaying the stream",
	} {
		if strings.Count(logs, want) != 1 {
			t.Errorf("log line %q not logged once:\n%s", want, logs)
		}
	}
	s, err := readSnapshot(snapPath)
	if err != nil {
		t.Fatalf("snapshot after the rebuild: %v", err)
	}
	if s.LastAppliedSeq != 20 || len(s.Sections) < 7 {
		t.Fatalf("snapshot after the rebuild: seq %d, %d sections", s.LastAppliedSeq, len(s.Sections))
	}
}
