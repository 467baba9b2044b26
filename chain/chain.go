// Package chain makes audit trails tamper-evident: each producer (one agent
// runtime instance) links its records into a SHA-256 hash chain and
// periodically signs the chain head with Ed25519 (a checkpoint). The
// Verifier checks such chains as records stream by; the chain_integrity
// detector (detect/chain) and `detector verify` share it, so the live
// daemon and an offline audit agree.
//
// # Format (record field "chain", docs/design.md §2.1)
//
//	"chain": {"producer": "rt-7f3a", "seq": 42, "prev": "<64 hex>",
//	          "hash": "<64 hex>", "checkpoint": {"key_id": "k1", "sig": "<128 hex>"}}
//
// seq counts the producer's records from 1 without gaps (at most 2^53 − 1);
// prev is the hash of the record with seq − 1 and is absent at seq 1; hash
// and sig are lowercase hex.
//
// # What is hashed
//
// hash = SHA-256 of the record's chain input: the canonical JSON encoding
// (record.AppendJSON) with chain.hash and chain.checkpoint left out
// (record.AppendChainInput). The canonical encoding is one line with no
// whitespace; keys in the reference order of docs/design.md §2 (trace_id,
// span_id, parent_span_id, timestamp, agent_id, tool{name, version,
// publisher, trust_level, verification_score}, invocation{input_hash,
// output_hash, duration_ms, status, permissions_used, permissions_denied,
// output_bytes, input_bytes, input_shape}, context{task_id, user_id,
// data_classification, environment}, authorization_method,
// retention_policy, data_subjects_affected, immutability_proof,
// chain{producer, seq, prev}); absent optional fields (empty strings and
// arrays, missing numbers) and an all-empty context are omitted; unknown
// fields are dropped; the timestamp is UTC with exactly three fractional
// digits ("2026-03-23T14:30:00.123Z"); floats are written as Go's
// encoding/json writes them (shortest round-trip form, exponent only below
// 1e-6 or from 1e21 on), integers in decimal; strings are escaped as
// encoding/json does without HTML escaping (\" \\ \b \f \n \r \t, other
// control characters as \u00XX, U+2028/U+2029 as \u2028/\u2029, everything
// else verbatim UTF-8). A producer in another language builds exactly these
// bytes; chain/testdata/vectors.json holds worked examples.
//
// # Checkpoints
//
// A checkpoint signs the chain head up to and including its own record:
//
//	sig = Ed25519(key, "toolwatch-chain-v1\n" + producer + "\n" + decimal(seq) + "\n" + hex(hash))
//
// Because every hash covers prev, a valid checkpoint at seq n vouches for
// records 1..n. The producer id and key id are printable ASCII without
// spaces, so the message is unambiguous. Public keys are configured per key
// id (Keys, LoadKeys).
package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/toolwatch/toolwatch/record"
)

// MessagePrefix starts every checkpoint message (format version 1).
const MessagePrefix = "toolwatch-chain-v1\n"

// Hash returns the chain hash of r (SHA-256 of r.AppendChainInput) and the
// grown scratch buffer, which it reuses so the hot path does not allocate.
func Hash(r *record.Record, scratch []byte) ([32]byte, []byte) {
	scratch = r.AppendChainInput(scratch[:0])
	return sha256.Sum256(scratch), scratch
}

// AppendMessage appends the checkpoint message that signs head, the hash
// of the producer's record seq.
func AppendMessage(b []byte, producer string, seq int64, head [32]byte) []byte {
	b = append(b, MessagePrefix...)
	b = append(b, producer...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '\n')
	return hex.AppendEncode(b, head[:])
}

// Link sets r.Chain's producer, seq and prev (prev ignored at seq 1), then
// computes r.Chain.Hash; with key non-nil it also signs a checkpoint under
// keyID. It returns the scratch buffer for reuse.
func Link(r *record.Record, producer string, seq int64, prev [32]byte, keyID string, key ed25519.PrivateKey, scratch []byte) []byte {
	c := &r.Chain
	c.Producer, c.Seq, c.Prev = producer, seq, prev
	if seq == 1 {
		c.Prev = [32]byte{}
	}
	c.KeyID, c.Sig = "", [64]byte{}
	c.Hash, scratch = Hash(r, scratch)
	if key != nil {
		scratch = AppendMessage(scratch[:0], producer, seq, c.Hash)
		copy(c.Sig[:], ed25519.Sign(key, scratch))
		c.KeyID = keyID
	}
	return scratch
}

// VerifyCheckpoint reports whether sig signs (producer, seq, head) under pub.
func VerifyCheckpoint(pub ed25519.PublicKey, producer string, seq int64, head [32]byte, sig [64]byte, scratch []byte) (bool, []byte) {
	scratch = AppendMessage(scratch[:0], producer, seq, head)
	return ed25519.Verify(pub, scratch, sig[:]), scratch
}
