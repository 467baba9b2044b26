package otlp

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/toolwatch/toolwatch/shape/dest"
)

// destinations reads a hashed-destination attribute (attributes.destinations
// or attributes.output_destinations: a string array or a comma-separated
// string) for the record field named field. Every value must have the form
// dest.Valid accepts ("email:<32 hex>"): a runtime that sends a raw address
// by mistake gets the span rejected, so the value never enters the audit
// trail; the reason gives the value's position, never the value. At most
// dest.MaxOutput values.
func (m *mapper) destinations(dst []string, names []string, span, res pcommon.Map, field string) ([]string, *rejection) {
	dst, ok := m.strings(dst, names, span, res)
	if !ok {
		return dst[:0], reject(field, "attribute is not a string or string array")
	}
	if len(dst) > dest.MaxOutput {
		return dst[:0], reject(field, fmt.Sprintf("more than %d values", dest.MaxOutput))
	}
	for i, d := range dst {
		if !dest.Valid(d) {
			return dst[:0], reject(field, fmt.Sprintf("value %d is not a hashed destination (type:<32 lower-case hex digits>); send hashes, never raw values", i+1))
		}
	}
	return dst, nil
}
