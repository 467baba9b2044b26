package baseline

import "fmt"

// Snapshot framing shared by the rate detectors (frequency, denials). Their
// State types stay in their packages: gob writes type and field names, so
// the types are the encoding.

// AppendSnapshot appends st to b (AppendGob); errors are prefixed with
// what, e.g. "frequency state".
func AppendSnapshot(b []byte, what string, st any) ([]byte, error) {
	b, err := AppendGob(b, st)
	if err != nil {
		return b, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// DecodeSnapshot decodes data (DecodeGob) into st, a fresh value, and
// checks that its version, *version (a field of st), is want; errors are
// prefixed with what. On error st must be discarded.
func DecodeSnapshot(data []byte, what string, st any, version *int, want int) error {
	if err := DecodeGob(data, st); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if *version != want {
		return fmt.Errorf("%s: version %d, want %d", what, *version, want)
	}
	return nil
}
