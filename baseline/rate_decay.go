package baseline

import "math"

// Closed-form decay of a quiet run (Rate.Settle): the products of the EWMA
// factors over k windows, from precomputed powers instead of k steps.

// powLen is the number of precomputed powers: a quiet run is settled an
// hour slot at a time, so windows of a minute or more never need more.
const powLen = 64

// powTable holds f^0 .. f^(powLen-1).
type powTable [powLen]float64

func newPowTable(f float64) powTable {
	var t powTable
	t[0] = 1
	for i := 1; i < powLen; i++ {
		t[i] = math.Pow(f, float64(i))
	}
	return t
}

// pow is f^n.
func (t *powTable) pow(n int64) float64 {
	if n < powLen {
		return t[n]
	}
	return math.Pow(t[1], float64(n))
}

// decayRun is the decay of an EWMA whose j-th update (j counted from 1,
// saturating at limit) has weight max(alpha, 1/j): a running mean first,
// then an EWMA.
type decayRun struct {
	// mean: the largest j whose weight is 1/j (j <= limit); rest: the
	// weight of every later update (alpha, or 1/limit once saturated).
	mean int64
	rest powTable // powers of 1 − the later weight
}

func newDecayRun(alpha float64, limit int64) decayRun {
	j := int64(limit)
	if alpha > 0 && 1/alpha < float64(limit) {
		j = int64(1 / alpha)
		for j > 1 && 1/float64(j) < alpha {
			j--
		}
		for j < limit && 1/float64(j+1) >= alpha {
			j++
		}
	}
	rest := alpha
	if j == limit {
		rest = max(alpha, 1/float64(limit))
	}
	return decayRun{mean: j, rest: newPowTable(1 - rest)}
}

// decay is Π (1 − max(alpha, 1/min(j, limit))) over j = w+1 .. w+n.
func (d *decayRun) decay(w, n int64) float64 {
	f := 1.0
	if n > 0 && w < d.mean {
		hi := min(w+n, d.mean)
		f = float64(w) / float64(hi) // Π (j−1)/j
		n -= hi - w
	}
	return f * d.rest.pow(n)
}
