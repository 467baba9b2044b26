package baseline

import (
	"cmp"
	"fmt"
	"slices"
)

// Chain rebuilds a store's capture from a full capture and the delta
// captures taken after it (CaptureDelta), each with the positions
// FinishSeq returned: a key's position changes only when the key is
// accessed, so a key missing from a delta keeps the one it had. The
// result equals a full capture at the last delta's point, in the same
// recency order.
type Chain[K comparable, E any] struct {
	key  func(*E) K
	at   map[K]int // index into es
	es   []E
	seqs []int64
	live []bool
	n    int // live entries
}

// NewChain starts a chain from a full capture: es with their positions,
// strictly descending.
func NewChain[K comparable, E any](es []E, seqs []int64, key func(*E) K) (*Chain[K, E], error) {
	if len(es) != len(seqs) {
		return nil, fmt.Errorf("chain: %d entries, %d positions", len(es), len(seqs))
	}
	c := &Chain[K, E]{key: key, at: make(map[K]int, len(es)), es: es, seqs: seqs, live: make([]bool, len(es))}
	for i := range es {
		if i > 0 && seqs[i] >= seqs[i-1] {
			return nil, fmt.Errorf("chain: positions not strictly descending at entry %d", i)
		}
		k := key(&es[i])
		if _, dup := c.at[k]; dup {
			return nil, fmt.Errorf("chain: duplicate key %v", k)
		}
		c.at[k], c.live[i] = i, true
	}
	c.n = len(es)
	return c, nil
}

// Apply applies one delta: tombs are removed first (each must be live),
// then es (with their positions) replace or add their keys.
func (c *Chain[K, E]) Apply(tombs []K, es []E, seqs []int64) error {
	if len(es) != len(seqs) {
		return fmt.Errorf("chain delta: %d entries, %d positions", len(es), len(seqs))
	}
	for _, k := range tombs {
		i, ok := c.at[k]
		if !ok {
			return fmt.Errorf("chain delta: tombstone for key %v not in the state", k)
		}
		delete(c.at, k)
		c.live[i] = false
		c.n--
	}
	for i := range es {
		k := c.key(&es[i])
		if j, ok := c.at[k]; ok {
			c.es[j], c.seqs[j] = es[i], seqs[i]
			continue
		}
		c.at[k] = len(c.es)
		c.es, c.seqs, c.live = append(c.es, es[i]), append(c.seqs, seqs[i]), append(c.live, true)
		c.n++
	}
	return nil
}

// Each calls fn for every live entry, in no particular order, until fn
// fails; fn may change the entry but not its key (a detector settling
// the keys a delta does not hold, as its capture did).
func (c *Chain[K, E]) Each(fn func(*E) error) error {
	for i := range c.es {
		if c.live[i] {
			if err := fn(&c.es[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Result returns the live entries in recency order and their positions.
// Two keys at one position mean a delta did not follow its predecessor.
func (c *Chain[K, E]) Result() ([]E, []int64, error) {
	idx := make([]int, 0, c.n)
	for i, ok := range c.live {
		if ok {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(c.seqs[b], c.seqs[a]) })
	es, seqs := make([]E, len(idx)), make([]int64, len(idx))
	for i, j := range idx {
		if i > 0 && c.seqs[j] == seqs[i-1] {
			return nil, nil, fmt.Errorf("chain: two keys at position %d", c.seqs[j])
		}
		es[i], seqs[i] = c.es[j], c.seqs[j]
	}
	return es, seqs, nil
}
