// Package dest computes the destinations of a tool call — where its data
// goes: e-mail recipients, URL hosts, bank accounts, chat users and
// channels, counterparties — as keyed hashes for the audit record's
// `invocation.destinations` and `invocation.output_destinations` fields
// (docs/design.md §6a). Agent runtimes call an Extractor on the raw tool
// input (and output) and log only the hashes, so the audit trail can tell
// a never-seen recipient from a known one without holding any address.
//
// # Algorithm (what other runtimes must reproduce; testdata/vectors.json)
//
// testdata/reference.py implements it in Python and reproduces every
// vector.
//
// 1. Select values. The tool's rules (Config: built-ins plus configured
// ones; every rule whose tool glob matches applies) map argument paths to
// kinds. A path is dot-separated object keys, "*" matching every key and
// "." the whole value; arrays are entered transparently at every step, so
// "recipients" covers a string, a list of strings and "participants.email"
// a list of objects. Strings are used; integer literals (digits only) are
// used as written for account, chat and party; other values are skipped.
// A raw value that is not JSON is one string, reached only by ".". Values
// are cut to MaxValueBytes (back to a rune start); invalid UTF-8 is
// replaced by U+FFFD.
//
// 2. Normalise each value by kind into typed entries "type:value":
//
//	email    split on ',' and ';'; per part: trim; the text inside the last
//	         <...> if any; drop a "mailto:" prefix (any case) and any
//	         "?query"; split at the last '@' (parts without '@', with an
//	         empty side or with blanks are skipped); local part lower-cased,
//	         domain as a host (below). Entries email:local@domain and
//	         email_domain:domain.
//	url      trim; unless it starts with a scheme ([A-Za-z][A-Za-z0-9+.-]*)
//	         and "://", drop a leading "//" and read it as http://...;
//	         the authority is the text after "://" up to the first of
//	         / ? # \ ; drop userinfo up to the last '@'; the port is what
//	         follows the last ':' when all digits (or "[v6]:port"), dropped
//	         when empty or the scheme's default (http 80, https 443, ws 80,
//	         wss 443, ftp 21). Host: strip one trailing '.'; an IP literal
//	         is written canonically ([v6] in brackets); a name with
//	         non-ASCII characters goes through IDNA ToASCII (UTS 46
//	         non-transitional, all checks on: STD3 rules, hyphens,
//	         joiners, Bidi, DNS lengths; Python idna.encode(uts46=True,
//	         std3_rules=True)) and is only lower-cased if that fails or
//	         gives an empty label; an ASCII name is only lower-cased.
//	         Entries host:host[:port] and, for names,
//	         domain:<registrable domain> (publicsuffix EffectiveTLDPlusOne
//	         over the whole list, ICANN and private sections; the host
//	         itself when it has none). No host: skipped.
//	account  delete all white space, upper-case: account:VALUE.
//	chat     trim, drop one leading '@' or '#', then as party: chat:value.
//	party    collapse white-space runs to one space, trim, Unicode case
//	         folding (Python str.casefold): party:value.
//	text     every string (and object key) inside the value is scanned with
//	         TextPattern: URLs and bare domains (those ending in an ICANN
//	         public suffix) become url entries, e-mail addresses email
//	         entries, IBAN-like tokens account entries. At most ScanBytes
//	         bytes are scanned per call.
//
// White space is Go's unicode.IsSpace (ASCII blanks, U+0085, U+00A0 and
// the Unicode White_Space characters); lower- and upper-casing change
// ASCII letters only (case folding, for chat and party, is full Unicode
// folding).
//
// 3. Hash each distinct entry: HMAC-SHA256 over the UTF-8 bytes of
// "type:value" with the organisation's key, first 16 bytes, lower-case hex:
// "type:" + 32 hex digits, e.g. "email:5d2b...". The type stays readable
// (the egress detector compares like with like); the value cannot be read
// back or guessed without the key.
//
// 4. Sort the hashed strings (bytewise), and keep the first MaxInput (input)
// or MaxOutput (output) of them.
//
// Nothing in this package puts a raw value into an error, a note or a log:
// problems name the argument path only.
package dest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"os"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/cases"
)

