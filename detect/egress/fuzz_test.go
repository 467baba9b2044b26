package egress

import (
	"fmt"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

func FuzzUnmarshalState(f *testing.F) {
	d := newDet(testConfig())
	at := warm(f, d, 300)
	attack(d, at, "a", account("GB00 A"))
	attack(d, at, "b", account("GB00 B"))
	attack(d, at, "d", account("GB00 D"))
	if err := d.Reject("send_money", account("GB00 B")[0]); err != nil {
		f.Fatal(err)
	}
	if err := d.Accept("send_money", account("GB00 D")[0]); err != nil {
		f.Fatal(err)
	}
	d.Observe(call{at: at, tool: "read_file", task: "c", outs: email("x@y.example"), class: "restricted"}.record(), nil)
	good, err := d.MarshalState(nil)
	if err != nil {
		f.Fatal(err)
	}
	empty := (&StateV3{}).encode(nil)
	detecttest.FuzzUnmarshalState(f, func(testing.TB) detecttest.Detector { return newDet(testConfig()) }, good, empty)
}

// FuzzObserve: arbitrary destination lists (valid per the record decoder)
// never panic, never exceed the task caps, and a destination is in the
// vocabulary only if it was never flagged or was accepted.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 200, 17, 5})
	f.Add([]byte("send money to the account from the invoice"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := testConfig()
		c.WarmupCalls, c.WarmupAge = 10, 0
		d := newDet(c)
		var fs []detect.Finding
		for i, op := range ops {
			r := call{at: time.Duration(i) * time.Second, tool: []string{"send_money", "send_email"}[op&1],
				task: fmt.Sprint("t", op>>5)}.record()
			dst := account(fmt.Sprint(op % 7))
			if op&2 != 0 {
				dst = email(fmt.Sprintf("u%d@d%d.example", op%11, op%3))
			}
			if op&4 != 0 {
				r.Invocation.OutputDestinations = dst
			} else {
				r.Invocation.Destinations = dst
			}
			if op&8 != 0 {
				r.Context.DataClassification = "restricted"
			}
			for _, x := range append(r.Invocation.Destinations, r.Invocation.OutputDestinations...) {
				if !record.ValidDestination(x) {
					t.Fatalf("test produced an invalid destination %q", x)
				}
			}
			fs = d.Observe(r, fs[:0])
			for _, fd := range fs {
				if tl := d.tools.Peek(fd.Tool); tl != nil && tl.set.Find(hash(fd.Detail)) != nil {
					t.Fatalf("flagged %s joined the vocabulary", fd.Detail)
				}
			}
			if op%16 == 15 {
				d.Tick(r.Timestamp, nil)
				for _, e := range d.Triage() {
					if e.Status == StatusPending {
						_ = d.Reject(e.Tool, e.Destination)
					}
				}
			}
		}
		if d.tasks.Len() > c.MaxTasks {
			t.Fatalf("%d tasks", d.tasks.Len())
		}
		// Provenance counts stay consistent with the vocabulary and tasks.
		d.tools.Range(func(name string, tl *tool) bool {
			var sourced uint64
			for _, s := range tl.srcs {
				sourced += s.n
			}
			if tl.n1src > tl.n1 || sourced > tl.learned {
				t.Fatalf("%s: %d sourced of %d singletons, %d sourced of %d learned", name, tl.n1src, tl.n1, sourced, tl.learned)
			}
			return true
		})
		d.tasks.Range(func(_ uint64, tk *task) bool {
			if len(tk.srcs) != len(tk.outs) {
				t.Fatalf("task with %d destinations, %d sources", len(tk.outs), len(tk.srcs))
			}
			return true
		})
	})
}

// BenchmarkObserve is the per-record cost: a call to a known destination
// (the hot path), a call without destinations, and a reader's output
// destinations recorded in its task.
func BenchmarkObserve(b *testing.B) {
	c := DefaultConfig()
	c.WarmupCalls, c.WarmupAge = 100, time.Hour
	d := newDet(c)
	at := warm(b, d, 400)
	known := call{at: at, tool: "send_email", task: "bench", dests: email("colleague3@corp.example")}.record()
	none := call{at: at, tool: "kb_search", task: "bench"}.record()
	reader := call{at: at, tool: "read_email", task: "bench", outs: append(email("colleague3@corp.example")[:1], account("X")...)}.record()
	for _, bc := range []struct {
		name string
		r    *record.Record
	}{{"known_destination", known}, {"no_destination", none}, {"output_destinations", reader}} {
		b.Run(bc.name, func(b *testing.B) {
			var out []detect.Finding
			b.ReportAllocs()
			for b.Loop() {
				out = d.Observe(bc.r, out[:0])
			}
			if len(out) != 0 {
				b.Fatal("finding on the benchmark path")
			}
		})
	}
}
