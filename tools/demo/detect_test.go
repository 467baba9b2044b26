package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/replay"
)

// TestRecordsDetectable replays the demo's record sequence through the
// detection pipeline with the default configuration: each injected anomaly
// must raise an alert of its pattern for its tool, in the live phase.
// Two clocks: the afternoon peak, and the night trough right after the
// nightly batch burst.
func TestRecordsDetectable(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		now  time.Time
	}{
		{7, time.Date(2026, 3, 24, 14, 30, 0, 0, time.UTC)},
		{8, time.Date(2026, 3, 24, 2, 21, 0, 0, time.UTC)},
	} {
		t.Run(tc.now.Format("15:04"), func(t *testing.T) { checkDetectable(t, tc.seed, tc.now) })
	}
}

func checkDetectable(t *testing.T, seed uint64, now time.Time) {
	cfg := PublishConfig{Seed: seed, Rate: 0.5, Now: func() time.Time { return now }}
	var in bytes.Buffer
	var buf []byte
	n := 0
	injected, err := Records(cfg, func(r *record.Record, _ Phase) error {
		buf = r.AppendJSON(buf[:0])
		in.Write(buf)
		in.WriteByte('\n')
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := replay.Run(context.Background(), &in, &out, replay.Options{
		Config: config.Default(),
		Now:    func() time.Time { return now.Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("records %d, applied %d, late %d, invalid %d, firing %d", n, sum.Applied, sum.Late, sum.Invalid, sum.Firing)
	if sum.Invalid != 0 || sum.Late != 0 {
		t.Errorf("replay: %d invalid, %d late records; want 0", sum.Invalid, sum.Late)
	}
	var alerts []alert.Alert
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("decode alert %q: %v", sc.Text(), err)
		}
		alerts = append(alerts, a)
	}
	if len(injected) != len(anomalies) {
		t.Fatalf("injected %d anomalies, want %d", len(injected), len(anomalies))
	}
	for _, inj := range injected {
		if !detected(alerts, inj) {
			t.Errorf("injected %s at %s → %s (%s) raised no %s alert", inj.Pattern, inj.AgentID, inj.Tool, inj.Description, inj.Pattern)
		}
	}
}

// TestRecordsDeterministic: the same configuration and clock give the
// same records, in event-time order, the live ones after the history.
func TestRecordsDeterministic(t *testing.T) {
	now := time.Date(2026, 3, 24, 9, 0, 0, 0, time.UTC)
	cfg := PublishConfig{Seed: 11, History: 3 * time.Hour, Rate: 0.4, Now: func() time.Time { return now }}
	run := func() ([]byte, []Injected) {
		var out []byte
		var prev time.Time
		phase := PhaseHistory
		inj, err := Records(cfg, func(r *record.Record, p Phase) error {
			if r.Timestamp.Before(prev) {
				t.Fatalf("record at %s after one at %s", r.Timestamp, prev)
			}
			if p < phase {
				t.Fatalf("history record after a live one")
			}
			if (p == PhaseHistory) != r.Timestamp.Before(now) {
				t.Fatalf("%s record stamped %s, clock %s", p, r.Timestamp, now)
			}
			prev, phase = r.Timestamp, p
			out = r.AppendJSON(out)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, inj
	}
	a, injA := run()
	b, injB := run()
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Errorf("two runs differ (%d and %d bytes)", len(a), len(b))
	}
	if len(injA) != len(anomalies) || !reflect.DeepEqual(injA, injB) {
		t.Errorf("injected %v then %v; want the same seven", injA, injB)
	}
}
