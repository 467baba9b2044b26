package detect

// Generation numbers a detector's parameter sets, so that keys resolve
// their per-key configuration (Params.For) once per reload instead of per
// record: SetParams calls Next, a key keeps the Stamp it resolved under,
// and a key whose stamp is not Current resolves again on its next access.
// The zero Generation is usable and no Stamp of it is 0, so a new key (zero
// Stamp) is always stale. Not safe for concurrent use (engine goroutine).
type Generation struct {
	n     uint32 // Next calls; the current stamp is n+1
	swept uint32 // n when Swept was last called
}

// Stamp is the Generation a key's configuration was resolved under; 0:
// never resolved.
type Stamp uint32

// Next starts a new generation (SetParams): every key is stale.
func (g *Generation) Next() { g.n++ }

// Stamp is the current generation, for a key that just resolved.
func (g *Generation) Stamp() Stamp { return Stamp(g.n + 1) }

// Current reports whether a key stamped s is resolved under the current
// params.
func (g *Generation) Current(s Stamp) bool { return s == Stamp(g.n+1) }

// SweepDue reports whether a pass over every key is owed since the last
// Next (detectors whose ticks re-resolve every key once per reload, as
// eager ticks did); the pass ends with Swept.
func (g *Generation) SweepDue() bool { return g.swept != g.n }

// Swept records that every key was resolved under the current generation.
func (g *Generation) Swept() { g.swept = g.n }
