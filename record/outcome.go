package record

// Outcome is what became of one record message. The detection engine,
// the pipeline and the ingest consumer all speak it, so an outcome passes
// from the engine to the consumer's metrics and dead-lettering unchanged.
type Outcome uint8

const (
	// Applied: a valid record, observed by every detector.
	Applied Outcome = iota
	// Late: a valid record older than the watermark (newest event time −
	// allowed lateness); counted, not applied, since its windows are
	// closed.
	Late
	// Invalid: not a valid record, or one stamped more than max_clock_skew
	// ahead of the wall clock; it belongs on the dead-letter subject with
	// the reason.
	Invalid
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Late:
		return "late"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}
