package record

// Destination hashes (invocation.destinations and output_destinations,
// docs/design.md §2) are "type:hex": a destination type and the lowercase
// hex of a truncated keyed hash (HMAC-SHA256 with the organisation's key)
// of the normalised destination, computed by the producer. The record
// never carries the destination itself.
const (
	// MaxDestinations caps invocation.destinations and MaxOutputDestinations
	// invocation.output_destinations; they equal the caps of package
	// shape/dest, which computes them.
	MaxDestinations       = 64
	MaxOutputDestinations = 256
	// MinDestinationHex and MaxDestinationHex bound the hex digits of a
	// destination hash (8 to 32 bytes of HMAC-SHA256).
	MinDestinationHex = 16
	MaxDestinationHex = 64
)

// DestinationTypes are the destination types, exact ones first; the two
// domain types are the coarse companions of email and host.
var DestinationTypes = []string{"email", "host", "account", "chat", "party", "email_domain", "domain"}

const destinationReason = `must be an array of "type:hex" destination hashes ` +
	`(type one of email, email_domain, host, domain, account, chat, party; an even number of 16 to 64 lowercase hex digits)`

// ValidDestination reports whether b is a well-formed destination hash.
func ValidDestination[T string | []byte](b T) bool {
	colon := -1
	for i := 0; i < len(b) && i < 13; i++ {
		if b[i] == ':' {
			colon = i
			break
		}
	}
	if colon < 0 || !knownDestinationType(b[:colon]) {
		return false
	}
	h := b[colon+1:]
	if len(h) < MinDestinationHex || len(h) > MaxDestinationHex || len(h)%2 != 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func knownDestinationType[T string | []byte](t T) bool {
	for _, k := range DestinationTypes {
		if string(t) == k {
			return true
		}
	}
	return false
}

// DestinationType returns the type prefix of a valid destination hash.
func DestinationType(dest string) string {
	for i := 0; i < len(dest); i++ {
		if dest[i] == ':' {
			return dest[:i]
		}
	}
	return ""
}

// CoarseDestination reports whether type t is a domain (the coarse
// companion of an exact e-mail address or host).
func CoarseDestination(t string) bool { return t == "email_domain" || t == "domain" }
