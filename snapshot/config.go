package snapshot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Store kinds.
const (
	StoreFile = "file" // FileStore at Path
	StoreNATS = "nats" // ObjectStore in Bucket (JetStream object store)
)

// Config is the `snapshot` section.
type Config struct {
	// Enabled writes snapshots every Interval and on shutdown, and restores
	// the newest valid one on start.
	Enabled bool `yaml:"enabled"`
	// Store is "file" (Path) or "nats" (a JetStream object store Bucket).
	Store string `yaml:"store"`
	// Path of the snapshot file; the previous one is kept at Path+".prev".
	Path string `yaml:"path"`
	// Bucket is the JetStream object store bucket (store "nats").
	Bucket string `yaml:"bucket"`
	// Interval between periodic snapshots.
	Interval time.Duration `yaml:"interval"`
	// FullEvery: at most this many snapshots per chain, its base
	// included; the others are deltas (keys changed since the previous
	// one). 1 writes every snapshot whole.
	FullEvery int `yaml:"full_every"`
	// MaxDeltaRatio: a new base once the chain's deltas add up to more
	// than this fraction of its base's size.
	MaxDeltaRatio float64 `yaml:"max_delta_ratio"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:  true,
		Store:    StoreFile,
		Path:     "./data/toolwatch.snapshot",
		Bucket:   "toolwatch-snapshots",
		Interval: time.Minute,

		FullEvery:     60,
		MaxDeltaRatio: 0.5,
	}
}

// Validate checks ranges; paths are relative to `snapshot`.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	switch c.Store {
	case StoreFile:
		if strings.TrimSpace(c.Path) == "" {
			es.Addf("path", "must not be empty when store is file")
		}
	case StoreNATS:
	default:
		es.Addf("store", "must be file or nats")
	}
	if !validBucket(c.Bucket) {
		es.Addf("bucket", "must be 1..64 letters, digits, '-' or '_'")
	}
	es.DurationIn("interval", c.Interval, 5*time.Second, 24*time.Hour)
	if c.FullEvery < 1 || c.FullEvery > 10000 {
		es.Addf("full_every", "must be 1..10000")
	}
	if !(c.MaxDeltaRatio > 0 && c.MaxDeltaRatio <= 10) {
		es.Addf("max_delta_ratio", "must be in (0, 10]")
	}
	return es
}

func validBucket(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Open returns the Store cfg selects. js is needed only for store "nats";
// replicas is the bucket's replica count when it has to be created.
func Open(ctx context.Context, cfg Config, js jetstream.JetStream, replicas int) (Store, error) {
	switch cfg.Store {
	case StoreFile:
		return &FileStore{Path: cfg.Path}, nil
	case StoreNATS:
		if js == nil {
			return nil, errors.New("snapshot store nats: no JetStream connection")
		}
		return OpenObjectStore(ctx, js, cfg.Bucket, replicas)
	}
	return nil, errors.New("snapshot store: must be file or nats, got " + cfg.Store)
}
