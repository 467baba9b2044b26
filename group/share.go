package group

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Tool sketches. With records partitioned by agent, each partition learns
// a tool's baseline from its own agents only. Every share_interval each
// member puts, per owned partition and tool, one value holding that
// partition's sketches of the tool (one per sharing detector) into the
// sketch bucket, and merges for each of its partitions the latest
// sketches of all other partitions. Keys are per partition, not per
// member, so a partition's contribution is counted once wherever it
// runs: its new owner rewrites the same keys, and a partition never
// merges its own. A partition no one republishes for share_max_age (the
// bucket's max age) drops out.

// SketchBucket is the tool sketch bucket of group name.
func SketchBucket(name string) string { return "toolwatch-sketch-" + name }

// OpenSketchBucket opens or creates the sketch bucket.
func OpenSketchBucket(ctx context.Context, js jetstream.JetStream, cfg Config, replicas int) (jetstream.KeyValue, error) {
	return openKV(ctx, js, "sketch bucket", jetstream.KeyValueConfig{
		Bucket:      SketchBucket(cfg.Name),
		Description: "Toolwatch consumer group: tool-level baseline sketches per partition",
		TTL:         cfg.ShareMaxAge,
	}, replicas)
}

// sketchKey is partition p's key of tool: sketch.<p>.<tool, base64url>
// (a tool name may hold characters a key may not).
func sketchKey(p int, tool string) string {
	return sketchPrefix + strconv.Itoa(p) + "." + base64.RawURLEncoding.EncodeToString([]byte(tool))
}

const sketchPrefix = "sketch."

func parseSketchKey(k string) (p int, tool string, err error) {
	rest, ok := strings.CutPrefix(k, sketchPrefix)
	ps, enc, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return 0, "", fmt.Errorf("key %q: not sketch.<partition>.<tool>", k)
	}
	p, err = strconv.Atoi(ps)
	if err != nil || p < 0 || p >= MaxPartitions {
		return 0, "", fmt.Errorf("key %q: bad partition", k)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 {
		return 0, "", fmt.Errorf("key %q: bad tool", k)
	}
	return p, string(b), nil
}

// ToolSketches is one partition's sketches of one tool, by detector
// pattern.
type ToolSketches map[string][]byte

// Sketch value encoding:
//
//	u8 version (1) | uvarint n | (uvarint len, pattern, uvarint len, sketch) × n
//
// The sketches are the detectors' own encodings (detect.ToolSharer).
const sketchValueVersion = 1

// maxSketchValue bounds a value (also the largest a KV put may carry at
// the default max_payload).
const maxSketchValue = 1 << 20

// AppendSketches appends the value encoding of s, patterns in sorted
// order.
func AppendSketches(b []byte, s ToolSketches) []byte {
	b = append(b, sketchValueVersion)
	b = binary.AppendUvarint(b, uint64(len(s)))
	for _, pat := range sortedKeys(s) {
		b = binary.AppendUvarint(b, uint64(len(pat)))
		b = append(b, pat...)
		b = binary.AppendUvarint(b, uint64(len(s[pat])))
		b = append(b, s[pat]...)
	}
	return b
}

var errSketchValue = errors.New("malformed sketch value")

// DecodeSketches decodes a sketch value. The sketches alias b.
func DecodeSketches(b []byte) (ToolSketches, error) {
	if len(b) > maxSketchValue {
		return nil, fmt.Errorf("%d bytes: %w", len(b), errSketchValue)
	}
	if len(b) == 0 || b[0] != sketchValueVersion {
		return nil, fmt.Errorf("version: %w", errSketchValue)
	}
	b = b[1:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(n) : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("count: %w", errSketchValue)
	}
	b = b[k:]
	s := make(ToolSketches, n)
	for range n {
		pat, ok := field()
		if !ok || len(pat) == 0 {
			return nil, fmt.Errorf("pattern: %w", errSketchValue)
		}
		sk, ok := field()
		if !ok {
			return nil, fmt.Errorf("sketch of %q: %w", pat, errSketchValue)
		}
		if _, dup := s[string(pat)]; dup {
			return nil, fmt.Errorf("pattern %q twice: %w", pat, errSketchValue)
		}
		s[string(pat)] = sk
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes: %w", len(b), errSketchValue)
	}
	return s, nil
}

