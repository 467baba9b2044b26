// Package producer is the Go library for agent runtimes that publish
// tamper-evident audit records (docs/design.md §2.1): it fills
// invocation.input_shape (package shape), input_bytes and input_hash from
// the raw tool input, links each record into the runtime's hash chain
// (package chain), signs a checkpoint every CheckpointEvery records when a
// key is configured, and publishes to JetStream on
// audit.records.<environment>.<agent_id> with the span id as Nats-Msg-Id,
// so a retried publish is deduplicated by the stream.
//
// # Surviving restarts
//
// The chain head (producer id, seq, hash) and the record being published
// are written to StateFile (temporary file, fsync, atomic rename, fsync of
// the directory) before the record is published: write-ahead, so a seq is
// never used twice. A publish that fails (NATS down, timeout) is retried
// with the same bytes and message id until it is acknowledged or the
// context ends; then Publish returns the error and the record stays
// pending: the next Publish, Flush or a restarted process (Open reads the
// file) sends it first. A record the stream already holds is dropped by
// JetStream's duplicate window, or, later, recognised by the detector as an
// identical redelivery; either way the chain stays unbroken.
//
// Publish is safe for concurrent use; records are chained in the order
// their Publish calls take the producer's lock. Each record costs one
// fsync and one JetStream round trip.
package producer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/ingest"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape"
)

// Config configures a Producer.
type Config struct {
	// Producer is the runtime instance id (chain.producer): printable
	// ASCII without spaces, at most 128 bytes. Empty: the one in StateFile,
	// or a new random "rt-<16 hex>" for a new chain.
	Producer string
	// StateFile persists the chain head; required (a chain that cannot
	// survive a restart would fork or gap on every restart).
	StateFile string
	// KeyID and Key sign a checkpoint every CheckpointEvery records (and
	// on the chain's first record); Key nil: no checkpoints.
	KeyID           string
	Key             ed25519.PrivateKey
	CheckpointEvery int64
	// SubjectPrefix of the record subjects (default "audit.records").
	SubjectPrefix string
	// RetryWait is the pause between publish attempts (default 250ms).
	RetryWait time.Duration
}

// Producer chains and publishes one runtime's records.
type Producer struct {
	js  jetstream.JetStream
	cfg Config

	mu      sync.Mutex
	seq     int64
	head    [32]byte
	pending *pendingMsg
	scratch []byte
	subj    []byte
}

type pendingMsg struct {
	Subject string `json:"subject"`
	MsgID   string `json:"msg_id"`
	Data    string `json:"data"`
}

// fileState is the StateFile (JSON).
type fileState struct {
	Version  int         `json:"version"`
	Producer string      `json:"producer"`
	Seq      int64       `json:"seq"`
	Head     string      `json:"head"`
	Pending  *pendingMsg `json:"pending,omitempty"`
}

// Open returns a producer continuing the chain persisted in cfg.StateFile,
// or starting a new one when the file does not exist.
func Open(js jetstream.JetStream, cfg Config) (*Producer, error) {
	if cfg.StateFile == "" {
		return nil, errors.New("producer: StateFile is required")
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "audit.records"
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 250 * time.Millisecond
	}
	if cfg.Key != nil && (cfg.KeyID == "" || cfg.CheckpointEvery <= 0) {
		return nil, errors.New("producer: a Key needs a KeyID and CheckpointEvery > 0")
	}
	p := &Producer{js: js, cfg: cfg}
	data, err := os.ReadFile(cfg.StateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if p.cfg.Producer == "" {
			var b [8]byte
			rand.Read(b[:])
			p.cfg.Producer = "rt-" + hex.EncodeToString(b[:])
		}
	case err != nil:
		return nil, fmt.Errorf("producer: %w", err)
	default:
		var st fileState
		if err := json.Unmarshal(data, &st); err != nil || st.Version != 1 || st.Seq < 0 {
			return nil, fmt.Errorf("producer: %s: not a producer state file (version 1)", cfg.StateFile)
		}
		if p.cfg.Producer != "" && p.cfg.Producer != st.Producer {
			return nil, fmt.Errorf("producer: %s holds the chain of %q, not %q", cfg.StateFile, st.Producer, p.cfg.Producer)
		}
		h, err := hex.DecodeString(st.Head)
		if err != nil || (st.Seq > 0 && len(h) != 32) {
			return nil, fmt.Errorf("producer: %s: bad head", cfg.StateFile)
		}
		p.cfg.Producer, p.seq, p.pending = st.Producer, st.Seq, st.Pending
		copy(p.head[:], h)
	}
	if err := validID(p.cfg.Producer); err != nil {
		return nil, err
	}
	return p, nil
}