// Entry types: the prefix of a destination, readable in records.
const (
	TypeEmail       = "email"
	TypeEmailDomain = "email_domain"
	TypeHost        = "host"
	TypeDomain      = "domain"
	TypeAccount     = "account"
	TypeChat        = "chat"
	TypeParty       = "party"
)

const (
	// HashBytes is how much of the HMAC is kept (128 bits: collisions
	// between distinct destinations of one organisation are negligible).
	HashBytes = 16
	// MinKeyBytes is the shortest key accepted.
	MinKeyBytes = 16
	// MaxInput and MaxOutput bound the destinations of one call.
	MaxInput  = 64
	MaxOutput = 256
	// ScanBytes bounds the text scanned per call (kind text).
	ScanBytes = 256 << 10
	// MaxValueBytes bounds one value; longer values are cut there.
	MaxValueBytes = 4096
)

// Hasher computes keyed hashes of typed entries. It is safe for concurrent
// use.
type Hasher struct {
	pool sync.Pool // of *macState
}

type macState struct {
	m   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// ErrShortKey is returned for keys under MinKeyBytes.
var ErrShortKey = fmt.Errorf("key must be at least %d bytes", MinKeyBytes)

// NewHasher returns a Hasher keyed with key (copied).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyBytes {
		return nil, ErrShortKey
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return &macState{m: hmac.New(sha256.New, k)} }
	return h, nil
}

// Append appends "typ:" + hex(HMAC(key, typ+":"+value)[:HashBytes]).
func (h *Hasher) Append(dst []byte, typ, value string) []byte {
	st := h.pool.Get().(*macState)
	st.m.Reset()
	st.buf = append(append(append(st.buf[:0], typ...), ':'), value...)
	st.m.Write(st.buf)
	sum := st.m.Sum(st.sum[:0])
	dst = append(append(dst, typ...), ':')
	dst = hex.AppendEncode(dst, sum[:HashBytes])
	if cap(st.buf) <= 2*MaxValueBytes {
		h.pool.Put(st)
	}
	return dst
}

// Hash returns the hashed form of typ:value.
func (h *Hasher) Hash(typ, value string) string { return string(h.Append(nil, typ, value)) }

// LoadKey reads the organisation's key from a file or an environment
// variable (exactly one of them): its contents with surrounding white space
// trimmed, at least MinKeyBytes long. Errors name the file or variable,
// never the key.
func LoadKey(file, env string) ([]byte, error) {
	var k string
	switch {
	case file != "" && env != "":
		return nil, errors.New("destination key: set key_file or key_env, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("destination key: %w", err)
		}
		k = string(b)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("destination key: environment variable %s is not set", env)
		}
		k = v
	default:
		return nil, errors.New("destination key: no key_file or key_env")
	}
	k = strings.TrimSpace(k)
	if len(k) < MinKeyBytes {
		src := file
		if src == "" {
			src = "$" + env
		}
		return nil, fmt.Errorf("destination key %s: %w", src, ErrShortKey)
	}
	return []byte(k), nil
}

