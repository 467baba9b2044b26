package record

import (
	"encoding/binary"
	"math/bits"
)

// canonical decodes data into d.r when it is laid out the way AppendJSON
// writes a record (and our SDKs, the simulators and the OTLP conversion
// do): members in canonical order, each at most once, no whitespace but
// around the record. The
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
	i := 0
	for i < len(data) && isSpace[data[i]] { // a producer's framing, around the record
		i++
	}
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i++          // position after the last member (or the opening brace)
	k := i       // the key expected next starts here; len(data) after a value not followed by ','
	var b []byte // the value read last

	// Top-level members up to "tool".
	if k <= len(data)-12 && string(data[k:k+12]) == `"trace_id":"` {
		if b, i = d.strAt(data, k+12); i < 0 {
			return false
		}
		d.keep(b, &r.TraceID)
		k = next(data, i)
	}
	if k <= len(data)-11 && string(data[k:k+11]) == `"span_id":"` {
		if b, i = d.strAt(data, k+11); i < 0 {
			return false
		}
		d.keep(b, &r.SpanID)
		k = next(data, i)
	}
	if k <= len(data)-18 && string(data[k:k+16]) == `"parent_span_id"` && string(data[k+16:k+18]) == `:"` {
		if b, i = d.strAt(data, k+18); i < 0 {
			return false
		}
		d.keep(b, &r.ParentSpanID)
		k = next(data, i)
	}
	if k <= len(data)-13 && string(data[k:k+13]) == `"timestamp":"` {
		if b, i = d.strAt(data, k+13); i < 0 {
			return false
		}
		t, ok := parseTimestamp(b)
		if !ok {
			return false
		}
		r.Timestamp, d.seenTS = t, true
		k = next(data, i)
	}
	if k <= len(data)-12 && string(data[k:k+12]) == `"agent_id":"` {
		if b, i = d.strAt(data, k+12); i < 0 {
			return false
		}
		r.AgentID = d.internBytes(b)
		k = next(data, i)
	}

	// "tool".
	if k <= len(data)-8 && string(data[k:k+8]) == `"tool":{` {
		i = k + 8
		k = i
		t := &r.Tool
		if k <= len(data)-8 && string(data[k:k+8]) == `"name":"` {
			if b, i = d.strAt(data, k+8); i < 0 {
				return false
			}
			t.Name = d.internBytes(b)
			k = next(data, i)
		}
		if k <= len(data)-11 && string(data[k:k+11]) == `"version":"` {
			if b, i = d.strAt(data, k+11); i < 0 {
				return false
			}
			t.Version = d.internBytes(b)
			k = next(data, i)
		}
		if k <= len(data)-13 && string(data[k:k+13]) == `"publisher":"` {
			if b, i = d.strAt(data, k+13); i < 0 {
				return false
			}
			t.Publisher = d.internBytes(b)
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"trust_level":"` {
			if b, i = d.strAt(data, k+15); i < 0 {
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
			k = next(data, i)
		}
		if k <= len(data)-21 && string(data[k:k+16]) == `"verification_sc` && string(data[k+16:k+21]) == `ore":` {
			j := k + 21
			if n, k := plainAt(data, j); k >= 0 && n <= 100 {
				t.VerificationScore, i = float64(n), k
			} else if i = d.viaField(fVerificationScore, 2, j); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		k = next(data, i)
	}

	// "invocation".
	if k <= len(data)-14 && string(data[k:k+14]) == `"invocation":{` {
		i = k + 14
		k = i
		in := &r.Invocation
		if k <= len(data)-14 && string(data[k:k+14]) == `"input_hash":"` {
			if b, i = d.strAt(data, k+14); i < 0 {
				return false
			}
			d.keep(b, &in.InputHash)
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"output_hash":"` {
			if b, i = d.strAt(data, k+15); i < 0 {
				return false
			}
			d.keep(b, &in.OutputHash)
			k = next(data, i)
		}
		if k <= len(data)-14 && string(data[k:k+14]) == `"duration_ms":` {
			j := k + 14
			if n, k := plainAt(data, j); k >= 0 && n <= MaxDurationMS {
				in.DurationMS, i = float64(n), k
			} else if i = d.viaField(fDurationMS, 2, j); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-10 && string(data[k:k+10]) == `"status":"` {
			if b, i = d.strAt(data, k+10); i < 0 {
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
			k = next(data, i)
		}
		if k <= len(data)-20 && string(data[k:k+16]) == `"permissions_use` && string(data[k+16:k+20]) == `d":[` {
			if in.PermissionsUsed, i = d.internsAt(data, k+20, in.PermissionsUsed[:0]); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-22 && string(data[k:k+16]) == `"permissions_den` && string(data[k+16:k+22]) == `ied":[` {
			if in.PermissionsDenied, i = d.internsAt(data, k+22, in.PermissionsDenied[:0]); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"output_bytes":` {
			if n, j := plainAt(data, k+15); j >= 0 && n <= MaxBytes {
				in.OutputBytes, i = n, j
			} else if i = d.viaField(fOutputBytes, 2, k+15); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-14 && string(data[k:k+14]) == `"input_bytes":` {
			if n, j := plainAt(data, k+14); j >= 0 && n <= MaxBytes {
				in.InputBytes, i = n, j
			} else if i = d.viaField(fInputBytes, 2, k+14); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"input_shape":"` {
			if b, i = d.strAt(data, k+15); i < 0 || len(b) > MaxInputShapeBytes {
				return false
			}
			in.InputShape = d.internBytes(b)
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"destinations":` {
			if i = d.viaField(fDestinations, 2, k+15); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if k <= len(data)-22 && string(data[k:k+16]) == `"output_destinat` && string(data[k+16:k+22]) == `ions":` {
			if i = d.viaField(fOutputDestinations, 2, k+22); i < 0 {
				return false
			}
			k = next(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		k = next(data, i)
	}

	// "context".
	if k <= len(data)-11 && string(data[k:k+11]) == `"context":{` {
		i = k + 11
		k = i
		c := &r.Context
		if k <= len(data)-11 && string(data[k:k+11]) == `"task_id":"` {
			if b, i = d.strAt(data, k+11); i < 0 {
				return false
			}
			d.keep(b, &c.TaskID)
			k = next(data, i)
		}
		if k <= len(data)-11 && string(data[k:k+11]) == `"user_id":"` {
			if b, i = d.strAt(data, k+11); i < 0 {
				return false
			}
			c.UserID = d.internBytes(b)
			k = next(data, i)
		}
		if k <= len(data)-23 && string(data[k:k+16]) == `"data_classifica` && string(data[k+16:k+23]) == `tion":"` {
			if b, i = d.strAt(data, k+23); i < 0 {
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
			k = next(data, i)
		}
		if k <= len(data)-15 && string(data[k:k+15]) == `"environment":"` {
			if b, i = d.strAt(data, k+15); i < 0 {
				return false
			}
			c.Environment = d.internBytes(b)
			k = next(data, i)
		}
		if i >= len(data) || data[i] != '}' {
			return false
		}
		i++
		k = next(data, i)
	}

	// The compliance extension and the chain.
	if k <= len(data)-24 && string(data[k:k+16]) == `"authorization_m` && string(data[k+16:k+24]) == `ethod":"` {
		if b, i = d.strAt(data, k+24); i < 0 {
			return false
		}
		r.AuthorizationMethod = d.internBytes(b)
		k = next(data, i)
	}
	if k <= len(data)-20 && string(data[k:k+16]) == `"retention_polic` && string(data[k+16:k+20]) == `y":"` {
		if b, i = d.strAt(data, k+20); i < 0 {
			return false
		}
		r.RetentionPolicy = d.internBytes(b)
		k = next(data, i)
	}
	if k <= len(data)-25 && string(data[k:k+16]) == `"data_subjects_a` && string(data[k+16:k+25]) == `ffected":` {
		if n, j := plainAt(data, k+25); j >= 0 && n <= MaxCount {
			r.DataSubjectsAffected, i = n, j
		} else if i = d.viaField(fDataSubjectsAffected, 1, k+25); i < 0 {
			return false
		}
		k = next(data, i)
	}
	if k <= len(data)-22 && string(data[k:k+16]) == `"immutability_pr` && string(data[k+16:k+22]) == `oof":"` {
		if b, i = d.strAt(data, k+22); i < 0 {
			return false
		}
		d.keep(b, &r.ImmutabilityProof)
		k = next(data, i)
	}
	if k <= len(data)-8 && string(data[k:k+8]) == `"chain":` {
		if i = d.viaField(fChain, 1, k+8); i < 0 {
			return false
		}
	}
	// The record ends here, at its closing brace (whitespace may follow).
	if i >= len(data) || data[i] != '}' {
		return false
	}
	for i++; i < len(data) && isSpace[data[i]]; i++ {
	}
	return i == len(data)
}

// next returns the index after the comma at i, where the next key of the
// object starts, or len(data), where no key fits, when the byte at i is not
// a comma: a value ended the object, or what follows is not canonical.
func next(data []byte, i int) int {
	if i < len(data) && data[i] == ',' {
		return i + 1
	}
	return len(data)
}

// strAt reads the string whose first byte (after the opening quote) is at
// i, in place, and returns it and the index after its closing quote, or -1
// for a string with a control byte, a bad escape or without an end (the
// general path reports those). Bytes ≥ 0x80 are noted for Decode's UTF-8
// check, as readString does.
func (d *Decoder) strAt(data []byte, i int) ([]byte, int) {
	start := i
	if i < 0 {
		return nil, -1
	}
	// i ≥ 0 and this bound leave the loop without bounds checks: 21
	// instructions a word.
	for ; i < len(data)-7; i += 8 {
		if m := stopBytes(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			if i += bits.TrailingZeros64(m) / 8; data[i] == '"' {
				return data[start:i], i + 1
			}
			return d.strAtSlow(data, start, i)
		}
	}
	for ; i < len(data) && strASCII[data[i]]; i++ {
	}
	if i < len(data) && data[i] == '"' {
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

// keep queues b, a string value, for *dst in the record's arena, like
// copyStr.
func (d *Decoder) keep(b []byte, dst *string) {
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	d.pending = append(d.pending, pendingStr{dst: dst, start: start, end: len(d.arena)})
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

// plainAt is plainUint at i: 1 to 15 plain digits (no sign, fraction,
// exponent or leading zero) and the index after them, else -1.
func plainAt(data []byte, i int) (int64, int) {
	if i < 0 || i >= len(data) {
		return 0, -1
	}
	var n int64
	k, end := i, min(len(data), i+16)
	for k < end && data[k]-'0' <= 9 {
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
