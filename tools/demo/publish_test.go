package demo

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

type received struct {
	subject string
	data    []byte
	at      time.Time
}

// collect subscribes to subject and returns a function that waits until n
// messages arrived (or fails) and returns them.
func collect(t *testing.T, nc *nats.Conn, subject string) func(n int) []received {
	t.Helper()
	var mu sync.Mutex
	var got []received
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		at := time.Now()
		mu.Lock()
		got = append(got, received{subject: m.Subject, data: m.Data, at: at})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return func(n int) []received {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != n {
			t.Fatalf("received %d messages, want %d", len(got), n)
		}
		return got
	}
}

// shortLive is a live phase of about a second with anomalies every 150ms.
func shortLive(seed uint64) PublishConfig {
	return PublishConfig{Seed: seed, History: 2 * time.Hour, Rate: 0.5, Live: 1200 * time.Millisecond,
		Lead: 100 * time.Millisecond, Spacing: 150 * time.Millisecond, Burst: 100 * time.Millisecond, FlushEvery: 500}
}

func TestPublish(t *testing.T) {
	nc := runServer(t, false)
	wait := collect(t, nc, "demo.records.>")
	cfg := shortLive(3)
	cfg.SubjectPrefix = "demo.records"
	var progress []Progress
	began := time.Now()
	st, err := Publish(context.Background(), nc, cfg, func(p Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	msgs := wait(st.History + st.Live)
	// The backlog follows the simulated day: 2 h of it hold ~1,500 records
	// around 02:00 UTC and ~5,800 around 15:00, so the floor must hold at
	// any hour the test runs.
	if st.History < 1000 || st.Live < 200 {
		t.Fatalf("published %d history and %d live records; want a 2h backlog and a live phase", st.History, st.Live)
	}

	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	var prev time.Time
	var historyEnd time.Time
	live := map[string]int{} // pattern → matching live records
	altered := 0             // chained records whose hash does not match
	for i, m := range msgs {
		if err := dec.Decode(m.data, &r); err != nil {
			t.Fatalf("message %d on %s: %v", i, m.subject, err)
		}
		if want := "demo.records." + r.Context.Environment + "." + r.AgentID; m.subject != want {
			t.Fatalf("message %d on %s, want %s", i, m.subject, want)
		}
		if r.Timestamp.Before(prev) {
			t.Fatalf("message %d stamped %s after one stamped %s", i, r.Timestamp, prev)
		}
		prev = r.Timestamp
		if r.Timestamp.After(m.at) {
			t.Fatalf("message %d stamped %s, in the future when received at %s", i, r.Timestamp, m.at)
		}
		if i < st.History {
			historyEnd = r.Timestamp
			if r.Timestamp.Before(began.Add(-cfg.History - time.Second)) {
				t.Fatalf("history record stamped %s, before the %s backlog", r.Timestamp, cfg.History)
			}
			continue
		}
		if r.AgentID == chainedAgent {
			if r.Chain.Seq == 0 {
				t.Fatalf("message %d of the chained agent %s is unchained", i, chainedAgent)
			}
			if sum, _ := chain.Hash(&r, nil); sum != r.Chain.Hash {
				altered++
			}
		}
		for _, inj := range st.Injected {
			if inj.Pattern == detect.PatternEgress && r.AgentID == inj.AgentID && !r.Timestamp.Before(inj.Start) && !r.Timestamp.After(inj.End) &&
				(slices.Equal(r.Invocation.Destinations, hashedDests().attacker) || slices.Equal(r.Invocation.OutputDestinations, hashedDests().attacker)) {
				live[inj.Pattern]++
			}
			if r.AgentID == inj.AgentID && r.Tool.Name == inj.Tool && !r.Timestamp.Before(inj.Start) && !r.Timestamp.After(inj.End) {
				switch inj.Pattern {
				case detect.PatternFrequency:
					live[inj.Pattern]++
				case detect.PatternInputNovelty:
					if r.Invocation.InputShape == "text/sql-injection" {
						live[inj.Pattern]++
					}
				case detect.PatternDenialSpike:
					if r.Invocation.Status == record.StatusDenied && len(r.Invocation.PermissionsDenied) == 1 && r.Invocation.PermissionsDenied[0] == "network:connect" {
						live[inj.Pattern]++
					}
				case detect.PatternOutputSize:
					if r.Invocation.OutputBytes == 100_000_000 {
						live[inj.Pattern]++
					}
				case detect.PatternLatency:
					if r.Invocation.DurationMS == 30_000 {
						live[inj.Pattern]++
					}
				case detect.PatternChainIntegrity:
					if sum, _ := chain.Hash(&r, nil); sum != r.Chain.Hash {
						live[inj.Pattern]++
					}
				}
			}
		}
	}
	if !historyEnd.Before(began.Add(time.Second)) {
		t.Errorf("history ends at %s, after the start %s", historyEnd, began)
	}
	want := []string{detect.PatternFrequency, detect.PatternInputNovelty, detect.PatternDenialSpike, detect.PatternOutputSize, detect.PatternLatency,
		detect.PatternChainIntegrity, detect.PatternEgress}
	if altered != 1 {
		t.Errorf("%d altered chained records, want the one injected", altered)
	}
	if len(st.Injected) != len(want) {
		t.Fatalf("injected %d anomalies, want %d", len(st.Injected), len(want))
	}
	for i, inj := range st.Injected {
		if inj.Pattern != want[i] {
			t.Errorf("anomaly %d is %s, want %s", i, inj.Pattern, want[i])
		}
		if inj.Start.Before(historyEnd) || inj.End.Before(inj.Start) {
			t.Errorf("anomaly %s spans %s..%s, not in the live phase after %s", inj.Pattern, inj.Start, inj.End, historyEnd)
		}
		if live[inj.Pattern] < inj.Records || inj.Records < 1 {
			t.Errorf("anomaly %s: %d matching live records, want its %d", inj.Pattern, live[inj.Pattern], inj.Records)
		}
	}
	if st.Injected[0].Records < 200 {
		t.Errorf("frequency burst of %d calls, want at least 200", st.Injected[0].Records)
	}

	// Progress: history reports, then the live phase with each anomaly once.
	var histDone, liveDone bool
	var injReports []string
	for _, p := range progress {
		switch {
		case p.Phase == PhaseHistory && p.Done:
			histDone = p.Records == st.History
		case p.Phase == PhaseLive && p.Done:
			liveDone = histDone && p.Records == st.Live
		case p.Injected != nil:
			injReports = append(injReports, p.Injected.Pattern)
		}
	}
	if !histDone || !liveDone {
		t.Errorf("progress: history done %v, live done %v; want both with the final counts", histDone, liveDone)
	}
	if strings.Join(injReports, ",") != strings.Join(want, ",") {
		t.Errorf("progress reported anomalies %v, want %v", injReports, want)
	}
}

func TestPublishJetStream(t *testing.T) {
	nc := runServer(t, true)
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.records.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := shortLive(4)
	cfg.JetStream = true
	st, err := Publish(ctx, nc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(info.State.Msgs); got != st.History+st.Live {
		t.Errorf("stream holds %d records, published %d", got, st.History+st.Live)
	}
}

func TestPublishCancel(t *testing.T) {
	nc := runServer(t, false)
	cfg := shortLive(5)
	cfg.Live = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	st, err := Publish(ctx, nc, cfg, func(p Progress) {
		if p.Phase == PhaseLive && p.Injected != nil {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish after cancel: %v, want context.Canceled", err)
	}
	if st.History == 0 || st.Live == 0 {
		t.Errorf("published %d history, %d live records before the cancel; want both", st.History, st.Live)
	}
}

func TestPublishConfigErrors(t *testing.T) {
	nc := runServer(t, false)
	var empty sim.Topology
	for _, tc := range []struct {
		name string
		cfg  PublishConfig
		want string
	}{
		{"live too short", PublishConfig{Live: 30 * time.Second}, "too short"},
		{"burst longer than spacing", PublishConfig{Spacing: time.Second, Burst: 2 * time.Second}, "longer than the spacing"},
		{"topology without the anomaly tools", PublishConfig{Topology: &empty}, "topology lacks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Publish(context.Background(), nc, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
