// Package chaintest builds chained record streams for tests and benchmarks
// of the chain verifier, the chain_integrity detector and `detector verify`.
package chaintest

import (
	"crypto/ed25519"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/record"
)

// Key returns a deterministic test-only Ed25519 key from a one-byte seed.
func Key(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

// Stream produces one producer's chained records.
type Stream struct {
	Producer, Agent, Tool string
	KeyID                 string
	Key                   ed25519.PrivateKey // nil: no checkpoints
	CheckpointEvery       int64              // sign every n-th record (0: none)
	Start                 time.Time
	Step                  time.Duration

	seq     int64
	prev    [32]byte
	scratch []byte
}

// Next returns the next record, linked (and signed when due).
func (s *Stream) Next() *record.Record {
	s.seq++
	r := Base(s.Agent, s.Tool, s.Start.Add(time.Duration(s.seq)*s.Step), s.seq)
	var key ed25519.PrivateKey
	if s.Key != nil && s.CheckpointEvery > 0 && s.seq%s.CheckpointEvery == 0 {
		key = s.Key
	}
	s.scratch = chain.Link(r, s.Producer, s.seq, s.prev, s.KeyID, key, s.scratch)
	s.prev = r.Chain.Hash
	return r
}

// Base returns an unchained record of agent/tool at ts; n makes its ids
// unique.
func Base(agent, tool string, ts time.Time, n int64) *record.Record {
	r := new(record.Record)
	r.Reset()
	id := strconv.FormatInt(n, 10)
	r.TraceID, r.SpanID = "trace-"+agent+"-"+id, "span-"+agent+"-"+id
	r.Timestamp = ts.UTC().Truncate(time.Millisecond)
	r.AgentID = agent
	r.Tool.Name, r.Tool.Version = tool, "1.0.0"
	r.Invocation.DurationMS = float64(100 + n%50)
	r.Invocation.Status = record.StatusSuccess
	r.Invocation.InputHash = "sha256:" + id
	r.Invocation.OutputBytes = 1000 + n%100
	r.Invocation.InputShape = "json{q:str}"
	r.Context.Environment = "production"
	return r
}

// PublicKey is the public half of Key(seed).
func PublicKey(seed byte) ed25519.PublicKey { return Key(seed).Public().(ed25519.PublicKey) }
