package record

import (
	"bytes"
	"strings"
	"testing"
)

// The tests of issue 13's decode3: the canonical-layout template path
// (canonical.go) against the frozen reference decoder. The template must
// take the records our producers write, and on anything else give up so
// that the general path decides: same Record, same error.

// takesTemplate reports whether the template path accepts data whole
// (Decode's setup, then canonical alone).
func takesTemplate(d *Decoder, data []byte) bool {
	var r Record
	r.Reset()
	d.start(data, &r)
	ok := d.lim.MaxDepth >= 3 && d.canonical(data)
	d.r, d.s.data = nil, nil
	clear(d.pending)
	return ok
}

// canonicalCorpus is the canonical encoding (AppendJSON) of every record of
// validCorpus, plus records with every optional member and value shapes
// the template hands to field (fractions, exponents, nulls are not
// canonical: see canonicalVariants).
func canonicalCorpus(t testing.TB) [][]byte {
	t.Helper()
	seen := map[string]bool{}
	var out [][]byte
	add := func(r *Record) {
		b := r.AppendJSON(nil)
		if !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	d := NewDecoder(DefaultLimits())
	for _, b := range validCorpus(t) {
		var r Record
		if err := d.Decode(b, &r); err != nil {
			t.Fatal(err)
		}
		add(&r)
		r.Chain = Chain{Seq: Absent}
		add(&r)
	}
	r := minimalRecord()
	add(&r)
	r.Tool.VerificationScore, r.Invocation.DurationMS = 99.5, 0.25 // fractions: through field
	r.Context = Context{UserID: "u"}                               // context without its first member
	add(&r)
	r.Invocation.InputHash, r.Invocation.DurationMS = "", 1e-7 // exponent
	r.Context = Context{Environment: "e"}
	r.Chain = Chain{Producer: "p", Seq: 1, Hash: fill32(9)}
	add(&r)
	return out
}

// TestCanonicalTemplateTaken: every canonical record is decoded by the
// template, to the reference's record.
func TestCanonicalTemplateTaken(t *testing.T) {
	d, ref := NewDecoder(DefaultLimits()), refNewDecoder(DefaultLimits())
	corpus := canonicalCorpus(t)
	for _, b := range corpus {
		if !takesTemplate(d, b) {
			t.Errorf("template does not take canonical record %s", b)
		}
		sameDecode(t, d, ref, b)
	}
	if len(corpus) < 30 {
		t.Fatalf("canonical corpus has %d records", len(corpus))
	}
	// Not canonical: each is decoded by the general path.
	for _, s := range []string{
		`{"trace_id": "a"}`, `{ "trace_id":"a"}`, `{"trace_id":"a" }`, `{"trace_id":"a"} x`, `{"trace_id":"a","trace_id":"b"}`,
		`{"trace_id":"a\x01"}`, `{"trace_id":"a\q"}`, `{"trace_id":"a\u12"}`, `{"span_id":"a","trace_id":"b"}`, `{"x":1}`, `{"trace_id":"a",}`, `{"trace_id":null}`, `{"tool":{"name":"n",}}`,
		`{"invocation":{"status":"bad"}}`, `{"invocation":{"input_shape":"` + strings.Repeat("a", 257) + `"}}`,
	} {
		if takesTemplate(d, []byte(s)) {
			t.Errorf("template takes %s", s)
		}
		sameDecode(t, d, ref, []byte(s))
	}
	// Whitespace around the record (a producer's framing) is taken.
	for _, s := range []string{" \t" + string(corpus[0]), string(corpus[0]) + "\n", string(corpus[0]) + " \r\n", "\n{}\n"} {
		if !takesTemplate(d, []byte(s)) {
			t.Errorf("template does not take %q", s)
		}
		sameDecode(t, d, ref, []byte(s))
	}
	for _, l := range []Limits{{MaxDepth: 1}, {MaxDepth: 2}} {
		if takesTemplate(NewDecoder(l), corpus[0]) {
			t.Errorf("template taken at MaxDepth %d", l.MaxDepth)
		}
	}
}

// jsonMember is a member of an object of a compact JSON document: the
// byte offsets of its key, its value and its end.
type jsonMember struct{ key, val, end int }

// objectMembers lists the members of the object opening at b[open] of a
// compact document, and of the objects nested in it, in document order.
func objectMembers(b []byte, open int) []jsonMember {
	var out []jsonMember
	i := open + 1
	for i < len(b) && b[i] != '}' {
		m := jsonMember{key: i}
		i = skipJSON(b, i) + 1 // the key and its colon
		m.val = i
		if b[i] == '{' {
			out = append(out, objectMembers(b, i)...)
		}
		i = skipJSON(b, i)
		m.end = i
		out = append(out, m)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	return out
}

// skipJSON returns the offset after the compact JSON value at b[i].
func skipJSON(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipJSON(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !bytes.ContainsRune([]byte(",}]"), rune(b[i])) {
		i++
	}
	return i
}

// Values substituted for every member's value: numbers of every shape and
// range edge, strings (empty, escaped, UTF-8, invalid UTF-8, controls,
// over-long, enum values), arrays, objects, literals, whitespace.
var canonicalValues = []string{
	`0`, `-0`, `1`, `07`, `1.5`, `1.`, `.5`, `-1`, `1e3`, `1E+3`, `1e-3`, `1.0`, `2.50e1`, `100`, `101`, `100.0`,
	`123456789012345`, `1234567890123456`, `999999999999999999999`, `1e400`, `604800000`, `604800001`,
	`1099511627776`, `1099511627777`, `10000000000`, `10000000001`, `9223372036854775808`, ` 1`, `1 `, `1x`, `-`,
	`""`, `"a"`, `"a\"b"`, `"\u0061"`, `"\/"`, `"é"`, "\"\xff\"", "\"a\x01\"", `"` + strings.Repeat("x", 300) + `"`,
	`"gold"`, `"silver"`, `"success"`, `"denied"`, `"restricted"`, `"internal"`, `"2026-03-23T14:30:00Z"`,
	`"2026-13-23T14:30:00Z"`, `"rt-1"`, `"a b"`, `"` + strings.Repeat("ab", 32) + `"`, `"host:0123456789abcdef"`,
	`[]`, `["a"]`, `["a","b"]`, `[ "a" ]`, `["a",]`, `[1]`, `["a"`, `["host:0123456789abcdef"]`,
	`{}`, `{"x":1}`, `{"producer":"p","seq":1,"hash":"` + strings.Repeat("0", 64) + `"}`,
	`null`, `nul`, `true`, `false`, ``,
}

// canonicalVariants are near-canonical versions of the canonical record b:
// each member's key renamed, escaped and spaced, each member dropped,
// repeated, moved one place on, followed by an unknown member, and its
// value replaced by each of canonicalValues; whitespace around the record.
func canonicalVariants(b []byte) [][]byte {
	var out [][]byte
	edit := func(at, end int, s string) {
		out = append(out, append(append(append([]byte(nil), b[:at]...), s...), b[end:]...))
	}
	for _, m := range objectMembers(b, 0) {
		edit(m.key+1, m.key+2, "Z")                     // renamed
		edit(m.key+1, m.key+2, `\u00`+hex2(b[m.key+1])) // escaped
		edit(m.val-1, m.val-1, " ")                     // space before the colon
		edit(m.val, m.val, " ")                         // space after it
		edit(m.key, m.key, "\n")                        // space before the key
		edit(m.end, m.end, " ")                         // space after the value
		edit(m.key, m.end, `"x":[1,{"y":null}]`)        // replaced by an unknown member
		edit(m.end, m.end, `,"x":1`)                    // an unknown member after it
		edit(m.end, m.end, ","+string(b[m.key:m.end]))  // repeated
		edit(m.key, m.end+min(1, len(b)-m.end-1), "")   // dropped (with a comma)
		edit(m.key, m.key, string(b[m.key:m.end])+",")  // repeated before
		edit(m.val, m.end, "")                          // no value
		if m.end < len(b) && b[m.end] == ',' {          // moved one place on
			next := m.end + 1
			nextEnd := skipJSON(b, skipJSON(b, next)+1)
			edit(m.key, nextEnd, string(b[next:nextEnd])+","+string(b[m.key:m.end]))
		}
		for _, v := range canonicalValues {
			edit(m.val, m.end, v)
		}
		if b[m.val] == '"' && m.end-m.val > 2 { // a value's first byte escaped
			edit(m.val+1, m.val+2, `\u00`+hex2(b[m.val+1]))
		}
	}
	out = append(out, append([]byte(" "), b...), append(bytes.Clone(b), '\n'), append(bytes.Clone(b), "\r\n"...),
		b[:len(b)-1], append(bytes.Clone(b), '}'), append(bytes.Clone(b[:len(b)-1]), ",}"...))
	return out
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// TestDecodeSameAsReferenceCanonical decodes every canonicalVariants of
// every canonical record with both decoders, at the default limits and at
// the tightest the template runs under (MaxDepth 3, small records).
func TestDecodeSameAsReferenceCanonical(t *testing.T) {
	d, ref := NewDecoder(DefaultLimits()), refNewDecoder(DefaultLimits())
	tight := Limits{MaxRecordBytes: 700, MaxDepth: 3}
	dt, reft := NewDecoder(tight), refNewDecoder(tight)
	var n, failed, taken int
	for _, b := range canonicalCorpus(t) {
		for _, v := range canonicalVariants(b) {
			if sameDecode(t, d, ref, v) != nil {
				failed++
			}
			sameDecode(t, dt, reft, v)
			if takesTemplate(d, v) {
				taken++
			}
			n++
		}
	}
	if failed == 0 || failed == n || taken == 0 || taken == n {
		t.Fatalf("%d variants, %d failing, %d on the template: not both paths and outcomes", n, failed, taken)
	}
	t.Logf("%d variants, %d failing, %d on the template", n, failed, taken)
}

// TestAllocsCanonical: the template path allocates only the record's one
// string, as the general path (TestAllocs).
func TestAllocsCanonical(t *testing.T) {
	d := NewDecoder(DefaultLimits())
	for _, b := range canonicalCorpus(t) {
		var r Record
		if n := testing.AllocsPerRun(20, func() { _ = d.Decode(b, &r) }); n > 1 {
			t.Errorf("Decode allocs = %v, want <= 1, on %s", n, b)
		}
	}
}
