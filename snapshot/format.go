// Package snapshot persists the daemon's learned state (detector
// baselines, alert manager, engine event time) together with the last
// applied JetStream stream sequence, so a restart resumes where the state
// left off: no record counted twice, none skipped.
//
// A snapshot is one self-checking byte string (format v2, below). Stores
// keep the newest snapshot and the one before it: FileStore (atomic
// rename, fsync) or ObjectStore (a JetStream object store bucket). Manager
// loads the newest VALID one: a corrupt or truncated snapshot is reported
// (log line, toolwatch_snapshot_load_failures_total{reason}) and the
// previous one is tried; when none is usable Load returns ErrNoSnapshot and
// the daemon rebuilds its baselines by replaying the stream.
//
// Snapshots are written as chains (delta.go): a snapshot is the base,
// and deltas after it hold only what changed since the previous link
// (Manager.SaveDelta; a new base after Config.FullEvery links or once the
// deltas outgrow Config.MaxDeltaRatio of the base). Load applies the
// newest base's deltas in order and stops at the first unusable one.
//
// Format v2, all integers big-endian:
//
//	off  size
//	0    6    magic "TWSNAP"
//	6    2    format version (2)
//	8    8    total length in bytes, checksum included
//	16   12   created_at: unix seconds int64, nanoseconds uint32 (wall clock, informational)
//	28   8    last_applied_seq uint64
//	36   12   watermark (event time), as created_at
//	48   2+n  toolwatch version: uint16 length, bytes
//	     4    section count uint32
//	     ...  per section, in strictly ascending name order:
//	          uint16 name length, name (1..255 printable ASCII bytes),
//	          uint64 data length, data
//	end  32   SHA-256 of every byte before it
//
// Each section's data is a versioned record of its component, written
// field by field with internal/encoding (docs/design.md §10). Format v1
// had the same container with gob-encoded sections; it is refused with
// ErrFormatV1 (reason "version"), and the daemon rebuilds its baselines by
// replaying the stream.
//
// Times are encoded as seconds and nanoseconds within years 0001..9999;
// the zero time.Time is seconds -62135596800, nanoseconds 0. The encoding is
// canonical: Decode accepts only what Encode produces, so a decoded
// snapshot re-encodes to the same bytes.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// FormatVersion is the version Encode writes and the only one Decode reads.
const FormatVersion = 2

const (
	magic       = "TWSNAP"
	fixedHeader = 16 // magic, version, total length
	sumSize     = sha256.Size
	maxName     = 255
	maxVersion  = 255
)

// Decode errors; test with errors.Is. Each maps to one `reason` label of
// toolwatch_snapshot_load_failures_total (see Reason).
var (
	ErrBadMagic    = errors.New("not a toolwatch snapshot (bad magic)")
	ErrVersion     = errors.New("unsupported snapshot format version")
	ErrTruncated   = errors.New("snapshot truncated")
	ErrChecksum    = errors.New("snapshot checksum mismatch")
	ErrMalformed   = errors.New("snapshot malformed")
	ErrNoSnapshot  = errors.New("no valid snapshot")
	errInvalidSnap = errors.New("invalid snapshot")

	// ErrFormatV1 (wrapping ErrVersion) is a snapshot of format 1, whose
	// sections were gob-encoded Go structs.
	ErrFormatV1 = fmt.Errorf("%w 1: written by a toolwatch before the explicit-record format (its sections are gob) and not read by this build", ErrVersion)
)

// Snapshot is the daemon's state at one point of the stream.
type Snapshot struct {
	// LastAppliedSeq: every stream sequence <= it is reflected in Sections.
	LastAppliedSeq uint64
	// Watermark is the engine's event time when the snapshot was taken.
	Watermark time.Time
	// CreatedAt is the wall-clock time of the snapshot (informational only).
	CreatedAt time.Time
	// Version is the toolwatch version that wrote it (informational).
	Version string
	// Sections are the components' MarshalState outputs by name
	// ("engine", "alerts", "detector/latency", ...). Encoded sorted by name.
	Sections map[string][]byte
}

var (
	minSec = time.Time{}.Unix()                                      // 0001-01-01
	maxSec = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix() // 9999-12-31
)

// Encode returns s in format v2.
func Encode(s *Snapshot) ([]byte, error) {
	if len(s.Version) > maxVersion {
		return nil, fmt.Errorf("encode snapshot: version string longer than %d bytes: %w", maxVersion, errInvalidSnap)
	}
	names := make([]string, 0, len(s.Sections))
	size := fixedHeader + 12 + 8 + 12 + 2 + len(s.Version) + 4 + sumSize
	for name, data := range s.Sections {
		if !validName(name) {
			return nil, fmt.Errorf("encode snapshot: section name %q: must be 1..%d printable ASCII bytes: %w", name, maxName, errInvalidSnap)
		}
		names = append(names, name)
		size += 2 + len(name) + 8 + len(data)
	}
	slices.Sort(names)
	b, err := appendHeader(make([]byte, 0, size), "snapshot", magic, FormatVersion, size, s.CreatedAt, s.LastAppliedSeq, s.Watermark)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Version)))
	b = append(b, s.Version...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		data := s.Sections[name]
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
		b = append(b, data...)
	}
	return appendSum(b), nil
}

