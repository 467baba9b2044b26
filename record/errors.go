package record

import (
	"errors"
	"unicode/utf8"
)

// Error is a decoding or validation failure. Field is the dotted JSON path of
// the offending field ("invocation.duration_ms"), or "record" for problems
// with the record as a whole (size, depth, syntax). Messages never contain
// record contents, so they are safe to log and to put in a dead-letter header.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// maxReasonLen bounds Reason for errors that did not come from this package.
const maxReasonLen = 256

// Reason returns a short, machine-friendly reason for err, suitable for the
// dead-letter header, e.g. "invocation.duration_ms: must be a number >= 0".
// It returns "" for a nil error.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	s := err.Error()
	if len(s) > maxReasonLen {
		n := maxReasonLen
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // do not cut a rune in half
		}
		s = s[:n]
	}
	return s
}

func fieldErr(field, reason string) error { return &Error{Field: field, Reason: reason} }
