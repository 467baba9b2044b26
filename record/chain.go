package record

import "encoding/hex"

// Chain is the optional tamper-evidence chain of a record (docs/design.md
// §2.1, package chain): per producer a sequence number, the hash of the
// previous record and the record's own hash, plus an optional signed
// checkpoint. Seq 0 means the record carries no chain.
type Chain struct {
	// Producer names one agent runtime instance: printable ASCII without
	// spaces, 1..MaxChainIDBytes bytes.
	Producer string
	// Seq counts the producer's records from 1, without gaps, up to MaxSeq
	// (2^53 − 1, exact in every JSON implementation).
	Seq int64
	// Prev is the hash of the record with Seq − 1; zero (and absent from
	// the JSON) at Seq 1.
	Prev [32]byte
	// Hash is SHA-256 over the record's chain input (AppendChainInput).
	Hash [32]byte
	// KeyID names the Ed25519 key of the checkpoint; "" when the record
	// carries none. Sig signs the checkpoint message (package chain).
	KeyID string
	Sig   [64]byte
}

// Chain field bounds.
const (
	// MaxSeq is 2^53 − 1, the largest integer every JSON reader keeps exact.
	MaxSeq = 1<<53 - 1
	// MaxChainIDBytes bounds chain.producer and chain.checkpoint.key_id.
	MaxChainIDBytes = 128
)

// Presence bits of the chain fields while decoding.
const (
	chainSeen = 1 << iota
	chainPrev
	chainHash
	chainCkpt
	chainKeyID
	chainSig
)

// chainID checks a producer or key id: printable ASCII, no space, so it
// needs no escaping in JSON and cannot contain the checkpoint message's
// separator.
func chainID(b []byte) string {
	if len(b) == 0 || len(b) > MaxChainIDBytes {
		return "must be 1 to 128 printable ASCII characters without spaces"
	}
	for _, c := range b {
		if c <= 0x20 || c >= 0x7f {
			return "must be 1 to 128 printable ASCII characters without spaces"
		}
	}
	return ""
}

// lowerHex decodes b, which must be exactly 2·len(dst) lowercase hex digits.
func lowerHex(b, dst []byte) bool {
	if len(b) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := hexVal[b[2*i]], hexVal[b[2*i+1]]
		if hi|lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// hexVal maps a lowercase hex digit to its value, anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range hexDigitsLC {
		t[c] = byte(i)
	}
	return t
}()

// checkChain validates a decoded chain object whose presence bits are seen.
func checkChain(c *Chain, seen uint8) error {
	if seen&chainSeen == 0 {
		return nil
	}
	switch {
	case c.Producer == "":
		return fieldErr("chain.producer", "required")
	case c.Seq == Absent:
		return fieldErr("chain.seq", "required")
	case c.Seq == 0:
		return fieldErr("chain.seq", "must be an integer >= 1")
	case seen&chainPrev == 0 && c.Seq > 1:
		return fieldErr("chain.prev", "required when chain.seq > 1")
	case seen&chainPrev != 0 && c.Seq == 1:
		return fieldErr("chain.prev", "must be absent when chain.seq is 1")
	case seen&chainHash == 0:
		return fieldErr("chain.hash", "required")
	case seen&chainCkpt != 0 && seen&chainKeyID == 0:
		return fieldErr("chain.checkpoint.key_id", "required")
	case seen&chainCkpt != 0 && seen&chainSig == 0:
		return fieldErr("chain.checkpoint.sig", "required")
	}
	return nil
}

const (
	seqTooBig   = "must be at most 9007199254740991"
	hash64      = "must be 64 lowercase hex digits"
	sig128      = "must be 128 lowercase hex digits"
	hexDigitsLC = "0123456789abcdef"
)

func appendHex(b []byte, src []byte) []byte { return hex.AppendEncode(b, src) }
