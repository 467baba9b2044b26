package snapshot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

var quiet = zerolog.Nop()

func snap(seq uint64) *Snapshot {
	return &Snapshot{
		LastAppliedSeq: seq,
		Watermark:      time.Date(2026, 1, 1, 0, 0, int(seq), 0, time.UTC),
		CreatedAt:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Sections:       map[string][]byte{"engine": []byte{byte(seq)}},
	}
}

func newManager(st Store) (*Manager, *Metrics) {
	m := NewMetrics(nil)
	mg := NewManager(st, m, quiet, "test")
	mg.now = func() time.Time { return time.Unix(1700000000, 0) }
	return mg, m
}

func loadSeq(t *testing.T, mg *Manager) (uint64, string, []Problem) {
	t.Helper()
	s, src, probs, err := mg.Load(context.Background(), nil)
	if err != nil {
		t.Fatalf("Load: %v (problems %v)", err, probs)
	}
	return s.LastAppliedSeq, src, probs
}

func failures(m *Metrics, reason string) float64 {
	return testutil.ToFloat64(m.loadFailures.WithLabelValues(reason))
}

func TestFileStoreSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tw.snapshot")
	mg, m := newManager(&FileStore{Path: path})
	ctx := context.Background()

	if _, _, probs, err := mg.Load(ctx, nil); !errors.Is(err, ErrNoSnapshot) || len(probs) != 0 {
		t.Fatalf("empty store: err %v problems %v, want ErrNoSnapshot and none", err, probs)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := mg.Save(ctx, snap(seq)); err != nil {
			t.Fatalf("Save %d: %v", seq, err)
		}
	}
	seq, src, probs := loadSeq(t, mg)
	if seq != 3 || src != path || len(probs) != 0 {
		t.Errorf("Load: seq %d from %s (problems %v), want 3 from %s", seq, src, probs, path)
	}
	prev, err := os.ReadFile(path + ".prev")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Decode(prev); err != nil || s.LastAppliedSeq != 2 {
		t.Errorf(".prev: %v, %v; want seq 2", s, err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".tmp left behind: %v", err)
	}
	if got := testutil.ToFloat64(m.saves); got != 3 {
		t.Errorf("saves = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.lastSuccess); got != 1700000000 {
		t.Errorf("last success = %v", got)
	}
	if got := testutil.ToFloat64(m.restored); got != 1 {
		t.Errorf("restored = %v, want 1", got)
	}
}

// A corrupt or truncated current snapshot: Load reports it and falls back
// to the previous one; both bad: ErrNoSnapshot with two problems.
func TestFileStoreFallback(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		corrupt func(b []byte) []byte
		reason  string
	}{
		"flipped byte": {func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, "checksum"},
		"truncated":    {func(b []byte) []byte { return b[:len(b)-5] }, "truncated"},
		"empty":        {func(b []byte) []byte { return nil }, "truncated"},
		"garbage":      {func(b []byte) []byte { return []byte("garbage garbage garbage") }, "magic"},
		"future":       {func(b []byte) []byte { b[7] = 9; return b }, "version"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tw.snapshot")
			mg, m := newManager(&FileStore{Path: path})
			for seq := uint64(1); seq <= 2; seq++ {
				if err := mg.Save(ctx, snap(seq)); err != nil {
					t.Fatal(err)
				}
			}
			corruptFile(t, path, tc.corrupt)
			seq, src, probs := loadSeq(t, mg)
			if seq != 1 || src != path+".prev" {
				t.Errorf("loaded seq %d from %s, want 1 from .prev", seq, src)
			}
			if len(probs) != 1 || probs[0].Source != path || probs[0].Reason != tc.reason {
				t.Errorf("problems %+v, want one %s problem for %s", probs, tc.reason, path)
			}
			if got := failures(m, tc.reason); got != 1 {
				t.Errorf("load failures{%s} = %v, want 1", tc.reason, got)
			}

			corruptFile(t, path+".prev", tc.corrupt)
			_, _, probs, err := mg.Load(ctx, nil)
			if !errors.Is(err, ErrNoSnapshot) || len(probs) != 2 {
				t.Errorf("both corrupt: err %v, problems %v; want ErrNoSnapshot and 2", err, probs)
			}
			if got := testutil.ToFloat64(m.restored); got != 0 {
				t.Errorf("restored = %v, want 0", got)
			}
		})
	}
}

