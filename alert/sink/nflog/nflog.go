// Package nflog is Toolwatch's notification log (like Alertmanager's
// nflog): which alert emissions each sink target has delivered, kept in a
// JetStream key-value bucket so it survives a crash of the daemon.
//
// Why: the daemon acks a record only after applying it, and snapshots its
// state every snapshot.interval. After a crash it restores the last
// snapshot and re-applies the records since; alert ids are deterministic
// (alert package), so those records raise the same alerts with the same
// ids. A sink queue asks the log before delivering (sink.NotificationLog)
// and skips what its target already got; it logs each delivery after it
// succeeded. A crash between a delivery and its log entry can still repeat
// that one alert: delivery stays at least once.
//
// Key: <alert id>.<status>.<severity>.<sink> where <sink> is 16 hex digits
// of SHA-256 of the sink target's name (webhook:host/path, nats, log). The
// bucket keeps one revision per key and expires entries after ttl, which
// bounds it: it only has to outlive the re-application window (one
// snapshot interval plus the downtime). The bucket is created on first use,
// so the daemon starts while NATS is down.
package nflog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/alert"
)

// Log implements sink.NotificationLog on a JetStream KV bucket.
type Log struct {
	js       jetstream.JetStream
	bucket   string
	ttl      time.Duration
	replicas int

	mu sync.Mutex
	kv jetstream.KeyValue
}

// New returns a log in bucket (created on first use with ttl and replicas).
func New(js jetstream.JetStream, bucket string, ttl time.Duration, replicas int) *Log {
	if replicas < 1 {
		replicas = 1
	}
	return &Log{js: js, bucket: bucket, ttl: ttl, replicas: replicas}
}

func (l *Log) store(ctx context.Context) (jetstream.KeyValue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kv != nil {
		return l.kv, nil
	}
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      l.bucket,
		Description: "Toolwatch notification log: alert ids delivered per sink target",
		History:     1,
		TTL:         l.ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    l.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("notification log bucket %s: %w", l.bucket, err)
	}
	l.kv = kv
	return kv, nil
}

// Delivered reports whether sink delivered a already.
func (l *Log) Delivered(ctx context.Context, sink string, a *alert.Alert) (bool, error) {
	kv, err := l.store(ctx)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, Key(sink, a))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("notification log get: %w", err)
}

// Log records that sink delivered a.
func (l *Log) Log(ctx context.Context, sink string, a *alert.Alert) error {
	kv, err := l.store(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, Key(sink, a), []byte(a.Fingerprint)); err != nil {
		return fmt.Errorf("notification log put: %w", err)
	}
	return nil
}

// Key is the bucket key of (sink, a); tokens outside the key alphabet
// (only possible for a hand-made alert) are replaced by their hash.
func Key(sink string, a *alert.Alert) string {
	h := sha256.Sum256([]byte(sink))
	return token(a.ID) + "." + token(a.Status) + "." + token(a.Severity) + "." + hex.EncodeToString(h[:8])
}

func token(s string) string {
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if ok {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(h[:8])
}
