package record

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// scanner is a strict RFC 8259 syntax checker that also enforces the
// nesting limit. The Decoder uses it as its tokenizer and to skip (while
// still validating) values it does not decode, such as unknown fields. Its
// errors carry an offset and never quote record contents. Input must have
// passed utf8.Valid first.
type scanner struct {
	data     []byte
	i        int
	maxDepth int
	err      error
	high     bool // a string had a byte ≥ 0x80: Decode checks UTF-8
}

// strSafe[c] is true for bytes that need no attention inside a string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strASCII[c] is true for the ASCII bytes that need no attention inside a
// string (strSafe without the bytes ≥ 0x80).
var strASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipSafe returns the index of the first byte at or after i that is not
// strSafe ('"', '\\' or a control character), or len(data), eight bytes a
// step (specials). Strings are most of a record's bytes, and this loop was
// 10% of the pipeline.
func skipSafe(data []byte, i int) int {
	p := data[i:] // a shrinking slice: no bounds checks in the loop
	for len(p) >= 8 {
		if m := specials(binary.LittleEndian.Uint64(p)); m != 0 {
			return len(data) - len(p) + bits.TrailingZeros64(m)/8
		}
		p = p[8:]
	}
	for len(p) > 0 && strSafe[p[0]] {
		p = p[1:]
	}
	return len(data) - len(p)
}

// specials flags (bit 7 of the byte) the bytes of the little-endian word w
// that are not strSafe, SWAR: a byte b is flagged by the borrow of b − k for
// the zero bytes of b ^ '"' and b ^ '\\' and for b < 0x20; bytes ≥ 0x80
// never are. The borrows can flag bytes above the first special one, never
// below, so the lowest flag is exact. The three terms share one "&^ w": the
// xors leave bit 7 of every byte as it is in w.
func specials(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b, c := (w^(lo*'"'))-lo, (w^(lo*'\\'))-lo, w-lo*0x20
	return (q | b | c) &^ w & hi
}

// stopBytes flags like specials and also the bytes ≥ 0x80 (the fast scan
// of an ASCII string stops at them; the lowest flag stays exact: no borrow
// comes out of an ASCII byte that is not special). Folding the high bit in
// costs nothing and spares ASCII records the separate utf8.Valid pass.
func stopBytes(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b, c := (w^(lo*'"'))-lo, (w^(lo*'\\'))-lo, w-lo*0x20
	return (q | b | c | w) & hi
}

func (s *scanner) fail(what string) bool {
	if s.err == nil {
		s.err = fieldErr("record", "invalid JSON: "+what+" at offset "+strconv.Itoa(s.i))
	}
	return false
}

// ws skips whitespace. Compact JSON has none: the test of one byte for
// that case inlines, the loop does not.
func (s *scanner) ws() {
	if s.i < len(s.data) && s.data[s.i] > ' ' {
		return
	}
	s.wsLoop()
}

func (s *scanner) wsLoop() {
	data, i := s.data, s.i
	for i < len(data) && isSpace[data[i]] {
		i++
	}
	s.i = i
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *scanner) value(depth int) bool {
	if s.i >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.str()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return s.fail("unexpected character")
	}
}

func (s *scanner) tooDeep(depth int) bool {
	if depth > s.maxDepth {
		s.deep() // out of line, so that tooDeep inlines
		return true
	}
	return false
}

func (s *scanner) deep() {
	if s.err == nil {
		s.err = fieldErr("record", "nesting deeper than "+strconv.Itoa(s.maxDepth))
	}
}

func (s *scanner) object(depth int) bool {
	if s.tooDeep(depth) {
		return false
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		if s.data[s.i] != '"' {
			return s.fail("expected object key")
		}
		if !s.str() {
			return false
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.fail("expected ':'")
		}
		s.i++
		s.ws()
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

func (s *scanner) array(depth int) bool {
	if s.tooDeep(depth) {
		return false
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.fail("unexpected end of input")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return true
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

func (s *scanner) str() bool {
	data := s.data
	i := s.i + 1 // opening quote
	for {
		from := i
		i = skipSafe(data, i) // fast path: bytes that need no attention
		if !s.high {
			s.high = hasHigh(data[from:i])
		}
		if i >= len(data) {
			s.i = i
			return s.fail("unexpected end of input")
		}
		switch c := data[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c < 0x20:
			s.i = i
			return s.fail("control character in string")
		}
		// Backslash escape.
		if i+1 >= len(data) {
			s.i = len(data)
			return s.fail("unexpected end of input")
		}
		switch data[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(data) {
				s.i = len(data)
				return s.fail("unexpected end of input")
			}
			for _, h := range data[i+2 : i+6] {
				if !isHex(h) {
					s.i = i
					return s.fail("invalid \\u escape")
				}
			}
			i += 6
		default:
			s.i = i
			return s.fail("invalid escape")
		}
	}
}

// hasHigh reports whether b has a byte ≥ 0x80.
func hasHigh(b []byte) bool {
	var or uint64
	for ; len(b) >= 8; b = b[8:] {
		or |= binary.LittleEndian.Uint64(b)
	}
	for _, c := range b {
		or |= uint64(c)
	}
	return or&0x8080808080808080 != 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() bool {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	if s.data[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.fail("invalid number")
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	return true
}

// plainUint reads, in one pass, a number at s.i written as 1 to 15 plain
// digits (no sign, fraction, exponent or leading zero), which converts to
// float64 exactly (number would accept it and smallUint parse it the same);
// anything else (ok false) consumes nothing and takes number's way, with
// its errors.
func (s *scanner) plainUint() (n int64, ok bool) {
	p := s.data[s.i:]
	k := 0
	for k < len(p) && k < 16 && p[k]-'0' <= 9 {
		n = n*10 + int64(p[k]-'0')
		k++
	}
	if k == 0 || k > 15 || (k > 1 && p[0] == '0') {
		return 0, false
	}
	if k < len(p) && (p[k] == '.' || p[k]|0x20 == 'e') {
		return 0, false
	}
	s.i += k
	return n, true
}

func (s *scanner) lit(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.i += len(word)
	return true
}
