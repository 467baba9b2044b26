// Package validate carries configuration validation errors that name the
// offending key path, so the config loader can add the YAML line.
package validate

import (
	"fmt"
	"strings"
	"time"
)

// FieldError is a problem with one configuration key. Path is dotted and
// relative to the section that produced it (e.g. "quantile"); the loader
// prefixes the section path ("detectors.latency.quantile").
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors collects FieldErrors.
type Errors []FieldError

// Addf records a problem at path.
func (es *Errors) Addf(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// DurationIn records a problem at path unless lo <= d <= hi; the bounds
// are printed as Go durations ("must be between 100ms and 5m0s"), the form
// the configuration file takes.
func (es *Errors) DurationIn(path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		es.Addf(path, "must be between %s and %s", lo, hi)
	}
}

// Prefix returns the errors with prefix+"." in front of each path.
func (es Errors) Prefix(prefix string) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = FieldError{Path: prefix + "." + e.Path, Msg: e.Msg}
	}
	return out
}

// Err returns nil when empty, else es.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}
