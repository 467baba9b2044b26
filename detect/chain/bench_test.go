package chain

import (
	"fmt"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

// BenchmarkObserve measures the per-record cost of the chain check on the
// detection path: chained records of 100 producers in order (re-hash,
// lookup, link check; a signed checkpoint every 1000th record), unchained
// records before any agent chains, and unchained records while others do.
func BenchmarkObserve(b *testing.B) {
	const producers, round = 100, 1 << 14
	mk := func(unchained bool) []*record.Record {
		ss := make([]*chaintest.Stream, producers)
		for i := range ss {
			ss[i] = &chaintest.Stream{Producer: fmt.Sprint("rt-", i), Agent: fmt.Sprint("agent-", i), Tool: "search",
				KeyID: "k1", Key: chaintest.Key(1), CheckpointEvery: 1000, Start: t0, Step: time.Millisecond}
		}
		rs := make([]*record.Record, round)
		for i := range rs {
			rs[i] = ss[i%producers].Next()
			if unchained {
				rs[i].Chain = record.Chain{}
			}
		}
		return rs
	}
	c := DefaultConfig()
	c.keys = core.Keys{"k1": chaintest.PublicKey(1)}
	run := func(b *testing.B, rs []*record.Record, relink func(gen int), others bool) {
		d := newDetector(b, c)
		if others {
			// Another agent chains, so unchained records pay the agent lookup.
			r := mk(false)[0]
			r.AgentID = "agent-chaining"
			d.Observe(r, nil)
		}
		var out []alert.Finding
		b.ReportAllocs()
		i, gen := 0, 0
		for b.Loop() {
			if i == len(rs) {
				i = 0
				if relink != nil {
					b.StopTimer()
					gen++
					relink(gen)
					b.StartTimer()
				}
			}
			out = d.Observe(rs[i], out[:0])
			i++
		}
		if len(out) != 0 {
			b.Fatalf("findings %+v", out)
		}
	}
	b.Run("chained", func(b *testing.B) {
		rs := mk(false)
		// Each round continues every producer's chain under a fresh name, so
		// the benchmark never replays a seq (which would be a redelivery).
		relink := func(gen int) {
			prev := map[string][32]byte{}
			for _, r := range rs {
				name := fmt.Sprintf("%s-g%d", trimGen(r.Chain.Producer), gen)
				keyID, key := "", chaintest.Key(1)
				if r.Chain.KeyID == "" {
					key = nil
				} else {
					keyID = "k1"
				}
				core.Link(r, name, r.Chain.Seq, prev[name], keyID, key, nil)
				prev[name] = r.Chain.Hash
			}
		}
		run(b, rs, relink, false)
	})
	b.Run("unchained", func(b *testing.B) { run(b, mk(true), nil, false) })
	b.Run("unchained-others-chain", func(b *testing.B) { run(b, mk(true), nil, true) })
}

func trimGen(s string) string {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '-' && s[i+1] == 'g' {
			return s[:i]
		}
	}
	return s
}
