package detect

import "github.com/toolwatch/toolwatch/baseline"

// Baseline is what one detector has learned about one key, for `detector
// baselines` and GET /api/baselines. Each detector fills it from the same
// functions that build its findings' details, so a value here carries the
// name and the rounding it has in an alert's details.
type Baseline struct {
	Pattern string `json:"pattern"`
	Agent   string `json:"agent"` // "": the tool's baseline over all agents
	Tool    string `json:"tool"`
	// Warm: the key has enough history to be judged on its own.
	Warm bool `json:"warm"`
	// JudgedBy names the baseline the key's next record is judged against
	// (the detector's baseline_scope or baseline source); "" while nothing
	// can judge it (warm-up).
	JudgedBy string         `json:"judged_by"`
	Unit     string         `json:"unit,omitempty"`
	Parts    []BaselinePart `json:"parts"`
}

// BaselinePart is one learned model of a key: a version slot, a time
// scale, a loop or drop model, a set of known shapes.
type BaselinePart struct {
	Name   string         `json:"name"`
	Values map[string]any `json:"values"`
}

// Inspector is a detector whose baselines can be read per key. Both
// methods are read-only as far as detection goes (they may refresh a
// cached quantile or tail fit exactly as the next record would) and, like
// Observe, must run on the engine's goroutine.
type Inspector interface {
	Pattern() string
	// Inspect returns the baseline of (agent, tool); agent "" asks for the
	// tool's baseline over all agents. ok is false for an unknown key.
	Inspect(agent, tool string) (b Baseline, ok bool)
	// BaselineKeys lists the keys Inspect knows, agent "" for tool-level
	// ones, in no particular order.
	BaselineKeys() []Key
}

// Key names a baseline: an (agent, tool) pair or, with Agent "", a tool.
type Key struct{ Agent, Tool string }

// StoreKeys lists the keys of a detector's (agent, tool) store followed by
// those of its tool store (keyed by baseline.Key or by tool name), for
// Inspector.BaselineKeys.
func StoreKeys[V, T any, TK baseline.Key | string](keys *baseline.Store[baseline.Key, V], tools *baseline.Store[TK, T]) []Key {
	ks := make([]Key, 0, keys.Len()+tools.Len())
	keys.RangeKeys(func(k baseline.Key) bool { // not an access: no delta copies them
		ks = append(ks, Key{Agent: k.Agent, Tool: k.Tool})
		return true
	})
	tools.RangeKeys(func(k TK) bool {
		switch t := any(k).(type) {
		case baseline.Key:
			ks = append(ks, Key{Tool: t.Tool})
		case string:
			ks = append(ks, Key{Tool: t})
		}
		return true
	})
	return ks
}

// ToolQuantiler is a detector that learns one distribution per tool
// (latency, output size); the status page shows its quantiles.
type ToolQuantiler interface {
	Pattern() string
	// ToolQuantiles reports the tool-level baseline of tool; ok is false
	// for an unknown tool. Engine goroutine only.
	ToolQuantiles(tool string) (q baseline.Quantiles, ok bool)
}

// ToolShaper is a detector that counts the distinct input shapes of a
// tool; the status page shows the count.
type ToolShaper interface {
	Pattern() string
	// ToolShapes reports the distinct shapes tool is known to receive; ok
	// is false for an unknown tool. Engine goroutine only.
	ToolShapes(tool string) (n int, ok bool)
}

// Find returns the detector of pattern among ds as a T, if it is one.
func Find[T interface{ Pattern() string }](ds []Detector, pattern string) (T, bool) {
	for _, d := range ds {
		if d.Pattern() == pattern {
			t, ok := d.(T)
			return t, ok
		}
	}
	var zero T
	return zero, false
}
