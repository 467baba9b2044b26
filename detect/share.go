package detect

// ToolSharer is implemented by detectors whose tool-level baselines the
// members of a consumer group share (docs/design.md §3a): with records
// partitioned by agent, each partition learns a tool from its own agents
// only, so every share interval each partition exports its tools'
// sketches and installs a read-only view merged from the other
// partitions' latest ones. Both run on the detector's goroutine between
// records, never per record; a detector given no view (the single
// daemon) behaves exactly as without this interface.
type ToolSharer interface {
	Pattern() string
	// ToolSketches calls emit with each tool's sketch, an encoding only
	// the same detector's SetSharedTools reads; sketch is emit's to keep.
	ToolSketches(emit func(tool string, sketch []byte))
	// SetSharedTools replaces the view of the other partitions:
	// others[tool] holds their sketches of tool (never this partition's
	// own). A sketch that does not decode is skipped and reported in the
	// returned error; the rest still apply.
	SetSharedTools(others map[string][][]byte) error
}
