package chain

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObserve measures what the chain check adds to the detection
// path. As in the pipeline, each record is decoded into a reused Record
// (so it is cache-hot) and then observed; "decode" is the same loop
// without Observe, so chained − decode is the chain check (re-encode,
// SHA-256, producer lookup, link check; a signed checkpoint every 1000th
// record of each of 100 producers). Unchained records are measured before
// any agent chains and while another one does (one map lookup), against
// decode-unchained; "+compliance" adds the per-record verdict to the
// daemon's compliance view. Read cpu-ns/op (below) on a shared machine.
func BenchmarkObserve(b *testing.B) {
	const producers, round = 100, 1 << 14
	// lines returns round encoded records; gen > 0 continues nothing: each
	// generation chains under fresh producer names, so the benchmark never
	// replays a seq (which would be a redelivery).
	lines := func(gen int, chained bool) [][]byte {
		ss := make([]*chaintest.Stream, producers)
		for i := range ss {
			ss[i] = &chaintest.Stream{Producer: fmt.Sprintf("rt-%d-g%d", i, gen), Agent: fmt.Sprint("agent-", i), Tool: "search",
				KeyID: "k1", Key: chaintest.Key(1), CheckpointEvery: 1000, Start: t0, Step: time.Millisecond}
		}
		ls := make([][]byte, round)
		for i := range ls {
			r := ss[i%producers].Next()
			if !chained {
				r.Chain = record.Chain{}
			}
			ls[i] = r.AppendJSON(nil)
		}
		return ls
	}
	c := DefaultConfig()
	c.keys = core.Keys{"k1": chaintest.PublicKey(1)}
	run := func(b *testing.B, chained, observe, others bool, view ...*compliance.View) {
		d := newDetector(b, c)
		if len(view) > 0 {
			d.ReportChainTo(view[0]) // the daemon's compliance view: one verdict per record
		}
		if others {
			r := chaintest.Base("agent-chaining", "search", t0, 1)
			core.Link(r, "rt-other", 1, [32]byte{}, "", nil, nil)
			d.Observe(r, nil)
		}
		ls := lines(0, chained)
		dec := record.NewDecoder(record.DefaultLimits())
		var r record.Record
		var out []detect.Finding
		b.ReportAllocs()
		cpu := startThreadCPU()
		i, gen := 0, 0
		for b.Loop() {
			if i == len(ls) {
				i = 0
				if chained {
					b.StopTimer()
					cpu.pause()
					gen++
					ls = lines(gen, true)
					cpu.resume()
					b.StartTimer()
				}
			}
			if err := dec.Decode(ls[i], &r); err != nil {
				b.Fatal(err)
			}
			if observe {
				out = d.Observe(&r, out[:0])
			}
			i++
		}
		cpu.report(b)
		if len(out) != 0 {
			b.Fatalf("findings %+v", out)
		}
	}
	b.Run("decode", func(b *testing.B) { run(b, true, false, false) })
	b.Run("decode+chained", func(b *testing.B) { run(b, true, true, false) })
	b.Run("decode+chained+compliance", func(b *testing.B) {
		run(b, true, true, false, compliance.New(prometheus.NewRegistry(), compliance.Config{}))
	})
	b.Run("decode-unchained", func(b *testing.B) { run(b, false, false, false) })
	b.Run("decode+unchained", func(b *testing.B) { run(b, false, true, false) })
	b.Run("decode+unchained-others-chain", func(b *testing.B) { run(b, false, true, true) })
}

// threadCPU measures the CPU time of the benchmark's own OS thread
// (RUSAGE_THREAD), reported as cpu-ns/op: on a machine shared with other
// builds the wall-clock ns/op varies severalfold, the thread's CPU time
// much less.
type threadCPU struct {
	start, spent time.Duration
}

func threadTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startThreadCPU() *threadCPU {
	runtime.LockOSThread()
	return &threadCPU{start: threadTime()}
}

func (c *threadCPU) pause()  { c.spent += threadTime() - c.start }
func (c *threadCPU) resume() { c.start = threadTime() }

func (c *threadCPU) report(b *testing.B) {
	c.pause()
	runtime.UnlockOSThread()
	b.ReportMetric(float64(c.spent.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
