package record

import (
	"encoding/binary"
	"math/bits"
)

// canonical decodes data into d.r when it is laid out the way AppendJSON
// writes a record (and our SDKs, the simulators and the OTLP conversion
// do): members in canonical order, each at most once, no whitespace. The
// layout is a template: each key, with its quote, colon and the opening
// byte of its value, is compared as one or two words against constants,
// and the value read in place with a position held in a register, without
// the general loop's dispatch and error checks. Values in other shapes
// (fractions, exponents, destination lists, the chain object) go through
// field, as the general loop would send them.
//
// It reports false at the first byte that does not fit, or at the first
// field or syntax error, and Decode then starts over on the general path:
// whatever the template accepted, the general path accepts with the same
// record, and whatever it did not, the general path decodes or rejects on
// its own, so results and errors never depend on which path ran.
//
// The nesting limit is not checked here: arrays inside invocation are at
// depth 3, so Decode takes this path only when MaxDepth ≥ 3.
func (d *Decoder) canonical(data []byte) bool {
	r := d.r
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	i := 1        // position after the last member (or the opening brace)
	p := data[1:] // the key expected next starts here; nil after a value not followed by ','

	// Top-level members up to "tool".
	if len(p) >= 12 && string(p[:12]) == `"trace_id":"` {
		if i = d.copyAt(data, at(data, p)+12, &r.TraceID); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 11 && string(p[:11]) == `"span_id":"` {
		if i = d.copyAt(data, at(data, p)+11, &r.SpanID); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 18 && string(p[:16]) == `"parent_span_id"` && string(p[16:18]) == `:"` {
		if i = d.copyAt(data, at(data, p)+18, &r.ParentSpanID); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 13 && string(p[:13]) == `"timestamp":"` {
		var b []byte
		if b, i = d.strAt(data, at(data, p)+13); i < 0 {
			return false
		}
		t, ok := parseTimestamp(b)
		if !ok {
			return false
		}
		r.Timestamp, d.seenTS = t, true
		p = member(data, i)
	}
	if len(p) >= 12 && string(p[:12]) == `"agent_id":"` {
		if i = d.internAt(data, at(data, p)+12, &r.AgentID); i < 0 {
			return false
		}
		p = member(data, i)
	}

	// "tool".
	if len(p) >= 8 && string(p[:8]) == `"tool":{` {
		i = at(data, p) + 8
		p = data[i:]
		t := &r.Tool
		if len(p) >= 8 && string(p[:8]) == `"name":"` {
			if i = d.internAt(data, at(data, p)+8, &t.Name); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 11 && string(p[:11]) == `"version":"` {
			if i = d.internAt(data, at(data, p)+11, &t.Version); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 13 && string(p[:13]) == `"publisher":"` {
			if i = d.internAt(data, at(data, p)+13, &t.Publisher); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"trust_level":"` {
			var b []byte
			if b, i = d.strAt(data, at(data, p)+15); i < 0 {
				return false
			}
			switch string(b) {
			case "gold":
				t.TrustLevel = "gold"
			case "silver":
				t.TrustLevel = "silver"
			case "bronze":
				t.TrustLevel = "bronze"
			case "unverified":
				t.TrustLevel = "unverified"
			case "":
			default:
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 21 && string(p[:16]) == `"verification_sc` && string(p[16:21]) == `ore":` {
			j := at(data, p) + 21
			if n, k := plainAt(data, j); k >= 0 && n <= 100 {
				t.VerificationScore, i = float64(n), k
			} else if i = d.viaField(fVerificationScore, 2, j); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		p = member(data, i)
	}

	// "invocation".
	if len(p) >= 14 && string(p[:14]) == `"invocation":{` {
		i = at(data, p) + 14
		p = data[i:]
		in := &r.Invocation
		if len(p) >= 14 && string(p[:14]) == `"input_hash":"` {
			if i = d.copyAt(data, at(data, p)+14, &in.InputHash); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"output_hash":"` {
			if i = d.copyAt(data, at(data, p)+15, &in.OutputHash); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 14 && string(p[:14]) == `"duration_ms":` {
			j := at(data, p) + 14
			if n, k := plainAt(data, j); k >= 0 && n <= MaxDurationMS {
				in.DurationMS, i = float64(n), k
			} else if i = d.viaField(fDurationMS, 2, j); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 10 && string(p[:10]) == `"status":"` {
			var b []byte
			if b, i = d.strAt(data, at(data, p)+10); i < 0 {
				return false
			}
			switch string(b) {
			case StatusSuccess:
				in.Status = StatusSuccess
			case StatusError:
				in.Status = StatusError
			case StatusDenied:
				in.Status = StatusDenied
			case StatusTimeout:
				in.Status = StatusTimeout
			case "":
			default:
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 20 && string(p[:16]) == `"permissions_use` && string(p[16:20]) == `d":[` {
			if in.PermissionsUsed, i = d.internsAt(data, at(data, p)+20, in.PermissionsUsed[:0]); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 22 && string(p[:16]) == `"permissions_den` && string(p[16:22]) == `ied":[` {
			if in.PermissionsDenied, i = d.internsAt(data, at(data, p)+22, in.PermissionsDenied[:0]); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"output_bytes":` {
			if i = d.countAt(data, at(data, p)+15, fOutputBytes, 2, MaxBytes, &in.OutputBytes); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 14 && string(p[:14]) == `"input_bytes":` {
			if i = d.countAt(data, at(data, p)+14, fInputBytes, 2, MaxBytes, &in.InputBytes); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"input_shape":"` {
			var b []byte
			if b, i = d.strAt(data, at(data, p)+15); i < 0 || len(b) > MaxInputShapeBytes {
				return false
			}
			in.InputShape = d.internBytes(b)
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"destinations":` {
			if i = d.viaField(fDestinations, 2, at(data, p)+15); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 22 && string(p[:16]) == `"output_destinat` && string(p[16:22]) == `ions":` {
			if i = d.viaField(fOutputDestinations, 2, at(data, p)+22); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		p = member(data, i)
	}

	// "context".
	if len(p) >= 11 && string(p[:11]) == `"context":{` {
		i = at(data, p) + 11
		p = data[i:]
		c := &r.Context
		if len(p) >= 11 && string(p[:11]) == `"task_id":"` {
			if i = d.copyAt(data, at(data, p)+11, &c.TaskID); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 11 && string(p[:11]) == `"user_id":"` {
			if i = d.internAt(data, at(data, p)+11, &c.UserID); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 23 && string(p[:16]) == `"data_classifica` && string(p[16:23]) == `tion":"` {
			var b []byte
			if b, i = d.strAt(data, at(data, p)+23); i < 0 {
				return false
			}
			switch string(b) {
			case "public":
				c.DataClassification = "public"
			case "internal":
				c.DataClassification = "internal"
			case "confidential":
				c.DataClassification = "confidential"
			case "restricted":
				c.DataClassification = "restricted"
			case "":
			default:
				return false
			}
			p = member(data, i)
		}
		if len(p) >= 15 && string(p[:15]) == `"environment":"` {
			if i = d.internAt(data, at(data, p)+15, &c.Environment); i < 0 {
				return false
			}
			p = member(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		p = member(data, i)
	}

	// The compliance extension and the chain.
	if len(p) >= 24 && string(p[:16]) == `"authorization_m` && string(p[16:24]) == `ethod":"` {
		if i = d.internAt(data, at(data, p)+24, &r.AuthorizationMethod); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 20 && string(p[:16]) == `"retention_polic` && string(p[16:20]) == `y":"` {
		if i = d.internAt(data, at(data, p)+20, &r.RetentionPolicy); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 25 && string(p[:16]) == `"data_subjects_a` && string(p[16:25]) == `ffected":` {
		if i = d.countAt(data, at(data, p)+25, fDataSubjectsAffected, 1, MaxCount, &r.DataSubjectsAffected); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 22 && string(p[:16]) == `"immutability_pr` && string(p[16:22]) == `oof":"` {
		if i = d.copyAt(data, at(data, p)+22, &r.ImmutabilityProof); i < 0 {
			return false
		}
		p = member(data, i)
	}
	if len(p) >= 8 && string(p[:8]) == `"chain":` {
		if i = d.viaField(fChain, 1, at(data, p)+8); i < 0 {
			return false
		}
	}
	// The record ends here, at its closing brace.
	return i == len(data)-1 && data[i] == '}'
}

// at is the index in data of p, a suffix of it.
func at(data, p []byte) int { return len(data) - len(p) }

// member returns the input after the comma at i (where the next key of the
// object starts), or nil when the byte at i is not a comma: a value ended
// the object, or what follows is not canonical; either way no key matches.
func member(data []byte, i int) []byte {
	if uint(i) < uint(len(data)) && data[i] == ',' {
		return data[i+1:]
	}
	return nil
}

// strAt reads the string whose first byte (after the opening quote) is at
// i, in place, and returns it and the index after its closing quote, or -1
// for a string with a control byte, a bad escape or without an end (the
// general path reports those). Bytes ≥ 0x80 are noted for Decode's UTF-8
// check, as readString does.
func (d *Decoder) strAt(data []byte, i int) ([]byte, int) {
	start := i
	for ; i >= 0 && i+8 <= len(data); i += 8 {
		if m := stopBytes(binary.LittleEndian.Uint64(data[i : i+8])); m != 0 {
			if i += bits.TrailingZeros64(m) / 8; data[i] == '"' {
				return data[start:i], i + 1
			}
			return d.strAtSlow(data, start, i)
		}
	}
	for ; i >= 0 && i < len(data) && strASCII[data[i]]; i++ {
	}
	if i >= 0 && i < len(data) && data[i] == '"' {
		return data[start:i], i + 1
	}
	return d.strAtSlow(data, start, i)
}

// strAtSlow is strAt's way (out of line) from a byte at i that is not
// strASCII: bytes ≥ 0x80 are noted and skipped, escapes decoded by
// readEscaped (into d.scratch, valid until the next string); a control
// byte or the end of the input fails.
func (d *Decoder) strAtSlow(data []byte, start, i int) ([]byte, int) {
	if i < 0 || i >= len(data) {
		return nil, -1
	}
	if data[i] >= 0x80 {
		d.s.high = true
		if i = skipSafe(data, i); i < len(data) && data[i] == '"' {
			return data[start:i], i + 1
		}
	}
	if i < len(data) && data[i] == '\\' {
		if b, ok := d.readEscaped(start, i); ok {
			return b, d.s.i
		}
	}
	return nil, -1
}

// copyAt reads the string at i (after its quote) into the record's arena
// for *dst, like copyStr; it returns the index after the string or -1.
func (d *Decoder) copyAt(data []byte, i int, dst *string) int {
	b, i := d.strAt(data, i)
	if i >= 0 {
		start := len(d.arena)
		d.arena = append(d.arena, b...)
		d.pending = append(d.pending, pendingStr{dst: dst, start: start, end: len(d.arena)})
	}
	return i
}

// internAt reads the string at i (after its quote) into *dst, interned,
// like internStr; it returns the index after the string or -1.
func (d *Decoder) internAt(data []byte, i int, dst *string) int {
	b, i := d.strAt(data, i)
	if i >= 0 {
		*dst = d.internBytes(b)
	}
	return i
}

// internsAt reads the array of strings whose first byte after '[' is at
// i, interned onto dst, like strings; it returns dst and the index after
// the array, or -1 where the array is not a canonical list of strings.
func (d *Decoder) internsAt(data []byte, i int, dst []string) ([]string, int) {
	if i < len(data) && data[i] == ']' {
		return dst, i + 1
	}
	for i < len(data) && data[i] == '"' {
		var b []byte
		if b, i = d.strAt(data, i+1); i < 0 || i >= len(data) {
			return dst, -1
		}
		dst = append(dst, d.internBytes(b))
		switch data[i] {
		case ',':
			i++
		case ']':
			return dst, i + 1
		default:
			return dst, -1
		}
	}
	return dst, -1
}

// countAt reads an integer of plain digits at i into *dst (at most max),
// like count; other forms go through field (id at depth). It returns the
// index after the number or -1.
func (d *Decoder) countAt(data []byte, i int, id uint8, depth int, max int64, dst *int64) int {
	if n, k := plainAt(data, i); k >= 0 && n <= max {
		*dst = n
		return k
	}
	return d.viaField(id, depth, i)
}

// plainAt is plainUint at i: 1 to 15 plain digits (no sign, fraction,
// exponent or leading zero) and the index after them, else -1.
func plainAt(data []byte, i int) (int64, int) {
	var n int64
	k := i
	for k >= 0 && k < len(data) && k-i < 16 && data[k]-'0' <= 9 {
		n = n*10 + int64(data[k]-'0')
		k++
	}
	if c := k - i; c == 0 || c > 15 || (c > 1 && data[i] == '0') {
		return 0, -1
	}
	if k < len(data) && (data[k] == '.' || data[k]|0x20 == 'e') {
		return 0, -1
	}
	return n, k
}

// viaField decodes the value at i of member id (of an object at depth)
// with field, as the general loop would, and returns the index after it,
// or -1 when it met a field or syntax error.
func (d *Decoder) viaField(id uint8, depth, i int) int {
	s := &d.s
	if i >= len(s.data) {
		return -1
	}
	s.i = i
	d.field(id, depth)
	if s.err != nil || d.err != nil {
		return -1
	}
	return s.i
}
