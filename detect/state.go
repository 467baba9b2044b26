package detect

// State is implemented by every detector (and by other single-goroutine
// parts of the pipeline) whose learned state must survive a restart
// (snapshots, docs/design.md §10).
//
// Encodings are explicit, versioned binary records (internal/encoding)
// and self-contained: a detector decodes only what it encoded, and a
// snapshot is either restored completely or rejected with an error (never
// half-applied).
type State interface {
	// MarshalState appends the complete state (every key, every window,
	// digest, sketch and schedule) to b.
	MarshalState(b []byte) ([]byte, error)
	// UnmarshalState replaces the state with the decoded one. On error the
	// previous state is left untouched.
	UnmarshalState(data []byte) error
}

// Capturer is a State whose snapshot splits in two so that taking it does
// not stall the goroutine that owns the state: CaptureState fixes the
// state as of that point on that goroutine, and the returned Encoder
// writes it on any goroutine, later, while the owner goes on. The big key
// stores are captured copy-on-write (baseline.Capture): CaptureState
// returns at once, the owner copies a key just before it first changes
// it, and the Encoder copies the rest. Call the Encoder once; until it
// ran, the owner keeps copying the keys it touches (the next CaptureState
// completes an abandoned capture first). MarshalState(b) equals
// CaptureState() followed by the Encoder on b.
type Capturer interface {
	CaptureState() (Encoder, error)
}

// Encoder appends a captured state's encoding to b.
type Encoder func(b []byte) ([]byte, error)

// MarshalCaptured is MarshalState for a Capturer: the capture encoded at
// once, appended to b.
func MarshalCaptured(c Capturer, b []byte) ([]byte, error) {
	enc, err := c.CaptureState()
	if err != nil {
		return b, err
	}
	return enc(b)
}

// KeyStore is what Stats reads of a key store (baseline.Store).
type KeyStore interface {
	Len() int
	Evictions() (idle, capacity uint64)
}

// StoreStats is Stats.KeyStats summed over a detector's key stores.
func StoreStats(stores ...KeyStore) (live int, idle, capacity uint64) {
	for _, s := range stores {
		i, c := s.Evictions()
		live, idle, capacity = live+s.Len(), idle+i, capacity+c
	}
	return live, idle, capacity
}

// DeltaCapturer is a Capturer whose snapshots can be incremental: a full
// base, then deltas holding only the keys changed since the previous
// capture (docs/design.md §10). Only the snapshot writer may capture a
// DeltaCapturer: a delta is relative to the previous capture of any kind,
// so a capture that is not stored breaks the chain (the writer then takes
// a base).
type DeltaCapturer interface {
	Capturer
	// CaptureBase is CaptureState that also returns order, the encoder of
	// the key positions later deltas are merged by (a sidecar record).
	CaptureBase() (state, order Encoder, err error)
	// CaptureDelta captures what changed since the previous capture. ok is
	// false when it cannot (no capture since the state was built or
	// restored, or every key changed: a new baseline epoch); take
	// CaptureBase instead.
	CaptureDelta() (delta Encoder, ok bool, err error)
	// RestoreChain replaces the state with base (its order record) and the
	// deltas applied in order. On error the state is unchanged.
	RestoreChain(base, order []byte, deltas [][]byte) error
}
