package chain_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

var t0 = time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)

func stream(n int) []*record.Record {
	s := &chaintest.Stream{Producer: "rt-1", Agent: "agent-a", Tool: "search", KeyID: "k1",
		Key: chaintest.Key(1), CheckpointEvery: 5, Start: t0, Step: time.Second}
	rs := make([]*record.Record, n)
	for i := range rs {
		rs[i] = s.Next()
	}
	return rs
}

// run feeds rs as the engine would (records older than newest − 30s
// dropped as late, watermark = newest − 30s, ticks every record), then
// flushes; it returns "kind producer seq[-to] @ref" lines.
func run(t *testing.T, p chain.Params, rs []*record.Record) []string {
	t.Helper()
	v := chain.NewVerifier(p, chain.Keys{"k1": chaintest.PublicKey(1)})
	var out []chain.Issue
	var newest time.Time
	for i, r := range rs {
		if r.Timestamp.Before(newest.Add(-30 * time.Second)) {
			continue // late
		}
		if r.Timestamp.After(newest) {
			newest = r.Timestamp
		}
		out = v.Observe(r, int64(i+1), out)
		out = v.Tick(newest.Add(-30*time.Second), out)
	}
	out = v.Flush(out)
	var got []string
	for _, is := range out {
		s := fmt.Sprintf("%s %s %d", is.Kind, is.Producer, is.Seq)
		if is.To != is.Seq {
			s += fmt.Sprintf("-%d", is.To)
		}
		got = append(got, s+fmt.Sprintf(" @%d", is.Ref))
	}
	return got
}

