package sink

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNotifier records every attempt; fn decides its outcome.
type fakeNotifier struct {
	name string
	fn   func(ctx context.Context, attempt int, alerts []alert.Alert) (bool, error)

	mu       sync.Mutex
	attempts []attempt
	got      []string // ids of successfully delivered alerts
}

type attempt struct {
	at  time.Time
	ids []string
}

func (f *fakeNotifier) Name() string { return f.name }

func (f *fakeNotifier) Notify(ctx context.Context, alerts ...alert.Alert) (bool, error) {
	f.mu.Lock()
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	f.attempts = append(f.attempts, attempt{at: time.Now(), ids: ids})
	n := len(f.attempts)
	f.mu.Unlock()
	retry, err := false, error(nil)
	if f.fn != nil {
		retry, err = f.fn(ctx, n, alerts)
	}
	if err == nil {
		f.mu.Lock()
		f.got = append(f.got, ids...)
		f.mu.Unlock()
	}
	return retry, err
}

func (f *fakeNotifier) snapshot() ([]attempt, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attempt(nil), f.attempts...), append([]string(nil), f.got...)
}

func alerts(ids ...string) []alert.Alert {
	out := make([]alert.Alert, len(ids))
	for i, id := range ids {
		out[i] = alert.Alert{ID: id, Status: alert.StatusFiring}
	}
	return out
}

func closeNow(t *testing.T, s Sink) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestQueueDeliversInOrderInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics(nil)
		gate := make(chan struct{})
		f := &fakeNotifier{name: "f", fn: func(_ context.Context, n int, _ []alert.Alert) (bool, error) {
			if n == 1 {
				<-gate // hold the first batch so the rest queue up
			}
			return false, nil
		}}
		q := NewQueue(f, QueueOptions{Size: 10, MaxBatch: 3, Metrics: m})
		q.Send(alerts("a")...)
		synctest.Wait()
		q.Send(alerts("b", "c", "d", "e")...)
		if got := testutil.ToFloat64(m.QueueLength.WithLabelValues("f")); got != 4 {
			t.Errorf("queue_length = %v, want 4", got)
		}
		close(gate)
		synctest.Wait()
		at, got := f.snapshot()
		if want := "a,b,c,d,e"; strings.Join(got, ",") != want {
			t.Errorf("delivered %v, want %s", got, want)
		}
		var sizes []int
		for _, a := range at {
			sizes = append(sizes, len(a.ids))
		}
		if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 3 || sizes[2] != 1 {
			t.Errorf("batch sizes %v, want [1 3 1]", sizes)
		}
		if got := testutil.ToFloat64(m.Sent.WithLabelValues("f")); got != 5 {
			t.Errorf("sent_total = %v, want 5", got)
		}
		closeNow(t, q)
	})
}

func TestQueueFullDropsOldestAndCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics(nil)
		var logs bytes.Buffer
		gate := make(chan struct{})
		f := &fakeNotifier{name: "f", fn: func(_ context.Context, n int, _ []alert.Alert) (bool, error) {
			if n == 1 {
				<-gate
			}
			return false, nil
		}}
		q := NewQueue(f, QueueOptions{Size: 3, MaxBatch: 10, Metrics: m, Logger: zerolog.New(&logs)})
		q.Send(alerts("in-flight")...)
		synctest.Wait()
		// Never blocks although nothing drains: 1,2 are dropped.
		q.Send(alerts("1", "2", "3", "4", "5")...)
		q.Send(alerts("6")...) // drops 3
		if got := testutil.ToFloat64(m.Dropped.WithLabelValues("f")); got != 3 {
			t.Errorf("dropped_total = %v, want 3", got)
		}
		if n := strings.Count(logs.String(), "sink queue full"); n != 1 {
			t.Errorf("queue-full log lines = %d, want 1 (rate-limited):\n%s", n, logs.String())
		}
		time.Sleep(11 * time.Second)
		q.Send(alerts("7")...) // drops 4, logs again after the interval
		if n := strings.Count(logs.String(), "sink queue full"); n != 2 {
			t.Errorf("queue-full log lines after interval = %d, want 2", n)
		}
		if !strings.Contains(logs.String(), `"dropped":2,`) {
			t.Errorf("second log line should report the 2 drops since the first (one silent, one new): %s", logs.String())
		}
		close(gate)
		synctest.Wait()
		_, got := f.snapshot()
		if want := "in-flight,5,6,7"; strings.Join(got, ",") != want {
			t.Errorf("delivered %v, want %s", got, want)
		}
		closeNow(t, q)
	})
}