func corruptFile(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Crashes at each step of Save leave the newest complete snapshot loadable.
func TestFileStoreCrashBetweenSteps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tw.snapshot")
	mg, _ := newManager(&FileStore{Path: path})
	if err := mg.Save(ctx, snap(1)); err != nil {
		t.Fatal(err)
	}
	if err := mg.Save(ctx, snap(2)); err != nil {
		t.Fatal(err)
	}
	two, _ := os.ReadFile(path)
	three, _ := Encode(snap(3))

	// Crash while writing the tmp file: a partial .tmp is ignored.
	if err := os.WriteFile(path+".tmp", three[:len(three)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if seq, _, probs := loadSeq(t, mg); seq != 2 || len(probs) != 0 {
		t.Errorf("leftover .tmp: seq %d problems %v, want 2 and none", seq, probs)
	}
	// Crash between the renames: only .prev (seq 2) and a complete .tmp.
	if err := os.WriteFile(path+".tmp", three, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".prev"); err != nil {
		t.Fatal(err)
	}
	if seq, src, probs := loadSeq(t, mg); seq != 2 || src != path+".prev" || len(probs) != 0 {
		t.Errorf("between renames: seq %d from %s problems %v, want 2 from .prev", seq, src, probs)
	}
	// The next Save recovers: the leftover tmp is overwritten and the
	// missing current file is not an error.
	if err := mg.Save(ctx, snap(4)); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := loadSeq(t, mg); seq != 4 {
		t.Errorf("after recovery save: seq %d, want 4", seq)
	}
	if b, _ := os.ReadFile(path + ".prev"); !bytes.Equal(b, two) {
		t.Error(".prev after a save over a missing current file is not seq 2's snapshot")
	}
}

// An unreadable file is an io problem, and the previous copy is used.
func TestFileStoreUnreadable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tw.snapshot")
	mg, m := newManager(&FileStore{Path: path})
	if err := mg.Save(ctx, snap(1)); err != nil {
		t.Fatal(err)
	}
	if err := mg.Save(ctx, snap(2)); err != nil {
		t.Fatal(err)
	}
	// A directory in place of the current file cannot be read.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if seq, _, probs := loadSeq(t, mg); seq != 1 || len(probs) != 1 || probs[0].Reason != "io" {
		t.Errorf("seq %d problems %+v, want 1 with one io problem", seq, probs)
	}
	if got := failures(m, "io"); got != 1 {
		t.Errorf("load failures{io} = %v", got)
	}
	// Save fails: the directory cannot be renamed over the .prev file. It
	// is counted and the previous snapshot stays loadable.
	if err := mg.Save(ctx, snap(3)); err == nil {
		t.Error("Save with a directory at the current path succeeded")
	}
	if got := testutil.ToFloat64(m.saveFailures); got != 1 {
		t.Errorf("save failures = %v, want 1", got)
	}
	if seq, _, _ := loadSeq(t, mg); seq != 1 {
		t.Errorf("after a failed save: seq %d, want 1", seq)
	}
}

// apply rejecting the newest snapshot falls back to the previous one.
func TestLoadApplyRejects(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tw.snapshot")
	mg, m := newManager(&FileStore{Path: path})
	for seq := uint64(1); seq <= 2; seq++ {
		if err := mg.Save(ctx, snap(seq)); err != nil {
			t.Fatal(err)
		}
	}
	var applied []uint64
	s, _, probs, err := mg.Load(ctx, func(s *Snapshot, _ []*Delta) error {
		applied = append(applied, s.LastAppliedSeq)
		if s.LastAppliedSeq == 2 {
			return errors.New("detector/latency: unknown state version")
		}
		return nil
	})
	if err != nil || s.LastAppliedSeq != 1 || len(probs) != 1 || probs[0].Reason != "state" {
		t.Fatalf("Load: %v, %+v, %v", s, probs, err)
	}
	if len(applied) != 2 {
		t.Errorf("apply calls %v, want [2 1]", applied)
	}
	if got := failures(m, "state"); got != 1 {
		t.Errorf("load failures{state} = %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	d := DefaultConfig()
	if es := d.Validate(); len(es) != 0 {
		t.Fatalf("defaults invalid: %v", es)
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		path string
	}{
		"store":        {func(c *Config) { c.Store = "kv" }, "store"},
		"empty path":   {func(c *Config) { c.Path = " " }, "path"},
		"bucket":       {func(c *Config) { c.Bucket = "a.b" }, "bucket"},
		"interval":     {func(c *Config) { c.Interval = time.Second }, "interval"},
		"interval big": {func(c *Config) { c.Interval = 48 * time.Hour }, "interval"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		es := c.Validate()
		if len(es) != 1 || es[0].Path != tc.path {
			t.Errorf("%s: errors %v, want one at %s", name, es, tc.path)
		}
	}
	c := DefaultConfig()
	c.Store, c.Path = StoreNATS, ""
	if es := c.Validate(); len(es) != 0 {
		t.Errorf("nats store without path: %v", es)
	}
}

// Snapshots written before the explicit-record format (format 1, gob
// sections) are refused with one log line; the older copy is not tried
// (it is older still) and the caller rebuilds by replay.
func TestGobEraSnapshotRefused(t *testing.T) {
	gob, err := os.ReadFile("testdata/format-v1-gob.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tw.snapshot")
	for _, p := range []string{path, path + ".prev"} {
		if err := os.WriteFile(p, gob, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	m := NewMetrics(nil)
	mg := NewManager(&FileStore{Path: path}, m, zerolog.New(&logs), "test")
	applied := false
	_, _, probs, err := mg.Load(context.Background(), func(*Snapshot, []*Delta) error { applied = true; return nil })
	if !errors.Is(err, ErrNoSnapshot) || applied {
		t.Fatalf("err %v, applied %v; want ErrNoSnapshot and nothing applied", err, applied)
	}
	if len(probs) != 1 || probs[0].Reason != "version" || !errors.Is(probs[0].Err, ErrFormatV1) {
		t.Fatalf("problems %+v, want one format-1 version problem", probs)
	}
	if got := failures(m, "version"); got != 1 {
		t.Errorf("load failures{version} = %v, want 1", got)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	warns := 0
	for _, l := range lines {
		if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) {
			warns++
			if !strings.Contains(l, "older toolwatch (gob sections) refused") || !strings.Contains(l, "rebuilt by replaying the stream") {
				t.Errorf("unclear line: %s", l)
			}
		}
	}
	if warns != 1 {
		t.Errorf("%d warning lines, want 1:\n%s", warns, logs.String())
	}
}
