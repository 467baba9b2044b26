package baseline

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Rhythm is an hour-of-day profile of a Dist's log level: per UTC hour,
// a decayed mean and variance of the level test's deviation d (the log
// value minus the body's log median), learned by a tool's Dist from all
// its calls (Verdict.LearnRhythm). A key's level test subtracts
// β·offset(hour) from its deviations (Verdict.Rhythm), with β the key's
// own regression on the offsets, so a shift is measured against the level
// expected at this time of day: a ×2.5 night trough or a day gone flat
// stands out, the day's normal swing does not.
//
// The offsets are used only once every hour has been seen on at least
// rhythmMinDays days and the rhythm is significant: the spread of the
// hourly means is at least rhythmMinShare of the within-hour variance
// and 9 times the noise of those means, with an hour at least
// rhythmMinAmp (ln) off the day's mean. Otherwise they are zero and the
// level test is the plain long run's. Buckets decay by rhythmDecay per
// day, so a changed rhythm is learned over a week or two. While the
// rhythm is still learning (every hour seen, some on fewer than
// rhythmMinDays days), off holds provisional offsets that only veto a
// shift finding the hour's level on the days before explains
// (provisional, seenAtHour in judge.go). An hour the buckets have not
// seen yet takes its provisional offset from the tool's values before it
// was ready to judge (early: the mean log value per hour, learned from
// every value until then and used for nothing else), so a tool that
// became ready in the evening does not report the next morning's
// routine peak: at one value per 5 minutes the 200 values a tool needs
// span most of its first day.
type Rhythm struct {
	w, m, v [rhythmBuckets]float32 // decayed weight, mean and variance of d per hour
	day     [rhythmBuckets]int32   // event-time day of the bucket's last value
	days    [rhythmBuckets]uint8   // distinct days the bucket has seen (saturating)
	off     [rhythmBuckets]float32 // derived at each hour change: offsets from the mean, 0 unless significant (or provisional)
	hour    int64                  // absolute UTC hour of the last derivation
	msq     float32                // derived: mean squared offset (0: no rhythm in use)
	// em, ew: mean log value (ln(1+x)) and count per hour of the values
	// before the tool was ready (learnEarly); only derive reads them, for
	// an hour whose bucket is still empty.
	em, ew [rhythmBuckets]float32
	// first is the event time (unix ns) of the first value the profile
	// saw (1: unknown, a state from before Dist state version 9): a
	// level shift in the tool's first day is not reported (young).
	first int64
}

const (
	rhythmBuckets  = 24
	rhythmMinDays  = 3
	rhythmDecay    = 0.9 // per day: half-life 6.6 days
	rhythmMinShare = 0.1
	rhythmMinAmp   = 0.1
	rhythmMaxBeta  = 4 // a key may swing more than its tool (other agents dilute the tool's rhythm), not without bound
	rhythmWarmup   = int64(24 * time.Hour)
	nsHour         = int64(time.Hour)
)

// hourOf splits event time t (unix ns, ≥ 0) into its absolute UTC hour
// and the hour of day: one division, no time.Time per record.
func hourOf(t int64) (abs int64, h int) {
	abs = t / nsHour
	return abs, int(abs % rhythmBuckets)
}

// hourOfDay is the UTC hour of day of event time t (unix ns).
func hourOfDay(t int64) int {
	if t < 0 {
		return 0
	}
	_, h := hourOf(t)
	return h
}

// learnEarly adds log value y at event time t (unix ns) of a value the
// tool learned before it was ready to judge.
func (r *Rhythm) learnEarly(t int64, y float64) {
	if t < 0 {
		return
	}
	if r.first == 0 {
		r.first = max(t, 1)
	}
	_, h := hourOf(t)
	w := r.ew[h] + 1
	r.ew[h] = w
	r.em[h] += (float32(y) - r.em[h]) / w
}

