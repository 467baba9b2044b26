package app

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/snapshot"
)

// alertIDs collects the ids of the alerts published on NATS.
type alertIDs struct {
	mu  sync.Mutex
	ids map[string]string // id -> trace id
}

func subscribeAlertIDs(t *testing.T, url string) *alertIDs {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a := &alertIDs{ids: map[string]string{}}
	if _, err := nc.Subscribe("audit.alerts.>", func(m *nats.Msg) {
		var al alert.Alert
		if err := json.Unmarshal(m.Data, &al); err != nil {
			t.Errorf("alert %q: %v", m.Data, err)
			return
		}
		a.mu.Lock()
		a.ids[al.ID] = al.TraceID
		a.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *alertIDs) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.ids))
	for k, v := range a.ids {
		out[k] = v
	}
	return out
}

// Incremental snapshots at the daemon level. Run 1 writes a base and
// several deltas while records arrive in batches (slow calls among them);
// one delta in the middle of the chain is then corrupted. Run 2 restores
// the base and the deltas before the corrupt one, resumes right after
// that link's sequence and re-applies the rest from the stream: the
// re-applied slow calls raise the alert ids run 1 raised, which the
// notification log keeps from being delivered again, and no other alert
// appears. Run 3, a clean restart after run 2's own chain, re-applies
// nothing.
func TestCorruptDeltaResumesFromLastGoodLink(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(`time:
  idle_advance: 300ms # event time follows the wall clock between batches: ticks, so periodic snapshots
snapshot:
  interval: 5s
  full_every: 100
  max_delta_ratio: 10 # this test's state is small: keep one chain
`), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{ConfigPath: cfgPath, DataDir: dir}
	snapPath := filepath.Join(dir, "toolwatch.snapshot")

	r := startInProc(t, opts)
	run1 := subscribeAlertIDs(t, r.info.NATSURL)
	p := newProducer(t, r.info.NATSURL)
	const batch, batches = 100, 5
	total := uint64(0)
	for b := range batches {
		// 25 s of calls ending 25 s ago: event time follows the wall
		// clock (now - allowed_lateness 30 s) 5 s later, and the next
		// batch is within the allowed lateness of it.
		start := time.Now().Add(-50 * time.Second)
		for i := range batch {
			ts := start.Add(time.Duration(i) * 250 * time.Millisecond)
			agent, ms := "a", 150*math.Exp(0.3*p.rng.NormFloat64())
			if b >= 3 && i == batch/2 {
				// after the corrupt delta, so re-applied by run 2; a
				// second agent so it does not fold into the first
				agent, ms = []string{"a", "b"}[b-3], 30000
			}
			p.publish(ts, agent, "db-query", ms)
		}
		if err := p.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		total += batch
		waitApplied(t, r.info.HTTPAddr, total)
		// Wait for the snapshot that covers this batch (a delta after
		// the first).
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := readSnapshot(snapPath)
			if err == nil && s.LastAppliedSeq == total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch %d: no snapshot at seq %d within 30s (%v, %v)", b, total, s, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // alerts in flight
	r.stop(t)
	p.nc.Close()
	ids1 := run1.snapshot()
	late := 0
	for _, trace := range ids1 {
		if trace == "trace-"+itoa(3*batch+batch/2+1) || trace == "trace-"+itoa(4*batch+batch/2+1) {
			late++
		}
	}
	if late != 2 {
		t.Fatalf("run 1: alerts %v; want the two slow calls of batches 4 and 5 among them", ids1)
	}

	base, err := os.ReadFile(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	fs := &snapshot.FileStore{Path: snapPath}
	deltas, err := fs.ReadDeltas(context.Background(), snapshot.ID(base))
	if err != nil || len(deltas) < 4 {
		t.Fatalf("run 1 left %d deltas (%v); want one per batch after the first, at least 4", len(deltas), err)
	}
	// Corrupt the link after the one covering batch 3: the chain stops
	// before both slow calls.
	var keep *snapshot.Delta
	corrupt := ""
	for _, bl := range deltas {
		d, err := snapshot.DecodeDelta(bl.Data)
		if err != nil {
			t.Fatal(err)
		}
		if d.LastAppliedSeq > 3*batch {
			corrupt = bl.Source
			break
		}
		keep = d
	}
	if keep == nil || corrupt == "" || keep.LastAppliedSeq < 2*batch {
		t.Fatalf("premise: no delta at or before seq %d followed by a later one", 3*batch)
	}
	b, _ := os.ReadFile(corrupt)
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(corrupt, b, 0o640); err != nil {
		t.Fatal(err)
	}

	r = startInProc(t, opts)
	run2 := subscribeAlertIDs(t, r.info.NATSURL)
	waitApplied(t, r.info.HTTPAddr, total)
	logs := r.log.String()
	if seq, ok := logField(logs, "baselines restored from snapshot", "last_applied_seq"); !ok || seq != keep.LastAppliedSeq {
		t.Errorf("run 2 restored seq %d (%v), want the last good link's %d:\n%s", seq, ok, keep.LastAppliedSeq, logs)
	}
	if n, _ := logField(logs, "baselines restored from snapshot", "deltas"); n != uint64(keep.Index) {
		t.Errorf("run 2 restored %d deltas, want %d", n, keep.Index)
	}
	if !strings.Contains(metricsText(t, r.info.HTTPAddr), `toolwatch_snapshot_load_failures_total{reason="checksum"} 1`) {
		t.Error("run 2 did not count the corrupt delta")
	}
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_records_total{outcome="applied"}`); got != float64(total-keep.LastAppliedSeq) {
		t.Errorf("run 2 applied %v records, want the %d after the last good link", got, total-keep.LastAppliedSeq)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, r.info.HTTPAddr, `toolwatch_sink_deduplicated_total{sink="nats"}`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("run 2: %v alerts deduplicated, want the 2 re-raised slow calls", metricValue(t, r.info.HTTPAddr, `toolwatch_sink_deduplicated_total{sink="nats"}`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	r.stop(t)
	for id, trace := range run2.snapshot() {
		t.Errorf("run 2 delivered alert %s (%s) again or anew", id, trace)
	}

	// Run 3: a clean restart from run 2's chain re-applies nothing.
	r = startInProc(t, opts)
	waitApplied(t, r.info.HTTPAddr, total)
	if got := metricValue(t, r.info.HTTPAddr, `toolwatch_records_total{outcome="applied"}`); got != 0 {
		t.Errorf("clean restart re-applied %v records", got)
	}
	if seq, _ := logField(r.log.String(), "baselines restored from snapshot", "last_applied_seq"); seq != total {
		t.Errorf("clean restart restored seq %d, want %d", seq, total)
	}
	r.stop(t)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