func TestVerifier(t *testing.T) {
	tamper := func(r *record.Record) *record.Record {
		c := r.Clone()
		c.Invocation.OutputBytes = 99_999_999
		return c
	}
	tests := []struct {
		name  string
		edit  func(rs []*record.Record) []*record.Record
		every int64
		want  []string
	}{
		{"clean", func(rs []*record.Record) []*record.Record { return rs }, 0, nil},
		{"redelivery in order", func(rs []*record.Record) []*record.Record {
			return slices.Insert(rs, 5, rs[4], rs[3], rs[4])
		}, 0, nil},
		{"redelivery of a pending record", func(rs []*record.Record) []*record.Record {
			rs[4], rs[5] = rs[5], rs[4]
			return slices.Insert(rs, 5, rs[4])
		}, 0, nil},
		{"reordered within lateness", func(rs []*record.Record) []*record.Record {
			rs[10], rs[12] = rs[12], rs[10]
			return rs
		}, 0, nil},
		{"altered after signing", func(rs []*record.Record) []*record.Record {
			rs[9] = tamper(rs[9]) // seq 10 carries a checkpoint
			return rs
		}, 0, []string{"altered rt-1 10 @10"}},
		{"altered, then redelivered", func(rs []*record.Record) []*record.Record {
			rs[6] = tamper(rs[6])
			return slices.Insert(rs, 8, rs[6])
		}, 0, []string{"altered rt-1 7 @7"}},
		{"deleted record", func(rs []*record.Record) []*record.Record {
			return slices.Delete(rs, 20, 23)
		}, 0, []string{"gap rt-1 21-23 @21"}},
		{"deleted tail is not visible", func(rs []*record.Record) []*record.Record {
			return rs[:50]
		}, 0, nil},
		{"duplicated sequence (fork)", func(rs []*record.Record) []*record.Record {
			f := rs[14].Clone()
			f.Invocation.DurationMS = 1
			f.Chain.Hash, _ = chain.Hash(f, nil) // a consistent forgery
			return slices.Insert(rs, 16, f)
		}, 0, []string{"fork rt-1 15 @17"}},
		{"replaced record, re-hashed", func(rs []*record.Record) []*record.Record {
			f := rs[14].Clone()
			f.Invocation.Status = record.StatusDenied
			f.Chain.KeyID = ""
			f.Chain.Hash, _ = chain.Hash(f, nil)
			rs[14] = f
			return rs
		}, 0, []string{"prev_mismatch rt-1 16 @16"}},
		{"reordered pair beyond lateness", func(rs []*record.Record) []*record.Record {
			r := rs[30]
			return slices.Insert(slices.Delete(rs, 30, 31), 70, r)
		}, 0, []string{"gap rt-1 31 @31"}},
		{"forged checkpoint", func(rs []*record.Record) []*record.Record {
			f := rs[24].Clone()
			k := chaintest.Key(9)
			chain.Link(f, "rt-1", 25, rs[23].Chain.Hash, "k1", k, nil)
			rs[24] = f
			return rs
		}, 0, []string{"bad_signature rt-1 25 @25"}},
		{"unknown key", func(rs []*record.Record) []*record.Record {
			f := rs[24].Clone()
			chain.Link(f, "rt-1", 25, rs[23].Chain.Hash, "k-new", chaintest.Key(9), nil)
			rs[24] = f
			return rs
		}, 0, []string{"unknown_key rt-1 25 @25"}},
		{"checkpoints stop", func(rs []*record.Record) []*record.Record {
			for i := 40; i < len(rs); i++ {
				f := rs[i]
				f.Chain.KeyID, f.Chain.Sig = "", [64]byte{}
			}
			return rs
		}, 12, []string{"missing_checkpoint rt-1 53 @53"}},
		{"checkpoints too old", func(rs []*record.Record) []*record.Record {
			for i := 40; i < len(rs); i++ {
				rs[i].Chain.KeyID, rs[i].Chain.Sig = "", [64]byte{}
			}
			return rs
		}, -20, []string{"missing_checkpoint rt-1 61 @61"}}, // last checkpoint seq 40 at 40 s
		{"stopped chaining", func(rs []*record.Record) []*record.Record {
			u := rs[60].Clone()
			u.Chain = record.Chain{}
			return append(rs[:60], u, u)
		}, 0, []string{"stopped_chaining  0 @61"}},
		{"mid-chain start", func(rs []*record.Record) []*record.Record { return rs[40:] }, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chain.DefaultParams()
			p.CheckpointEvery = tt.every
			if tt.every < 0 { // a max age in seconds instead
				p.CheckpointEvery, p.CheckpointMaxAge = 0, time.Duration(-tt.every)*time.Second
			}
			got := run(t, p, tt.edit(stream(100)))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("issues\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestVerifierPendingCap: more out-of-order records than max_pending
// declare the gap at once instead of holding them.
func TestVerifierPendingCap(t *testing.T) {
	p := chain.DefaultParams()
	p.MaxPending = 4
	rs := slices.Delete(stream(20), 2, 3)
	v := chain.NewVerifier(p, chain.Keys{"k1": chaintest.PublicKey(1)})
	var out []chain.Issue
	for i, r := range rs[:7] { // seqs 1,2,4,5,6,7,8: five pending > 4
		out = v.Observe(r, int64(i+1), out)
	}
	if len(out) != 1 || out[0].Kind != chain.Gap || out[0].Seq != 3 || out[0].To != 3 {
		t.Fatalf("issues %+v, want one gap at 3", out)
	}
}

// TestVerifierCapEvicts: at max_producers a new producer evicts the least
// recently seen; the evicted one restarts mid-chain without findings.
func TestVerifierCapEvicts(t *testing.T) {
	p := chain.DefaultParams()
	p.MaxProducers = 2
	v := chain.NewVerifier(p, nil)
	var out []chain.Issue
	var ss []*chaintest.Stream
	for i := range 3 {
		ss = append(ss, &chaintest.Stream{Producer: fmt.Sprint("rt-", i), Agent: "a", Tool: "t", Start: t0, Step: time.Second})
	}
	for range 10 {
		for _, s := range ss {
			out = v.Observe(s.Next(), 0, out)
		}
	}
	if len(out) != 0 || v.Producers() != 2 {
		t.Fatalf("issues %+v, producers %d", out, v.Producers())
	}
	if _, _, capacity := v.KeyStats(); capacity == 0 {
		t.Fatal("no capacity eviction counted")
	}
}