func validID(s string) error {
	if len(s) == 0 || len(s) > record.MaxChainIDBytes {
		return fmt.Errorf("producer: id %q must be 1 to 128 bytes", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return fmt.Errorf("producer: id %q must be printable ASCII without spaces", s)
		}
	}
	return nil
}

// ID is the producer id (chain.producer).
func (p *Producer) ID() string { return p.cfg.Producer }

// Head returns the seq and hash of the newest chained record.
func (p *Producer) Head() (int64, [32]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, p.head
}

// Publish completes r from input (input_shape, input_bytes and input_hash,
// when r does not carry them and input is not nil), chains it, persists the
// head and publishes it, retrying until acknowledged or ctx ends. r must
// be a valid record otherwise (required fields set; record.Reset starts
// one). A record still pending from an earlier failure is sent first. On
// error r is chained and pending: do not publish it again, call Flush.
func (p *Producer) Publish(ctx context.Context, r *record.Record, input []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.flush(ctx); err != nil {
		return err
	}
	if input != nil {
		if r.Invocation.InputShape == "" {
			r.Invocation.InputShape = shape.Of(input)
		}
		if r.Invocation.InputBytes == record.Absent {
			r.Invocation.InputBytes = int64(len(input))
		}
		if r.Invocation.InputHash == "" {
			sum := sha256.Sum256(input)
			r.Invocation.InputHash = "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	if r.SpanID == "" {
		return errors.New("producer: record without span_id (it is the publish deduplication id)")
	}
	seq := p.seq + 1
	var key ed25519.PrivateKey
	if p.cfg.Key != nil && (seq == 1 || seq%p.cfg.CheckpointEvery == 0) {
		key = p.cfg.Key
	}
	p.scratch = chain.Link(r, p.cfg.Producer, seq, p.head, p.cfg.KeyID, key, p.scratch)
	p.subj = ingest.AppendRecordSubject(p.subj[:0], p.cfg.SubjectPrefix, r.Context.Environment, r.AgentID)
	msg := &pendingMsg{Subject: string(p.subj), MsgID: r.SpanID, Data: string(r.AppendJSON(p.scratch[:0]))}
	// Write-ahead: the seq is spent once it is on disk.
	if err := p.persist(seq, r.Chain.Hash, msg); err != nil {
		return err
	}
	p.seq, p.head, p.pending = seq, r.Chain.Hash, msg
	return p.flush(ctx)
}

// Flush publishes the pending record, if any (after a failed Publish or a
// restart), retrying until acknowledged or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flush(ctx)
}

func (p *Producer) flush(ctx context.Context) error {
	m := p.pending
	if m == nil {
		return nil
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := p.js.Publish(actx, m.Subject, []byte(m.Data), jetstream.WithMsgID(m.MsgID))
		cancel()
		if err == nil {
			p.pending = nil
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("producer: publish seq %d: %w (pending; retried by the next Publish or Flush)", p.seq, err)
		case <-time.After(p.cfg.RetryWait):
		}
	}
}

// persist writes the state file atomically and durably.
func (p *Producer) persist(seq int64, head [32]byte, pending *pendingMsg) error {
	data, err := json.Marshal(fileState{Version: 1, Producer: p.cfg.Producer, Seq: seq,
		Head: hex.EncodeToString(head[:]), Pending: pending})
	if err != nil {
		return err
	}
	dir := filepath.Dir(p.cfg.StateFile)
	tmp, err := os.CreateTemp(dir, filepath.Base(p.cfg.StateFile)+".tmp*")
	if err != nil {
		return fmt.Errorf("producer: persist head: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.cfg.StateFile)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("producer: persist head: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync() // the rename itself
		d.Close()
		if err != nil {
			return fmt.Errorf("producer: persist head: sync %s: %w", dir, err)
		}
	}
	return nil
}
