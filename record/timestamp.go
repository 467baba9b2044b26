package record

import (
	"encoding/binary"
	"time"
)

// parseTimestamp parses an RFC 3339 date-time (fractional seconds of 1–9
// digits optional, "Z" or a ±hh:mm offset) and returns it in UTC. It is a
// hand-written fast path: no allocation, and it rejects what time.Parse
// would also reject (out-of-range fields, leap second 60), plus UTC years
// outside 0000–9999, which the canonical encoding cannot write.
func parseTimestamp(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	// The 14 digits and 5 separators of "2006-01-02T15:04:05" tested a word
	// at a time (digitWords), then read without further checks.
	_ = b[19]
	w0 := binary.LittleEndian.Uint64(b[0:8])   // "2006-01-"
	w1 := binary.LittleEndian.Uint64(b[8:16])  // "02T15:04"
	w2 := binary.LittleEndian.Uint64(b[11:19]) // "15:04:05"
	if !digitWords(w0, 0x00ffff00ffffffff) || !digitWords(w1, 0xffff00ffff00ffff) || !digitWords(w2, 0xffff000000000000) ||
		b[4] != '-' || b[7] != '-' || b[10]|0x20 != 't' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	d := func(i int) int { return int(b[i] - '0') }
	year := d(0)*1000 + d(1)*100 + d(2)*10 + d(3)
	month, day := d(5)*10+d(6), d(8)*10+d(9)
	hour, minute, sec := d(11)*10+d(12), d(14)*10+d(15), d(17)*10+d(18)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) == 5 && rest[0] == '.' && rest[1]-'0' <= 9 && rest[2]-'0' <= 9 && rest[3]-'0' <= 9 {
		// Milliseconds and one byte more (Z), as AppendJSON writes them:
		// the loop below, unrolled.
		nsec = int(rest[1]-'0')*1e8 + int(rest[2]-'0')*1e7 + int(rest[3]-'0')*1e6
		rest = rest[4:]
	} else if rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if i > 9 {
				return time.Time{}, false
			}
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	var offset int // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	// time.Unix(…).UTC() is the Time time.Date(…, time.UTC) returns
	// (TestUnixDays), without Date's normalization (the fields are in range).
	unix := unixDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	t := time.Unix(unix, int64(nsec)).UTC()
	if offset != 0 {
		if y := t.Year(); y < 0 || y > 9999 {
			return time.Time{}, false
		}
	}
	return t, true
}

// unixDays is the number of days from 1970-01-01 to the given proleptic
// Gregorian date (negative before), for years 0–9999 (Hinnant's
// days_from_civil on eras of 400 years; year 0 reads as era −1).
func unixDays(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // floor(y/400) for y ≥ −400
	yoe := y - era*400
	mp := (month + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// digitWords reports whether the bytes of w selected by mask (0xff
// bytes) are ASCII digits: high nibble 3, and adding 6 does not carry
// out of the low nibble (no carry crosses bytes once the high nibbles are
// 3).
func digitWords(w, mask uint64) bool {
	const hi, six = 0xf0f0f0f0f0f0f0f0, 0x0606060606060606
	w &= mask
	return w&hi == 0x3030303030303030&mask && (w+six&mask)&hi == 0x3030303030303030&mask
}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendTimestamp writes t in UTC as RFC 3339 with exactly three fractional
// digits ("2026-03-23T14:30:00.123Z"); sub-millisecond digits are dropped.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		// Not representable in RFC 3339; keep the output well-formed JSON.
		return t.AppendFormat(b, `2006-01-02T15:04:05.000Z07:00`)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}
