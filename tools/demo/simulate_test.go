package demo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

func TestSimulate(t *testing.T) {
	nc := runServer(t, false)
	wait := collect(t, nc, "audit.records.>")
	var last Progress
	var injections []string
	err := Simulate(context.Background(), nc, SimulateConfig{
		Seed: 9, Rate: 20, Duration: 1500 * time.Millisecond, Anomalies: true, AnomalyEvery: 200 * time.Millisecond,
		Progress: func(p Progress) {
			last = p
			if p.Injected != nil {
				injections = append(injections, p.Injected.Pattern)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !last.Done || last.Records < 200 {
		t.Fatalf("last progress %+v; want done with the burst and the traffic published", last)
	}
	msgs := wait(last.Records)
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	var prev time.Time
	shapes := 0
	for i, m := range msgs {
		if err := dec.Decode(m.data, &r); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := "audit.records." + r.Context.Environment + "." + r.AgentID; m.subject != want {
			t.Fatalf("message %d on %s, want %s", i, m.subject, want)
		}
		if r.Timestamp.Before(prev) || r.Timestamp.After(m.at) {
			t.Fatalf("message %d stamped %s: after %s and before its receipt at %s required", i, r.Timestamp, prev, m.at)
		}
		prev = r.Timestamp
		if r.Invocation.InputShape == "text/sql-injection" {
			shapes++
		}
	}
	// Anomalies at 200ms, 400ms, …: the burst (up to 200ms long) and the
	// next ones that fit before 1.5s, in order, cycling.
	want := []string{"frequency", "input_novelty", "denial_spike", "output_size", "latency", "chain_integrity", "egress", "frequency"}
	if len(injections) < 5 {
		t.Fatalf("injected %v, want at least the five patterns", injections)
	}
	for i, p := range injections {
		if p != want[i] {
			t.Fatalf("injected %v, want a prefix of %v", injections, want)
		}
	}
	if shapes != 3 {
		t.Errorf("%d sql-injection inputs, want the 3 of one input_novelty anomaly", shapes)
	}
}

func TestSimulateNoAnomaliesUntilCancel(t *testing.T) {
	nc := runServer(t, false)
	wait := collect(t, nc, "sim.>")
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Simulate(ctx, nc, SimulateConfig{Seed: 2, Rate: 50, SubjectPrefix: "sim", Progress: func(p Progress) {
		n = p.Records
		if p.Injected != nil {
			t.Errorf("anomaly %s injected with Anomalies off", p.Injected.Pattern)
		}
		if n >= 20 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Simulate: %v, want context.Canceled", err)
	}
	if n < 20 {
		t.Fatalf("published %d records before the cancel, want >= 20", n)
	}
	// Everything published before the cancel reached the server.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := len(wait(n)); got != n {
		t.Errorf("received %d records, published %d", got, n)
	}
}
