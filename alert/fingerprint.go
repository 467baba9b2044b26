package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

// fpKey is the binary fingerprint: the first 8 bytes of the SHA-256 of the
// identity. The Manager keys its state by it so that the fold path builds
// no string.
type fpKey [8]byte

func (k fpKey) String() string { return hex.EncodeToString(k[:]) }

// appendField writes s length-prefixed, so no choice of field contents can
// make two different tuples hash the same bytes (a NUL separator could be
// forged by an agent_id containing NUL).
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// fingerprintKey hashes (pattern, agent_id, tool, detail) using scratch as
// the buffer; it returns the key and the (possibly grown) scratch.
func fingerprintKey(scratch []byte, pattern, agentID, tool, detail string) (fpKey, []byte) {
	b := appendField(scratch[:0], pattern)
	b = appendField(b, agentID)
	b = appendField(b, tool)
	b = appendField(b, detail)
	sum := sha256.Sum256(b)
	var k fpKey
	copy(k[:], sum[:8])
	return k, b
}

// Fingerprint returns the alert fingerprint of f: 16 lowercase hex digits,
// the first 8 bytes of SHA-256 over pattern, agent_id, tool and Detail, each
// written as a 4-byte big-endian length followed by its bytes.
func Fingerprint(f *detect.Finding) string {
	k, _ := fingerprintKey(make([]byte, 0, 64), f.Pattern, f.AgentID, f.Tool, f.Detail)
	return k.String()
}

// alertID derives the id of one emission: 16 hex digits of SHA-256 over the
// fingerprint, status, starts_at and event_time (Unix ns, big-endian) and
// the emission's sequence number within its firing episode. The sequence
// number keeps ids unique when two emissions share an event time (an
// escalation in the same millisecond, or cooldown 0).
func alertID(fp fpKey, status string, startsAt, eventTime time.Time, seq uint32) string {
	var b [8 + 1 + 8 + 8 + 4]byte
	n := copy(b[:], fp[:])
	n += copy(b[n:], status[:1]) // 'f' or 'r'
	binary.BigEndian.PutUint64(b[n:], uint64(startsAt.UnixNano()))
	n += 8
	binary.BigEndian.PutUint64(b[n:], uint64(eventTime.UnixNano()))
	n += 8
	binary.BigEndian.PutUint32(b[n:], seq)
	n += 4
	sum := sha256.Sum256(b[:n])
	return hex.EncodeToString(sum[:8])
}