// Valid reports whether s has the form of a hashed destination: a type of
// [a-z][a-z0-9_]* (at most 32 bytes), ':', and 2·HashBytes lower-case hex
// digits. Receivers use it to refuse raw values sent by mistake.
func Valid(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 1 || i > 32 || len(s)-i-1 != 2*HashBytes {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || j > 0 && (c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	for _, c := range []byte(s[i+1:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// entry is one normalised destination before hashing.
type entry struct{ typ, value string }

// profile is UTS 46 ToASCII, non-transitional, with every check on
// (STD3 rules, hyphens, joiners, Bidi, DNS lengths): what Python's idna
// package does with uts46=True, std3_rules=True, so both reject the same
// odd names (which are then only lower-cased). A result with an empty
// label counts as rejected too.
var profile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

var folder = cases.Fold()

// clean cuts s to MaxValueBytes (back to a rune start) and replaces
// invalid UTF-8 by U+FFFD.
func clean(s string) string {
	if len(s) > MaxValueBytes {
		i := MaxValueBytes
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// normHost lower-cases and IDNA-encodes a host name, or writes an IP
// literal canonically; ip reports an IP.
func normHost(h string) (host string, ip bool) {
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", false
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil {
			return "[" + a.String() + "]", true
		}
		return asciiLower(h), true
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
		return a.String(), true
	}
	if isASCII(h) {
		// UTS 46 maps ASCII only by lower-casing, and a failed ToASCII
		// falls back to lower-casing: the same result, without the tables.
		return asciiLower(h), false
	}
	if a, err := profile.ToASCII(h); err == nil && a != "" && a[0] != '.' && a[len(a)-1] != '.' && !strings.Contains(a, "..") {
		return a, false
	}
	return asciiLower(h), false
}

// asciiLower and asciiUpper change only ASCII letters: the same in every
// runtime (full Unicode mappings differ between languages, e.g. ß, İ).
func asciiLower(s string) string { return asciiMap(s, 'A', 'a') }

func asciiUpper(s string) string { return asciiMap(s, 'a', 'A') }

// asciiMap moves the letters from..from+25 to to..to+25; s itself when
// none occurs.
func asciiMap(s string, from, to byte) string {
	i := 0
	for i < len(s) && (s[i] < from || s[i] > from+25) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= from && c <= from+25 {
			b[i] = c - from + to
		}
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// registrable returns the registrable domain (eTLD+1) of a host name, or
// the host itself when it has none (a public suffix, a single label).
func registrable(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// appendEmail normalises one e-mail list value.
func appendEmail(es []entry, s string) ([]entry, int) {
	skipped := 0
	for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
		addr, domain, ok := normEmail(part)
		if !ok {
			if strings.TrimSpace(part) != "" {
				skipped++
			}
			continue
		}
		es = append(es, entry{TypeEmail, addr}, entry{TypeEmailDomain, domain})
	}
	return es, skipped
}

// normEmail normalises one address (see the package doc).
func normEmail(s string) (addr, domain string, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
		s = strings.TrimSpace(s)
	}
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
		if j := strings.IndexByte(s, '?'); j >= 0 {
			s = s[:j]
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", "", false
	}
	d, _ := normHost(s[at+1:])
	if d == "" {
		return "", "", false
	}
	return asciiLower(s[:at]) + "@" + d, d, true
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}

// appendURL normalises a URL (or a bare host) into host and domain entries.
func appendURL(es []entry, s string) ([]entry, bool) {
	s = strings.TrimSpace(s)
	scheme := "http"
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		scheme = asciiLower(s[:i])
		s = s[i+3:]
	} else {
		s = strings.TrimPrefix(s, "//")
	}
	if i := strings.IndexAny(s, "/?#\\"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			host = s[:i+1]
			if rest := s[i+1:]; strings.HasPrefix(rest, ":") && allDigits(rest[1:]) {
				port = rest[1:]
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && allDigits(s[i+1:]) {
		host, port = s[:i], s[i+1:]
	}
	if port == defaultPorts[scheme] {
		port = ""
	}
	h, ip := normHost(host)
	if h == "" {
		return es, false
	}
	hp := h
	if port != "" {
		hp = h + ":" + port
	}
	es = append(es, entry{TypeHost, hp})
	if !ip {
		es = append(es, entry{TypeDomain, registrable(h)})
	}
	return es, true
}

// isScheme reports [A-Za-z][A-Za-z0-9+.-]*, so that "://" inside a query
// ("x.com/?u=http://y") is not read as the end of a scheme.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-')) {
			return false
		}
	}
	return s != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true // "" too: "host:" has an empty port
}

// normAccount deletes white space and upper-cases.
func normAccount(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	return asciiUpper(b.String())
}

// normName collapses white space and case-folds (party; chat after
// dropping '@'/'#').
func normName(s string) string {
	return folder.String(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

func normChat(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '@' || s[0] == '#') {
		s = s[1:]
	}
	return normName(s)
}
