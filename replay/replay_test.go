package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// wall is a fixed wall clock after every simulated record, so the
// future-timestamp check does not depend on when the test runs.
func wall() time.Time { return sim.DefaultStart.Add(10 * 24 * time.Hour) }

func simulated(t *testing.T, cfg sim.Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, _, _, err := eval.WriteJSONL(cfg, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Two replays of the same input and configuration are byte-identical.
func TestReplayIsDeterministic(t *testing.T) {
	in := simulated(t, sim.Config{Seed: 7, Duration: 36 * time.Hour, Scale: 0.5, WarmUp: 24 * time.Hour, Jitter: 3 * time.Second})
	run := func() []byte {
		var out bytes.Buffer
		sum, err := Run(context.Background(), bytes.NewReader(in), &out, Options{Config: config.Default(), Now: wall})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Firing == 0 {
			t.Fatalf("no alerts raised; the determinism check would be vacuous (%+v)", sum)
		}
		return out.Bytes()
	}
	first, second := run(), run()
	if !bytes.Equal(first, second) {
		t.Fatalf("replay output differs between runs (%d vs %d bytes)", len(first), len(second))
	}
}

const validLine = `{"trace_id":"t1","span_id":"s1","timestamp":"%s","agent_id":"a","tool":{"name":"x"},"invocation":{"duration_ms":5,"status":"success"}}`

func TestReplayReportsInvalidLinesAndGoesOn(t *testing.T) {
	ts := func(d time.Duration) string { return sim.DefaultStart.Add(d).Format(time.RFC3339Nano) }
	lines := []string{
		fmt.Sprintf(validLine, ts(0)),
		`{"trace_id":`,
		``,
		`{"trace_id":"t","span_id":"s","timestamp":"` + ts(time.Second) + `","agent_id":"a","tool":{"name":"x"},"invocation":{"duration_ms":-3,"status":"success"}}`,
		fmt.Sprintf(validLine, ts(2*time.Second)),
		`{"pad":"` + strings.Repeat("x", 70000) + `"}`,
		fmt.Sprintf(validLine, ts(time.Hour)),
		fmt.Sprintf(validLine, ts(time.Second)), // older than the watermark: late
		fmt.Sprintf(validLine, sim.DefaultStart.Add(30*24*time.Hour).Format(time.RFC3339)),
		"   ",
		fmt.Sprintf(validLine, ts(2*time.Hour)) + "\r",
	}
	var out, stderr bytes.Buffer
	sum, err := Run(context.Background(), strings.NewReader(strings.Join(lines, "\n")), &out, Options{Config: config.Default(), Stderr: &stderr, Now: wall})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Lines: 9, Applied: 4, Late: 1, Invalid: 4}
	if sum.Lines != want.Lines || sum.Applied != want.Applied || sum.Late != want.Late || sum.Invalid != want.Invalid {
		t.Errorf("summary %+v, want lines/applied/late/invalid %d/%d/%d/%d", sum, want.Lines, want.Applied, want.Late, want.Invalid)
	}
	wantErr := []string{
		"line 2: record: invalid JSON",
		"line 4: invocation.duration_ms: must be a number >= 0",
		"line 6: record: larger than 65536 bytes",
		"line 9: timestamp: more than 5m0s in the future",
	}
	got := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(got) != len(wantErr) {
		t.Fatalf("stderr:\n%s\nwant %d lines", stderr.String(), len(wantErr))
	}
	for i, w := range wantErr {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("stderr line %d = %q, want prefix %q", i+1, got[i], w)
		}
	}
}

func TestReplayCapsReportedLines(t *testing.T) {
	in := strings.Repeat("not json\n", 10)
	var stderr bytes.Buffer
	sum, err := Run(context.Background(), strings.NewReader(in), &bytes.Buffer{}, Options{Stderr: &stderr, MaxReported: 3, Now: wall})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Invalid != 10 {
		t.Errorf("invalid = %d, want 10", sum.Invalid)
	}
	if n := strings.Count(stderr.String(), "\n"); n != 4 {
		t.Errorf("stderr has %d lines, want 3 reports and one notice:\n%s", n, stderr.String())
	}
}

func TestReplayStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, strings.NewReader(fmt.Sprintf(validLine, sim.DefaultStart.Format(time.RFC3339))), &bytes.Buffer{}, Options{Now: wall})
	if err == nil {
		t.Fatal("cancelled replay returned no error")
	}
}

func TestSummaryWriteTo(t *testing.T) {
	s := Summary{Lines: 10, Applied: 7, Late: 1, Invalid: 2, Firing: 3, Resolved: 1,
		Alerts:  map[string]map[string]int{"latency": {"critical": 2}, "frequency": {"warning": 1}},
		Elapsed: 2 * time.Second}
	var b strings.Builder
	s.WriteTo(&b)
	want := "records read: 10 (applied 7, late 1, invalid 2)\n" +
		"alerts: 3 firing, 1 resolved\n" +
		"  frequency      info 0, warning 1, critical 0\n" +
		"  latency        info 0, warning 0, critical 2\n" +
		"wall time: 2s (5 records/s)\n"
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
