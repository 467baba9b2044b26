package detect

// State is implemented by every detector (and by other single-goroutine
// parts of the pipeline) whose learned state must survive a restart
// (snapshots, issue "baselines that survive restarts").
//
// Encodings are versioned and self-contained: a detector decodes only what
// it encoded, and a snapshot of version N is either restored completely or
// rejected with an error (never half-applied).
type State interface {
	// MarshalState appends the complete state (every key, every window,
	// digest, sketch and schedule) to b.
	MarshalState(b []byte) ([]byte, error)
	// UnmarshalState replaces the state with the decoded one. On error the
	// previous state is left untouched.
	UnmarshalState(data []byte) error
}