// Sharer keeps the latest sketch of every (partition, tool) from the
// sketch bucket (a watcher) and publishes this member's.
type Sharer struct {
	kv     jetstream.KeyValue
	maxAge time.Duration
	now    func() time.Time
	log    zerolog.Logger

	mu      sync.Mutex
	entries map[int]map[string]sketchEntry // partition → tool
	bad     uint64                         // values skipped as malformed
	synced  chan struct{}                  // closed once the initial values are in
	once    sync.Once
}

type sketchEntry struct {
	at time.Time // when written (server time, at most our receipt)
	s  ToolSketches
}

// NewSharer returns a sharer over kv; entries older than maxAge are not
// used (the bucket drops them too, but a watcher is not told).
func NewSharer(kv jetstream.KeyValue, maxAge time.Duration, now func() time.Time, log zerolog.Logger) *Sharer {
	return &Sharer{kv: kv, maxAge: maxAge, now: now, log: log.With().Str("component", "group-share").Logger(),
		entries: map[int]map[string]sketchEntry{}, synced: make(chan struct{})}
}

// Synced is closed once the bucket's values present at Watch were read.
func (s *Sharer) Synced() <-chan struct{} { return s.synced }

// Bad is the number of values skipped as malformed.
func (s *Sharer) Bad() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// Watch follows the bucket until ctx is cancelled. A malformed key or
// value is logged and skipped.
func (s *Sharer) Watch(ctx context.Context) error {
	w, err := s.kv.Watch(ctx, sketchPrefix+">")
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				s.once.Do(func() { close(s.synced) })
				continue
			}
			s.apply(e)
		}
	}
}

func (s *Sharer) apply(e jetstream.KeyValueEntry) {
	p, tool, err := parseSketchKey(e.Key())
	var v ToolSketches
	if err == nil && e.Operation() == jetstream.KeyValuePut {
		v, err = DecodeSketches(e.Value())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bad++
		s.log.Warn().Err(err).Str("key", e.Key()).Msg("tool sketch skipped")
		return
	}
	m := s.entries[p]
	if e.Operation() != jetstream.KeyValuePut {
		delete(m, tool)
		return
	}
	if m == nil {
		m = map[string]sketchEntry{}
		s.entries[p] = m
	}
	at := e.Created()
	if now := s.now(); at.After(now) {
		at = now // a server clock ahead of ours must not keep it longer
	}
	m[tool] = sketchEntry{at: at, s: v}
}

// Publish puts partition p's sketches (tool → pattern → sketch).
func (s *Sharer) Publish(ctx context.Context, p int, tools map[string]ToolSketches) error {
	var errs []error
	var b []byte
	for tool, ts := range tools {
		if tool == "" || len(ts) == 0 {
			continue
		}
		b = AppendSketches(b[:0], ts)
		if len(b) > maxSketchValue {
			errs = append(errs, fmt.Errorf("tool %q: sketches take %d bytes, more than %d", tool, len(b), maxSketchValue))
			continue
		}
		if _, err := s.kv.Put(ctx, sketchKey(p, tool), b); err != nil {
			errs = append(errs, fmt.Errorf("put %s: %w", sketchKey(p, tool), err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Others returns the latest sketches of every partition but p that are
// younger than maxAge, by pattern and tool: what partition p merges with
// its own.
func (s *Sharer) Others(p int) map[string]map[string][][]byte {
	out := map[string]map[string][][]byte{}
	oldest := s.now().Add(-s.maxAge)
	s.mu.Lock()
	defer s.mu.Unlock()
	for q, tools := range s.entries {
		if q == p {
			continue
		}
		for tool, e := range tools {
			if e.at.Before(oldest) {
				continue
			}
			for pat, sk := range e.s {
				m := out[pat]
				if m == nil {
					m = map[string][][]byte{}
					out[pat] = m
				}
				m[tool] = append(m[tool], sk)
			}
		}
	}
	return out
}

func sortedKeys(m ToolSketches) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
