package inputs

// Flags of a shape's hashset.Slot. Its Window is the DistinctWindow index
// in which the shape was last counted.
const (
	flagInjection uint8 = 1 << iota
	flagRepeat          // seen more than once (Good–Turing singletons lack it)
	flagRef             // in the tool's long-term reference
	flagFlood           // learned from the agent of an opening: quarantined
)

// The upper nibble of Flags counts the distinct windows a shape was used
// in, saturating at maxUses (the reference admission rule).
const (
	usesShift       = 4
	usesMask  uint8 = 0xf << usesShift
	maxUses         = 15
)

func uses(f uint8) int { return int(f >> usesShift) }

func withUses(f uint8, n int) uint8 {
	return f&^usesMask | uint8(min(n, maxUses))<<usesShift
}
