package group

import (
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `group` section. Disabled (the default), the daemon is a
// single consumer of the whole stream as before.
type Config struct {
	// Enabled makes this daemon a member of the partitioned consumer group
	// Name (needs ingest.mode jetstream and snapshot.store nats).
	Enabled bool `yaml:"enabled"`
	// Name of the group: prefix of the per-partition durable consumers, the
	// membership KV bucket and the snapshot objects.
	Name string `yaml:"name"`
	// Member is this daemon's name in the group, unique among members; ""
	// uses the host name.
	Member string `yaml:"member"`
	// Partitions is the number of partitions records are hashed into by
	// agent_id (the stream's subject transform). Every member must use the
	// same number; changing it needs a new stream (agents would move).
	Partitions int `yaml:"partitions"`
	// Heartbeat is how often a member renews its membership and leases.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// LeaseTTL: a member not heard of for this long is gone and its
	// partitions move. At least 3 heartbeats.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ShareInterval is how often each member publishes its partitions'
	// tool-level sketches to the sketch bucket and installs the others'
	// (share.go); 0 turns sharing off (tool baselines per partition).
	ShareInterval time.Duration `yaml:"share_interval"`
	// ShareMaxAge: a partition's sketches not republished for this long
	// (its owner gone and nobody took it over) are no longer used; the
	// sketch bucket's max age. At least 2 share intervals.
	ShareMaxAge time.Duration `yaml:"share_max_age"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Name: "toolwatch", Partitions: 12, Heartbeat: 2 * time.Second, LeaseTTL: 10 * time.Second,
		ShareInterval: 30 * time.Second, ShareMaxAge: 5 * time.Minute}
}

// MaxPartitions bounds Config.Partitions: each partition costs a durable
// consumer and a pipeline on its owner.
const MaxPartitions = 1024

// Validate checks ranges and names.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if !validName(c.Name, 32) {
		es.Addf("name", "must be 1..32 letters, digits, '-' or '_'")
	}
	if c.Member != "" && !validName(c.Member, 64) {
		es.Addf("member", "must be 1..64 letters, digits, '-' or '_' (or \"\" for the host name)")
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		es.Addf("partitions", "must be between 1 and %d", MaxPartitions)
	}
	es.DurationIn("heartbeat", c.Heartbeat, 100*time.Millisecond, time.Minute)
	es.DurationIn("lease_ttl", c.LeaseTTL, time.Second, 10*time.Minute)
	if c.LeaseTTL < 3*c.Heartbeat {
		es.Addf("lease_ttl", "must be at least 3 heartbeats (%s)", 3*c.Heartbeat)
	}
	if c.ShareInterval != 0 {
		es.DurationIn("share_interval", c.ShareInterval, time.Second, time.Hour)
	}
	es.DurationIn("share_max_age", c.ShareMaxAge, 2*time.Second, 24*time.Hour)
	if c.ShareInterval > 0 && c.ShareMaxAge < 2*c.ShareInterval {
		es.Addf("share_max_age", "must be at least 2 share intervals (%s)", 2*c.ShareInterval)
	}
	return es
}

// validName: a NATS subject token, KV key token and consumer name alike.
func validName(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
