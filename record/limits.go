package record

import "github.com/toolwatch/toolwatch/internal/validate"

// Upper bounds on values: beyond them a record is invalid (dead-lettered
// with a reason naming the field), so an absurd value can neither skew a
// baseline nor raise an alert whose evidence is noise.
const (
	// MaxDurationMS is 7 days: no tool call legitimately runs longer.
	MaxDurationMS = 7 * 24 * 3600 * 1000
	// MaxBytes (1 TiB) bounds invocation.output_bytes and input_bytes.
	MaxBytes = 1 << 40
	// MaxCount (10^10, more than everyone alive) bounds
	// data_subjects_affected.
	MaxCount = 10_000_000_000
)

// Limits bound what the decoder accepts (config section `limits`).
type Limits struct {
	MaxRecordBytes int `yaml:"max_record_bytes"` // default 65536
	MaxDepth       int `yaml:"max_depth"`        // JSON nesting depth, default 16
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits { return Limits{MaxRecordBytes: 64 << 10, MaxDepth: 16} }

// Validate checks ranges.
func (l *Limits) Validate() validate.Errors {
	var es validate.Errors
	if l.MaxRecordBytes < 512 || l.MaxRecordBytes > 16<<20 {
		es.Addf("max_record_bytes", "must be between 512 and 16777216")
	}
	if l.MaxDepth < 3 || l.MaxDepth > 256 {
		es.Addf("max_depth", "must be between 3 and 256")
	}
	return es
}