// appendHeader appends the header a snapshot and a delta share: magic,
// version, total length, created_at, last_applied_seq and watermark; what
// ("snapshot", "delta") names the container in errors.
func appendHeader(b []byte, what, magic string, version uint16, size int, created time.Time, seq uint64, watermark time.Time) ([]byte, error) {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	var err error
	if b, err = appendTime(b, created); err != nil {
		return nil, fmt.Errorf("encode %s created_at: %w", what, err)
	}
	b = binary.BigEndian.AppendUint64(b, seq)
	if b, err = appendTime(b, watermark); err != nil {
		return nil, fmt.Errorf("encode %s watermark: %w", what, err)
	}
	return b, nil
}

// appendSum appends the SHA-256 of b, which closes a snapshot or delta.
func appendSum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// containerVersion checks the magic of a snapshot or delta b and returns
// its format version (to be checked by the caller before the body).
func containerVersion(b []byte, magic string) (uint16, error) {
	if len(b) < fixedHeader {
		if bytes.HasPrefix([]byte(magic), b[:min(len(b), len(magic))]) {
			return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), fixedHeader)
		}
		return 0, ErrBadMagic
	}
	if string(b[:len(magic)]) != magic {
		return 0, ErrBadMagic
	}
	return binary.BigEndian.Uint16(b[6:]), nil
}

// containerBody checks the declared length and the checksum of b (whose
// header containerVersion accepted) and returns b without its checksum.
func containerBody(b []byte) ([]byte, error) {
	total := binary.BigEndian.Uint64(b[8:])
	switch {
	case total > uint64(len(b)):
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, len(b), total)
	case total < uint64(len(b)):
		return nil, fmt.Errorf("%w: %d bytes after the declared length %d", ErrMalformed, uint64(len(b))-total, total)
	case total < fixedHeader+sumSize:
		return nil, fmt.Errorf("%w: declared length %d too short", ErrMalformed, total)
	}
	body, sum := b[:len(b)-sumSize], b[len(b)-sumSize:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, ErrChecksum
	}
	return body, nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	sec := t.Unix()
	if sec < minSec || sec > maxSec {
		return nil, fmt.Errorf("time %s outside years 1..9999: %w", t, errInvalidSnap)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond())), nil
}

// Decode parses and verifies a format v2 snapshot. Errors wrap ErrBadMagic,
// ErrVersion, ErrTruncated, ErrChecksum or ErrMalformed. The returned
// sections alias b.
func Decode(b []byte) (*Snapshot, error) {
	v, err := containerVersion(b, magic)
	if err != nil {
		return nil, err
	}
	if v == 1 {
		return nil, ErrFormatV1
	} else if v != FormatVersion {
		return nil, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, v, FormatVersion)
	}
	body, err := containerBody(b)
	if err != nil {
		return nil, err
	}
	r := reader{b: body, off: fixedHeader}
	s := &Snapshot{}
	s.CreatedAt, s.LastAppliedSeq, s.Watermark = r.header()
	s.Version = string(r.bytes(uint64(r.u16())))
	if len(s.Version) > maxVersion {
		r.fail("version string too long")
	}
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(body)-r.off)/11 { // 11: smallest section
		r.fail("section count exceeds the data")
	}
	if r.err == nil {
		s.Sections = make(map[string][]byte, n)
	}
	prev := ""
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := string(r.bytes(uint64(r.u16())))
		data := r.bytes(r.u64())
		if r.err != nil {
			break
		}
		if !validName(name) {
			r.fail(fmt.Sprintf("section %d: bad name %q", i, name))
		} else if i > 0 && name <= prev {
			r.fail(fmt.Sprintf("section %q: names not strictly ascending", name))
		}
		s.Sections[name] = data
		prev = name
	}
	if r.err == nil && r.off != len(body) {
		r.fail(fmt.Sprintf("%d bytes after the last section", len(body)-r.off))
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// reader walks a checksummed body. A structural problem there can only come
// from a writer bug (the checksum matched), so it is ErrMalformed.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, msg)
	}
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(fmt.Sprintf("field at offset %d runs past the end", r.off))
		return nil
	}
	out := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return out
}

func (r *reader) u16() uint16 {
	if p := r.bytes(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.bytes(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.bytes(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// header reads created_at, last_applied_seq and watermark.
func (r *reader) header() (created time.Time, seq uint64, watermark time.Time) {
	created = r.time()
	seq = r.u64()
	return created, seq, r.time()
}

func (r *reader) time() time.Time {
	sec, nsec := int64(r.u64()), r.u32()
	if r.err != nil {
		return time.Time{}
	}
	if sec < minSec || sec > maxSec || nsec >= 1e9 {
		r.fail(fmt.Sprintf("time %d.%09d out of range", sec, nsec))
		return time.Time{}
	}
	if sec == minSec && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// Reason is the bounded `reason` label for a load failure:
// "magic", "version", "truncated", "checksum", "malformed", "chain" or "io".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrBadMagic):
		return "magic"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrChain):
		return "chain"
	}
	return "io"
}
