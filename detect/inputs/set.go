package inputs

// Flags of a shape's hashset.Slot. Its Window is the DistinctWindow index
// in which the shape was last counted.
const (
	flagInjection uint8 = 1 << iota
	flagRepeat          // seen more than once (Good–Turing singletons lack it)
)
