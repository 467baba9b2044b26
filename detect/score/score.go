// Package score is the one severity scale every detector scores on: how
// improbable an observation is under the baseline it was judged against,
// as Elastic ML's anomaly score does, so the severity bands mean the same
// thing for every pattern.
//
// # Scale
//
// A detector computes p, the probability under its baseline of an
// observation at least as extreme as the one seen (a tail probability:
// P(X ≥ x) of a fitted tail, a Poisson upper tail, a drift test's p-value,
// or a documented odds bound for a first-seen categorical value). With
// L = −log10 p:
//
//	score = clamp(10·(L − 2), 0, 100)
//
// so L = 6 (one in a million) scores 40, the default info band; L = 8
// scores 60 (warning); L = 10 scores 80 (critical); L ≥ 12 scores 100.
// A detector's false_alarm_rate knob is the largest p it reports: at the
// default 1e-6 a key of normal traffic raises about one finding per million
// of its observations, which is at the info band by construction.
//
// # Risk priors
//
// Prior raises L by a documented number of decades for records whose
// failure would cost more: an unverified or bronze tool, and confidential or
// restricted data in production. It only ever raises a score that already
// crossed the detector's alerting threshold (detectors decide whether to
// report on p alone), so priors change severity, never the false-alarm
// rate.
package score

import "math"

// PerDecade is the number of score points one decade of improbability adds.
const PerDecade = 10

// Offset is the number of decades that score zero.
const Offset = 2

// MinP is the smallest probability represented; anything below scores 100.
const MinP = 1e-300

// FromP maps a tail probability to the 0–100 scale. p ≥ 1 scores 0; p ≤ 0
// or NaN is treated as MinP (a certain anomaly) only for p ≤ 0; NaN scores 0.
func FromP(p float64) float64 {
	if math.IsNaN(p) {
		return 0
	}
	if p <= MinP {
		p = MinP
	}
	return FromDecades(-math.Log10(p))
}

// FromDecades maps L = −log10 p to the 0–100 scale.
func FromDecades(l float64) float64 {
	if math.IsNaN(l) {
		return 0
	}
	return clamp(PerDecade * (l - Offset))
}

// Decades returns −log10 p, capped to the representable range.
func Decades(p float64) float64 {
	if math.IsNaN(p) || p >= 1 {
		return 0
	}
	if p <= MinP {
		p = MinP
	}
	return -math.Log10(p)
}

// PForScore inverts FromP: the tail probability that scores s (0 < s < 100).
func PForScore(s float64) float64 {
	return math.Pow(10, -(s/PerDecade + Offset))
}

// Prior is the number of decades a record's risk context adds to L.
//
//	trust level:  unverified +1, bronze +0.5, silver/gold/unset 0
//	data:         restricted +1, confidential +0.5 — only in production
//
// The total is capped at 2 decades (20 points).
func Prior(trustLevel, classification, environment string) float64 {
	var d float64
	switch trustLevel {
	case "unverified":
		d += 1
	case "bronze":
		d += 0.5
	}
	if environment == "production" {
		switch classification {
		case "restricted":
			d += 1
		case "confidential":
			d += 0.5
		}
	}
	return math.Min(d, 2)
}

func clamp(s float64) float64 {
	switch {
	case s < 0:
		return 0
	case s > 100:
		return 100
	}
	return s
}
