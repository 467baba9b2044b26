package chain

import (
	"sort"
	"time"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.chain_integrity section of config.yaml. Override
// rules do not apply: chains are per producer, not per (agent, tool).
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Keys maps a checkpoint key id to the file holding the producer's
	// Ed25519 public key (PEM "PUBLIC KEY", 32 raw bytes, hex or base64).
	// The files are read when the config is validated (load and reload),
	// so a missing or bad key file rejects the config.
	Keys map[string]string `yaml:"keys"`
	// GapGrace: a missing seq is a gap once the watermark (newest event
	// time − time.allowed_lateness) passes the event time of the first
	// record after it plus this grace.
	GapGrace time.Duration `yaml:"gap_grace"`
	// MaxPending: out-of-order records held per producer; one more
	// declares the oldest gap at once.
	MaxPending int `yaml:"max_pending"`
	// History: newest seqs per producer whose hash is remembered, so a
	// redelivery is silent and a different record with such a seq is a fork.
	History int `yaml:"history"`
	// CheckpointEvery: more records than this since a producer's last
	// valid checkpoint is missing_checkpoint; 0 off.
	CheckpointEvery int64 `yaml:"checkpoint_every"`
	// CheckpointMaxAge: a record more than this event time after its
	// producer's last valid checkpoint is missing_checkpoint; 0 off.
	CheckpointMaxAge time.Duration `yaml:"checkpoint_max_age"`
	// MaxProducers caps producer (and chaining agent) states; the least
	// recently seen is evicted. IdleAfter evicts producers silent that long.
	MaxProducers int           `yaml:"max_producers"`
	IdleAfter    time.Duration `yaml:"idle_after"`

	keys core.Keys // loaded by Validate
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	p := core.DefaultParams()
	return Config{
		Enabled:          true,
		Keys:             map[string]string{},
		GapGrace:         p.GapGrace,
		MaxPending:       p.MaxPending,
		History:          p.History,
		CheckpointEvery:  p.CheckpointEvery,
		CheckpointMaxAge: p.CheckpointMaxAge,
		MaxProducers:     p.MaxProducers,
		IdleAfter:        p.IdleAfter,
	}
}

// Validate checks ranges and loads the key files.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.GapGrace < 0 || c.GapGrace > 24*time.Hour {
		es.Addf("gap_grace", "must be between 0s and 24h")
	}
	if c.MaxPending < 1 || c.MaxPending > 65536 {
		es.Addf("max_pending", "must be between 1 and 65536")
	}
	if c.History < 1 || c.History > 65536 {
		es.Addf("history", "must be between 1 and 65536")
	}
	if c.CheckpointEvery < 0 || c.CheckpointEvery > 1<<40 {
		es.Addf("checkpoint_every", "must be between 0 and 1099511627776")
	}
	if c.CheckpointMaxAge < 0 || c.CheckpointMaxAge > 365*24*time.Hour {
		es.Addf("checkpoint_max_age", "must be between 0s and 8760h")
	}
	if c.MaxProducers < 1 || c.MaxProducers > 10_000_000 {
		es.Addf("max_producers", "must be between 1 and 10000000")
	}
	if c.IdleAfter < 0 || c.IdleAfter > 365*24*time.Hour {
		es.Addf("idle_after", "must be between 0s and 8760h")
	}
	ids := make([]string, 0, len(c.Keys))
	for id := range c.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	c.keys = nil // no keys: equal to an unvalidated DefaultConfig
	if len(ids) > 0 {
		c.keys = make(core.Keys, len(ids))
	}
	for _, id := range ids {
		if len(id) == 0 || len(id) > 128 {
			es.Addf("keys", "key id %q must be 1 to 128 characters", id)
			continue
		}
		ks, err := core.LoadKeys(map[string]string{id: c.Keys[id]})
		if err != nil {
			es.Addf("keys."+id, "%v", err)
			continue
		}
		c.keys[id] = ks[id]
	}
	return es
}

// On implements detect.Section.
func (c *Config) On() bool { return c.Enabled }

func (c *Config) params() core.Params {
	return core.Params{History: c.History, MaxPending: c.MaxPending, GapGrace: c.GapGrace,
		CheckpointEvery: c.CheckpointEvery, CheckpointMaxAge: c.CheckpointMaxAge, MaxProducers: c.MaxProducers, IdleAfter: c.IdleAfter}
}
