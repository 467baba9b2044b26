package baseline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `baseline` section, shared by all detectors.
type Config struct {
	// MemoryLimit is the heap budget for per-key baselines (like Elastic
	// ML's model_memory_limit): it sets the key cap of every detector's
	// stores to MemoryLimit / KeyBytes(Compression). 0: no budget.
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// MaxKeys, when > 0, caps live keys per detector store explicitly and
	// overrides MemoryLimit. At the cap a new key evicts the least
	// recently seen one.
	MaxKeys int `yaml:"max_keys"`
	// IdleTTL evicts keys not seen for this long (event time).
	IdleTTL time.Duration `yaml:"idle_ttl"`
	// Compression is the t-digest compression (accuracy vs memory).
	Compression float64 `yaml:"compression"`
	// Epoch is how long one baseline epoch lasts; distributions keep the
	// previous and the current epoch, so old behaviour ages out after two.
	Epoch time.Duration `yaml:"epoch"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MemoryLimit: 512 << 20, IdleTTL: 7 * 24 * time.Hour, Compression: 25, Epoch: 24 * time.Hour}
}

// KeyBytes is the heap one live (agent, tool) key costs summed over all
// detectors (rate windows and profiles, two t-digest distributions with
// their centroid lists, raw buffers and tail state, store bookkeeping) at
// t-digest compression c, once its digests hold two full epochs. Fitted to
// BenchmarkStatePerKey in package pipeline (issue 13: keyfit, compression
// 25: mature keys 3,927 bytes, their packed centroid lists 555 of it,
// and 4,035 once the level memory held the daily rhythm share and the
// spread memory;
// young keys see BENCHMARKS.md), for the costliest mature key: one that
// was also denied (its denial rate materialised, +640) and changed tool
// version (a second latency slot, +128), 4,803 bytes. That is a fixed
// 4,248 bytes plus 2 distributions × 2 epochs × (2c+2) centroids of 7
// packed bytes (the most measured: log-normal bodies of a million values
// an epoch, 6.75; 4–6 at ordinary counts) with up to 1/8 of allocator
// size-class slack (32 bytes per centroid for the four lists), so full
// lists fit. Younger keys, and keys never denied, cost less than this.
// Since the stores index keys by hash to 16-byte slots instead of 40-byte
// (key, pointer) ones (issue 13: keys1m: mature keys 4,047 → 3,845 bytes),
// the fixed part is 136 bytes less: the smallest saving of the five
// (agent, tool) stores, 24 bytes a slot at the maps' fullest (7/8).
func KeyBytes(compression float64) int64 {
	return 4112 + 32*(2*int64(math.Ceil(compression))+2)
}

// KeyCap is the key cap of each detector store: MaxKeys when set, else
// MemoryLimit / KeyBytes(Compression) (at least 1), else 0 (unlimited).
func (c *Config) KeyCap() int {
	switch {
	case c.MaxKeys > 0:
		return c.MaxKeys
	case c.MemoryLimit > 0:
		return int(max(1, int64(c.MemoryLimit)/KeyBytes(c.Compression)))
	}
	return 0
}

// Validate checks ranges.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < 1<<20) {
		es.Addf("memory_limit", "must be 0 (no budget) or at least 1MiB")
	}
	if c.MaxKeys < 0 {
		es.Addf("max_keys", "must be >= 0 (0: set by memory_limit)")
	}
	if c.IdleTTL < 0 {
		es.Addf("idle_ttl", "must be >= 0s (0 means never)")
	}
	if c.Compression < 5 || c.Compression > 1000 {
		es.Addf("compression", "must be between 5 and 1000")
	}
	if c.Epoch < time.Minute {
		es.Addf("epoch", "must be >= 1m")
	}
	return es
}

// ByteSize is a number of bytes written as an integer with an optional
// unit: B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers
// of 1000), e.g. "512MiB".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size such as 512MiB (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", text)
	}
	*b = ByteSize(n * mult)
	return nil
}

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- {
		if m := byteUnits[i].mult; b != 0 && int64(b)%m == 0 {
			return strconv.FormatInt(int64(b)/m, 10) + byteUnits[i].suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
