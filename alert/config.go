package alert

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `alerts` section: severity bands and the lifecycle timers.
// All durations are event time.
type Config struct {
	// Bands: minimum score of each severity; scores below Info raise nothing.
	Bands Bands `yaml:"bands"`
	// Cooldown folds repeats of a firing fingerprint into it: a repeat less
	// than Cooldown after the fingerprint's last emission is counted, not
	// sent, unless its severity is higher. 0 disables folding.
	Cooldown time.Duration `yaml:"cooldown"`
	// ResolveAfter resolves a firing alert not seen again for this long.
	ResolveAfter time.Duration `yaml:"resolve_after"`
	// MaxFiring caps the fingerprints tracked as firing. A finding for a new
	// fingerprint at the cap is dropped and counted (Counter.Rejected), so an
	// alert storm cannot grow memory without bound. 0 means unlimited.
	MaxFiring int `yaml:"max_firing"`
	// TraceURL is the link template of an alert's trace (see links.go);
	// "" sends no trace_url.
	TraceURL string `yaml:"trace_url"`
	// RunbookURLs are link templates of each pattern's runbook.
	RunbookURLs RunbookURLs `yaml:"runbook_urls"`
}

// Bands are the score thresholds of the severities; each is the inclusive
// lower bound of its severity.
type Bands struct {
	Info     float64 `yaml:"info"`
	Warning  float64 `yaml:"warning"`
	Critical float64 `yaml:"critical"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Bands:        Bands{Info: 40, Warning: 60, Critical: 80},
		Cooldown:     15 * time.Minute,
		ResolveAfter: 30 * time.Minute,
		MaxFiring:    10000,
	}
}

// Validate checks ranges: 0 <= info < warning < critical <= 100.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	b := c.Bands
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(b.Info) || b.Info < 0 || b.Info > 100:
		es.Addf("bands.info", "must be between 0 and 100")
	case !finite(b.Warning) || b.Warning <= b.Info:
		es.Addf("bands.warning", "must be greater than bands.info (%g)", b.Info)
	case !finite(b.Critical) || b.Critical <= b.Warning:
		es.Addf("bands.critical", "must be greater than bands.warning (%g)", b.Warning)
	case b.Critical > 100:
		es.Addf("bands.critical", "must be <= 100")
	}
	if c.Cooldown < 0 || c.Cooldown > 24*time.Hour {
		es.Addf("cooldown", "must be between 0s and 24h")
	}
	if c.ResolveAfter < time.Second || c.ResolveAfter > 7*24*time.Hour {
		es.Addf("resolve_after", "must be between 1s and 168h")
	}
	if c.MaxFiring < 0 || c.MaxFiring > 10000000 {
		es.Addf("max_firing", "must be between 0 and 10000000 (0 means unlimited)")
	}
	c.validateLinks(func(path, msg string) { es.Addf(path, "%s", msg) })
	return es
}

// severity ranks, lowest first; rankNone is below the info band.
const (
	rankNone uint8 = iota
	rankInfo
	rankWarning
	rankCritical
)

var severityNames = [...]string{rankNone: SeverityNone, rankInfo: SeverityInfo, rankWarning: SeverityWarning, rankCritical: SeverityCritical}

// rank maps a score to a severity rank. NaN ranks none.
func (b Bands) rank(score float64) uint8 {
	switch {
	case score >= b.Critical:
		return rankCritical
	case score >= b.Warning:
		return rankWarning
	case score >= b.Info:
		return rankInfo
	default: // below the info band, or NaN
		return rankNone
	}
}

// Severity returns the severity of score, or SeverityNone below the info band.
func (b Bands) Severity(score float64) string { return severityNames[b.rank(score)] }