func TestQueueRetry(t *testing.T) {
	errDown := errors.New("down")
	tests := []struct {
		name         string
		opts         QueueOptions
		fn           func(n int) (bool, error)
		wantAttempts int
		wantGaps     []time.Duration
		wantSent     float64
		wantFailed   float64
	}{{
		name: "retryable errors back off exponentially then succeed",
		fn: func(n int) (bool, error) {
			if n < 4 {
				return true, errDown
			}
			return false, nil
		},
		// Jitter 0 => d/2 of 500ms, 1s, 2s.
		wantAttempts: 4, wantGaps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}, wantSent: 1,
	}, {
		name:         "not retryable gives up at once",
		fn:           func(int) (bool, error) { return false, errDown },
		wantAttempts: 1, wantFailed: 1,
	}, {
		name:         "max attempts",
		opts:         QueueOptions{MaxAttempts: 3},
		fn:           func(int) (bool, error) { return true, errDown },
		wantAttempts: 3, wantGaps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, wantFailed: 1,
	}, {
		name:         "backoff capped",
		opts:         QueueOptions{MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 2 * time.Second},
		fn:           func(int) (bool, error) { return true, errDown },
		wantAttempts: 4, wantGaps: []time.Duration{500 * time.Millisecond, time.Second, time.Second}, wantFailed: 1,
	}, {
		name:         "retry period exhausted",
		opts:         QueueOptions{RetryFor: time.Second},
		fn:           func(int) (bool, error) { return true, errDown },
		wantAttempts: 3, wantGaps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, wantFailed: 1,
	}, {
		name: "retry-after longer than backoff is honoured",
		fn: func(n int) (bool, error) {
			if n == 1 {
				return true, &RetryAfterError{After: 2 * time.Minute, Err: errDown}
			}
			return false, nil
		},
		wantAttempts: 2, wantGaps: []time.Duration{2 * time.Minute}, wantSent: 1,
	}, {
		name: "retry-after capped",
		opts: QueueOptions{MaxRetryAfter: time.Minute},
		fn: func(n int) (bool, error) {
			if n == 1 {
				return true, &RetryAfterError{After: time.Hour, Err: errDown}
			}
			return false, nil
		},
		wantAttempts: 2, wantGaps: []time.Duration{time.Minute}, wantSent: 1,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMetrics(nil)
				f := &fakeNotifier{name: "f", fn: func(_ context.Context, n int, _ []alert.Alert) (bool, error) { return tc.fn(n) }}
				opts := tc.opts
				opts.Metrics, opts.Jitter = m, func() float64 { return 0 }
				q := NewQueue(f, opts)
				q.Send(alerts("x")...)
				synctest.Wait()
				closeNow(t, q)
				at, _ := f.snapshot()
				if len(at) != tc.wantAttempts {
					t.Fatalf("attempts = %d, want %d", len(at), tc.wantAttempts)
				}
				for i, want := range tc.wantGaps {
					if gap := at[i+1].at.Sub(at[i].at); gap != want {
						t.Errorf("gap %d = %v, want %v", i, gap, want)
					}
					if at[i+1].ids[0] != "x" {
						t.Errorf("retry carried %v, want the same alert", at[i+1].ids)
					}
				}
				if got := testutil.ToFloat64(m.Sent.WithLabelValues("f")); got != tc.wantSent {
					t.Errorf("sent_total = %v, want %v", got, tc.wantSent)
				}
				if got := testutil.ToFloat64(m.Failed.WithLabelValues("f")); got != tc.wantFailed {
					t.Errorf("failed_total = %v, want %v", got, tc.wantFailed)
				}
				if got := testutil.CollectAndCount(m.Latency); got != 1 {
					t.Errorf("latency series = %d, want 1", got)
				}
			})
		})
	}
}

func TestBackoffJitterRange(t *testing.T) {
	for _, j := range []float64{0, 0.5, 0.999} {
		q := &Queue{opts: QueueOptions{Jitter: func() float64 { return j }}}
		q.opts.defaults()
		for attempt := 1; attempt <= 10; attempt++ {
			d := q.backoff(attempt)
			base := min(500*time.Millisecond<<(attempt-1), 30*time.Second)
			if d < base/2 || d >= base {
				t.Errorf("jitter %v attempt %d: %v not in [%v,%v)", j, attempt, d, base/2, base)
			}
		}
	}
}

func TestDeadTargetDoesNotDelayAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics(nil)
		dead := &fakeNotifier{name: "dead", fn: func(ctx context.Context, _ int, _ []alert.Alert) (bool, error) {
			<-ctx.Done() // hangs until shutdown gives up on it
			return true, ctx.Err()
		}}
		live := &fakeNotifier{name: "live"}
		d := NewDispatcher(NewQueue(dead, QueueOptions{Metrics: m}), NewQueue(live, QueueOptions{Metrics: m}))
		start := time.Now()
		d.Send(alerts("a", "b")...)
		synctest.Wait()
		_, got := live.snapshot()
		if strings.Join(got, ",") != "a,b" || time.Since(start) != 0 {
			t.Fatalf("live receiver got %v after %v, want a,b at once", got, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := d.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "sink dead") {
			t.Fatalf("Close error = %v, want the dead sink's flush error", err)
		}
		if time.Since(start) != 5*time.Second {
			t.Errorf("Close took %v, want the 5s bound", time.Since(start))
		}
		if got := testutil.ToFloat64(m.Dropped.WithLabelValues("dead")); got != 2 {
			t.Errorf("dead dropped_total = %v, want 2 (1 in flight + 1 queued)", got)
		}
	})
}

func TestCloseFlushesQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &fakeNotifier{name: "slow", fn: func(context.Context, int, []alert.Alert) (bool, error) {
			time.Sleep(time.Second)
			return false, nil
		}}
		m := NewMetrics(nil)
		q := NewQueue(slow, QueueOptions{Metrics: m})
		q.Send(alerts("a", "b", "c")...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := q.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, got := slow.snapshot(); strings.Join(got, ",") != "a,b,c" {
			t.Errorf("flushed %v, want a,b,c", got)
		}
		q.Send(alerts("late")...)
		if got := testutil.ToFloat64(m.Dropped.WithLabelValues("slow")); got != 1 {
			t.Errorf("dropped after close = %v, want 1", got)
		}
		if err := q.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.Sent.WithLabelValues("x").Inc()
	m.Failed.WithLabelValues("x").Inc()
	m.Dropped.WithLabelValues("x").Inc()
	m.QueueLength.WithLabelValues("x").Set(1)
	m.Latency.WithLabelValues("x").Observe(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := "toolwatch_sink_dropped_total,toolwatch_sink_failed_total,toolwatch_sink_latency_seconds,toolwatch_sink_queue_length,toolwatch_sink_sent_total"
	if strings.Join(names, ",") != want {
		t.Errorf("metrics %v, want %s", names, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Mon, 23 Mar 2026 14:31:30 GMT", 90 * time.Second, true},
		{"Mon, 23 Mar 2026 14:00:00 GMT", 0, true}, // in the past: no wait
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v,%v want %v,%v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkQueueSend(b *testing.B) {
	q := NewQueue(&fakeNotifier{name: "bench"}, QueueOptions{Size: 1024})
	defer q.Close(context.Background())
	a := alerts("x")
	b.ReportAllocs()
	for b.Loop() {
		q.Send(a...)
	}
}

// memLog is an in-memory NotificationLog; failing makes reads fail.
type memLog struct {
	mu      sync.Mutex
	seen    map[string]bool
	failing bool
}

func (l *memLog) Delivered(_ context.Context, sink string, a *alert.Alert) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		return false, errors.New("kv unavailable")
	}
	return l.seen[sink+"/"+a.ID+"/"+a.Status], nil
}

func (l *memLog) Log(_ context.Context, sink string, a *alert.Alert) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[sink+"/"+a.ID+"/"+a.Status] = true
	return nil
}

// A queue with a notification log skips what its target delivered before
// (another process, same log), logs what it delivers, and delivers anyway
// when the log cannot be read.
func TestQueueNotificationLog(t *testing.T) {
	log := &memLog{seen: map[string]bool{}}
	m := NewMetrics(nil)
	run := func(ids ...string) []string {
		n := &fakeNotifier{name: "webhook:x"}
		q := NewQueue(n, QueueOptions{Log: log, Metrics: m})
		q.Send(alerts(ids...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.Close(ctx); err != nil {
			t.Fatal(err)
		}
		_, got := n.snapshot()
		return got
	}
	if got := run("a", "b"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("first run delivered %v", got)
	}
	// After a "crash": a and b are regenerated with the same ids, c is new.
	if got := run("a", "b", "c"); strings.Join(got, ",") != "c" {
		t.Errorf("second run delivered %v, want only c", got)
	}
	if v := testutil.ToFloat64(m.Deduplicated.WithLabelValues("webhook:x")); v != 2 {
		t.Errorf("deduplicated_total %v, want 2", v)
	}
	log.failing = true
	if got := run("a"); strings.Join(got, ",") != "a" {
		t.Errorf("with the log unreadable delivered %v, want a (at least once)", got)
	}
	if v := testutil.ToFloat64(m.LogErrors.WithLabelValues("webhook:x")); v != 1 {
		t.Errorf("notification_log_errors_total %v, want 1", v)
	}
}
