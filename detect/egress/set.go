package egress

// Flags of a destination's hashset.Slot (its Window is unused).
const (
	flagCoarse  uint8 = 1 << iota // a domain, not an exact destination
	flagRepeat                    // used more than once (Good–Turing singletons lack it)
	flagSourced                   // learned when an earlier output of its task named it
)