// learn adds deviation d at event time t (unix ns); lnMed is the log
// median d was taken from (early hours are measured against it).
func (r *Rhythm) learn(t int64, d, lnMed float64) {
	if t < 0 {
		return
	}
	if r.first == 0 {
		r.first = max(t, 1)
	}
	abs, h := hourOf(t)
	if abs != r.hour {
		r.hour = abs
		r.derive(lnMed)
	}
	day := int32(abs / rhythmBuckets)
	if r.w[h] == 0 || day > r.day[h] {
		if r.w[h] > 0 {
			f := float32(math.Pow(rhythmDecay, float64(day-r.day[h])))
			r.w[h] *= f
		}
		r.day[h] = day
		if r.days[h] < math.MaxUint8 {
			r.days[h]++
		}
	}
	w := r.w[h] + 1
	a := 1 / w
	delta := float32(d) - r.m[h]
	r.w[h] = w
	r.m[h] += a * delta
	r.v[h] = (1 - a) * (r.v[h] + a*delta*delta)
}

// derive recomputes the offsets (once per UTC hour of the tool's calls).
// While the rhythm is still learning (an hour seen on fewer than
// rhythmMinDays days) but every hour has been seen, off holds provisional
// offsets (msq stays 0, so offset() is 0): at the start of an hour its
// bucket holds only earlier days, so off[h] is that hour's level on the
// days before (provisional). An hour not seen yet counts with its early
// level (learnEarly) less lnMed, if it has one.
func (r *Rhythm) derive(lnMed float64) {
	r.off, r.msq = [rhythmBuckets]float32{}, 0
	var mean, within, noise float64
	var prof [rhythmBuckets]float32
	learning := false
	for h := range rhythmBuckets {
		if r.days[h] == 0 {
			if r.ew[h] == 0 {
				return
			}
			prof[h] = r.em[h] - float32(lnMed)
			mean += float64(prof[h])
			learning = true
			continue
		}
		if r.days[h] >= rhythmMinDays && r.w[h] < 2 {
			return
		}
		learning = learning || r.days[h] < rhythmMinDays
		prof[h] = r.m[h]
		mean += float64(r.m[h])
		within += float64(r.v[h])
		noise += float64(r.v[h]) / float64(r.w[h])
	}
	mean /= rhythmBuckets
	if learning {
		for h := range rhythmBuckets {
			r.off[h] = prof[h] - float32(mean)
		}
		return
	}
	within /= rhythmBuckets
	noise /= rhythmBuckets
	var between, amp float64
	for h := range rhythmBuckets {
		o := float64(r.m[h]) - mean
		between += o * o
		amp = max(amp, math.Abs(o))
	}
	between /= rhythmBuckets
	if between < rhythmMinShare*within || between < 9*noise || amp < rhythmMinAmp {
		return
	}
	for h := range rhythmBuckets {
		r.off[h] = r.m[h] - float32(mean)
	}
	r.msq = float32(between)
}

// offset returns the expected deviation of hour-of-day h from the day's
// mean and the rhythm's mean squared offset (both 0 when none is in use).
func (r *Rhythm) offset(h int) (off, msq float64) {
	if r == nil || r.msq == 0 {
		return 0, 0
	}
	return float64(r.off[h]), float64(r.msq)
}

// provisional returns the provisional offset of hour-of-day h while the
// rhythm is learning (derive), 0 otherwise or when it is within
// rhythmMinAmp of the day's mean (noise, not a rhythm).
func (r *Rhythm) provisional(h int) float64 {
	if r == nil || r.msq != 0 {
		return 0
	}
	if o := float64(r.off[h]); math.Abs(o) >= rhythmMinAmp {
		return o
	}
	return 0
}

// young reports whether event time now is within a day of the first value
// the profile saw: the tool has not been seen at every hour of the day
// yet, so a shift of its keys may be its daily rhythm (a business-hours
// tool's first morning) rather than news. False without a profile.
func (r *Rhythm) young(now int64) bool {
	return r != nil && r.first > 1 && now-r.first < rhythmWarmup
}

// extremes returns the largest and the smallest offset.
func (r *Rhythm) extremes() (hi, lo float64) {
	for _, o := range r.off {
		hi, lo = max(hi, float64(o)), min(lo, float64(o))
	}
	return hi, lo
}

// Active reports whether r's offsets are in use (for tests and status).
func (r *Rhythm) Active() bool { return r != nil && r.msq > 0 }

// Offset is the expected log deviation at event time t from the day's
// mean (0 when no rhythm is in use; for tests and status pages).
func (r *Rhythm) Offset(t time.Time) float64 {
	_, h := hourOf(t.UnixNano())
	o, _ := r.offset(h)
	return o
}

// Rhythm returns the hour-of-day profile d learns (nil before its first
// value with Verdict.LearnRhythm).
func (d *Dist) Rhythm() *Rhythm {
	if d.distMem == nil || d.tail.lv == nil {
		return nil
	}
	return d.tail.lv.rh
}

// marshal appends r (rhythm encoding of Dist state version 6 on).
func (r *Rhythm) marshal(b []byte) []byte {
	if r == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	for h := range rhythmBuckets {
		for _, f := range [...]float32{r.w[h], r.m[h], r.v[h], r.off[h]} {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f))
		}
		b = binary.BigEndian.AppendUint32(b, uint32(r.day[h]))
		b = append(b, r.days[h])
	}
	b = binary.AppendVarint(b, r.hour)
	return binary.BigEndian.AppendUint32(b, math.Float32bits(r.msq))
}

// unmarshalRhythm reads what marshal wrote.
func unmarshalRhythm(r *distReader) (*Rhythm, error) {
	has := r.byte()
	if r.err != nil || has == 0 {
		return nil, r.err
	}
	if has != 1 {
		return nil, fmt.Errorf("rhythm flag %d: %w", has, errDistState)
	}
	rh := new(Rhythm)
	for h := range rhythmBuckets {
		rh.w[h], rh.m[h], rh.v[h], rh.off[h] = r.f32(), r.f32(), r.f32(), r.f32()
		rh.day[h] = int32(r.u32())
		rh.days[h] = r.byte()
		for _, f := range [...]float32{rh.w[h], rh.m[h], rh.v[h], rh.off[h]} {
			if v := float64(f); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("rhythm: %w", errDistState)
			}
		}
		if rh.w[h] < 0 || rh.v[h] < 0 {
			return nil, fmt.Errorf("rhythm weight: %w", errDistState)
		}
	}
	rh.hour = r.varint()
	rh.msq = r.f32()
	if m := float64(rh.msq); math.IsNaN(m) || m < 0 || math.IsInf(m, 0) {
		return nil, fmt.Errorf("rhythm: %w", errDistState)
	}
	return rh, r.err
}

// marshalEarly appends r's first value's time and early levels (Dist
// state version 9 on; nothing without a rhythm).
func (r *Rhythm) marshalEarly(b []byte) []byte {
	if r == nil {
		return b
	}
	b = binary.AppendVarint(b, r.first)
	for h := range rhythmBuckets {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(r.em[h]))
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(r.ew[h]))
	}
	return b
}

// unmarshalEarly reads into rh what marshalEarly wrote.
func unmarshalEarly(rh *Rhythm, r *distReader) error {
	rh.first = r.varint()
	if r.err == nil && rh.first < 0 {
		return fmt.Errorf("rhythm first value: %w", errDistState)
	}
	for h := range rhythmBuckets {
		rh.em[h], rh.ew[h] = r.f32(), r.f32()
		if m, w := float64(rh.em[h]), float64(rh.ew[h]); math.IsNaN(m) || math.IsInf(m, 0) || !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("rhythm early levels: %w", errDistState)
		}
	}
	return r.err
}
