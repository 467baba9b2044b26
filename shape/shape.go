// Package shape computes the structural fingerprint of a raw tool input, the
// `invocation.input_shape` field of the audit record (docs/design.md §6). Agent
// runtimes call Of on the raw input and log only the shape, so raw inputs
// never enter the audit trail, and runtimes that use this package produce
// comparable shapes. Of is deterministic, never panics and returns at most
// MaxLen bytes of ASCII. Sub-package dest computes the call's destinations
// (invocation.destinations) from the same raw input.
//
// # Grammar
//
// A JSON object or array input becomes its structure:
//
//	{"query":"SELECT * FROM t","limit":10}   json{limit:num,query:str/sql}
//	{"q":"x' OR '1'='1"}                     json{q:str/sql-injection}
//	{"url":"https://a.example/x"}            json{url:str/url}
//	{"filter":{"id":1,"tags":["a"]}}         json{filter:obj{id:num,tags:arr[str]}}
//	{"a":{"b":{"c":1}}}                      json{a:obj{b:obj}}
//	[{"id":1}]                               json[obj{id:num}]
//	{"jane@acme.com":1,"bob@acme.com":2}     json{*:num}
//
// Keys are sorted and deduplicated. Value kinds are str, num, bool, null,
// arr[K] (K the first element's kind, arr[] when empty) and obj. Objects are
// expanded as obj{...} one level below the top (also inside arrays), deeper
// ones are plain obj. A key that looks like data rather than a field name
// (longer than 32 bytes, characters outside [A-Za-z0-9_.$-], or four digits in
// a row) is written as "*", so map-like objects keep one stable shape and
// their keys stay out of the trail. Objects with too many keys to fit end
// in "..." (e.g. json{a:num,b:num,...}).
//
// Any other input is text or binary:
//
//	empty                 only whitespace
//	binary                invalid UTF-8, a NUL byte, or > 10% control bytes
//	base64                one base64 token (see below)
//	text/sql-injection    see below
//	text/sql, text/url, text/path, text/long (> LongString bytes), text/plain
//
// # Content classes
//
// A string value (a JSON string, or the whole text input) gets the first
// matching class; plain strings get none (json{name:str}):
//
//	binary         NUL or > 10% control characters (JSON strings only; a text
//	               input with them is the top-level shape "binary")
//	sql-injection  tautology after OR ("' OR '1'='1", "or 1=1"), UNION
//	               SELECT, a stacked destructive statement ("; DROP TABLE",
//	               "'; DELETE FROM"), a quote followed by a comment that ends
//	               the input ("admin'--", "x'#") or by "/*", time-based probes
//	               after or/and/select ("AND SLEEP(5)", "pg_sleep(",
//	               "waitfor delay"), and markers like xp_cmdshell,
//	               information_schema., @@version, into outfile, load_file(
//	sql            starts with a SQL statement: SELECT..FROM, INSERT..INTO,
//	               UPDATE..SET, DELETE..FROM, WITH..SELECT, CREATE/DROP/ALTER
//	               TABLE|INDEX|VIEW|..., TRUNCATE, EXPLAIN, PRAGMA, SHOW TABLES
//	url            one token scheme://...
//	path           starts with /, ~/, ./, ../, C:\ or \\ (and has no blanks or
//	               a second separator), or one relative token a/b.ext
//	base64         one token of >= 24 base64 characters, length a multiple
//	               of 4, with upper and lower case letters and a digit
//	long           longer than LongString bytes
//
// Only the first ScanLimit bytes of a string are examined. The heuristics are
// deliberately small and prefer false negatives to alarming on prose; they do
// not decode URL- or hex-encoded payloads.
package shape

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

const (
	// MaxLen bounds a shape (the record field is limited to 256 bytes).
	MaxLen = 256
	// LongString is the length above which a string is class "long".
	LongString = 1024
	// ScanLimit is how much of a string the content classifier examines.
	ScanLimit = 64 << 10

	maxKeyLen     = 32
	nestedBudget  = 96 // bytes for an expanded nested object
	maxArrayDepth = 4
)

// Top-level shapes and content classes.
const (
	Empty        = "empty"
	Binary       = "binary"
	Base64       = "base64"
	ClassSQLi    = "sql-injection"
	ClassBinary  = "binary"
	ClassSQL     = "sql"
	ClassURL     = "url"
	ClassPath    = "path"
	ClassBase64  = "base64"
	ClassLong    = "long"
	ClassPlain   = "plain"
	ClassJSON    = "json"
	ClassUnknown = "other"
)

// Of returns the shape of a raw tool input (see the package doc).
func Of(input []byte) string {
	b := bytes.TrimSpace(input)
	if len(b) == 0 {
		return Empty
	}
	if isBinary(b) {
		return Binary
	}
	if b[0] == '{' || b[0] == '[' {
		var p fastjson.Parser
		if v, err := p.ParseBytes(b); err == nil {
			return clip(jsonShape(v))
		}
	}
	switch c := classify(b); c {
	case "":
		return "text/plain"
	case ClassBase64:
		return Base64
	default:
		return "text/" + c
	}
}

func jsonShape(v *fastjson.Value) string {
	if v.Type() == fastjson.TypeArray {
		a, _ := v.Array()
		if len(a) == 0 {
			return "json[]"
		}
		return "json[" + kind(a[0], 1, 1, MaxLen-6) + "]"
	}
	o, _ := v.Object()
	return "json" + object(o, 1, 1, MaxLen-4)
}

// kind renders one value. level counts enclosing objects (the top one is 1),
// depth enclosing containers; objects expand only at level 1.
func kind(v *fastjson.Value, level, depth, budget int) string {
	switch v.Type() {
	case fastjson.TypeObject:
		if level > 1 || depth >= maxArrayDepth {
			return "obj"
		}
		o, _ := v.Object()
		return "obj" + object(o, level+1, depth+1, min(budget-3, nestedBudget))
	case fastjson.TypeArray:
		a, _ := v.Array()
		if len(a) == 0 {
			return "arr[]"
		}
		if depth >= maxArrayDepth {
			return "arr"
		}
		return "arr[" + kind(a[0], level, depth+1, budget-5) + "]"
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		if c := classifyString(s); c != "" {
			return "str/" + c
		}
		return "str"
	case fastjson.TypeNumber:
		return "num"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "bool"
	default:
		return "null"
	}
}

type entry struct{ key, kind string }

// object renders {k:kind,...} in at most budget bytes (budget >= 5).
func object(o *fastjson.Object, level, depth, budget int) string {
	budget = max(budget, 5)
	var es []entry
	o.Visit(func(k []byte, v *fastjson.Value) {
		es = append(es, entry{key: keyName(k), kind: kind(v, level, depth, budget)})
	})
	sort.SliceStable(es, func(i, j int) bool { return es[i].key < es[j].key })
	var sb strings.Builder
	sb.WriteByte('{')
	n := 0
	for i, e := range es {
		if i > 0 && es[i-1].key == e.key {
			continue // duplicate key (or several "*" keys): first wins
		}
		sep := 0
		if n > 0 {
			sep = 1
		}
		need := sep + len(e.key) + 1 + len(e.kind) + 1 + 4 // entry, "}", room for ",..."
		if sb.Len()+need > budget {
			if n > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("...")
			break
		}
		if n > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(e.key)
		sb.WriteByte(':')
		sb.WriteString(e.kind)
		n++
	}
	sb.WriteByte('}')
	return sb.String()
}

// keyName returns k, or "*" when k looks like data rather than a field name.
func keyName(k []byte) string {
	if len(k) == 0 {
		return "_"
	}
	if len(k) > maxKeyLen {
		return "*"
	}
	digits := 0
	for _, c := range k {
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits >= 4 {
				return "*"
			}
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-', c == '.', c == '$':
		default:
			return "*"
		}
		digits = 0
	}
	return string(k)
}

// clip enforces MaxLen on an ASCII shape; object() already keeps within
// budget, so this is a guard.
func clip(s string) string {
	if len(s) <= MaxLen {
		return s
	}
	return s[:MaxLen-3] + "..."
}

// isBinary: invalid UTF-8, a NUL byte, or more than 10% control bytes
// (other than tab, CR, LF).
func isBinary(b []byte) bool {
	if !utf8.Valid(b) {
		return true
	}
	return controlHeavy(b)
}

func controlHeavy(b []byte) bool {
	ctrl := 0
	for _, c := range b {
		if c == 0 {
			return true
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			ctrl++
		}
	}
	return ctrl*10 > len(b)
}

// classifyString classifies a JSON string value.
func classifyString(s []byte) string {
	if controlHeavy(s) {
		return ClassBinary
	}
	return classify(bytes.TrimSpace(s))
}

// classify returns the content class of trimmed, valid-UTF-8 text, "" for
// plain.
func classify(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > ScanLimit {
		b = b[:ScanLimit]
	}
	l := lower(b)
	n := normalize(l)
	switch {
	case injection(l, n):
		return ClassSQLi
	case isSQL(n):
		return ClassSQL
	case isURL(l):
		return ClassURL
	case isPath(b):
		return ClassPath
	case isBase64(b):
		return ClassBase64
	case len(b) > LongString:
		return ClassLong
	}
	return ""
}

// lower is ASCII lower-casing (SQL keywords are ASCII).
func lower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// normalize replaces /*...*/ comments and whitespace runs by one space, so
// "UNION/**/SELECT" and "union\n  select" read as "union select".
func normalize(l string) string {
	var sb strings.Builder
	sb.Grow(len(l))
	space := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c == '/' && i+1 < len(l) && l[i+1] == '*' {
			end := strings.Index(l[i+2:], "*/")
			if end < 0 {
				i = len(l)
			} else {
				i += 2 + end + 1
			}
			space = true
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			space = true
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteByte(c)
	}
	return sb.String()
}

var injectionMarkers = []string{
	"union select", "union all select", "union distinct select",
	"xp_cmdshell", "waitfor delay", "pg_sleep(", "load_file(", "into outfile",
	"into dumpfile", "information_schema.", "@@version", "dbms_pipe.",
	"utl_http.", "sys.sysobjects",
}

// injection reports SQL-injection-like text; l is lower-cased, n also
// normalized.
func injection(l, n string) bool {
	for _, m := range injectionMarkers {
		if strings.Contains(n, m) {
			return true
		}
	}
	return tautology(n) || stacked(n) || quoteComment(l) || timeProbe(n)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// tautology finds "or A = A" with equal operands, quoted or not:
// "' or '1'='1", "or 1=1", `" or "a"="a"`.
func tautology(n string) bool {
	for i := 0; ; {
		j := strings.Index(n[i:], "or")
		if j < 0 {
			return false
		}
		j += i
		i = j + 2
		if j > 0 && isWordByte(n[j-1]) || i < len(n) && isWordByte(n[i]) {
			continue
		}
		k := skipSpaces(n, i)
		a, k, ok := operand(n, k)
		if !ok {
			continue
		}
		k = skipSpaces(n, k)
		if k >= len(n) || n[k] != '=' {
			continue
		}
		for k < len(n) && n[k] == '=' {
			k++
		}
		b, _, ok := operand(n, skipSpaces(n, k))
		if ok && a == b {
			return true
		}
	}
}

// operand reads a quoted (possibly unterminated) or bare word operand.
func operand(n string, k int) (string, int, bool) {
	if k >= len(n) {
		return "", k, false
	}
	if q := n[k]; q == '\'' || q == '"' {
		end := strings.IndexByte(n[k+1:], q)
		if end < 0 {
			return n[k+1:], len(n), true
		}
		return n[k+1 : k+1+end], k + 2 + end, true
	}
	s := k
	for k < len(n) && isWordByte(n[k]) {
		k++
	}
	return n[s:k], k, k > s
}

func skipSpaces(n string, k int) int {
	for k < len(n) && n[k] == ' ' {
		k++
	}
	return k
}

var stackedObjects = []string{"table", "database", "schema", "view", "index", "user", "function", "procedure", "trigger", "login"}

// stacked finds a second, destructive statement after ';'.
func stacked(n string) bool {
	for i := 0; ; {
		j := strings.IndexByte(n[i:], ';')
		if j < 0 {
			return false
		}
		j += i
		i = j + 1
		rest := n[skipSpaces(n, i):]
		quoted := j > 0 && (n[j-1] == '\'' || n[j-1] == '"')
		w, after := word(rest)
		switch w {
		case "drop", "alter", "create", "truncate":
			if o, _ := word(strings.TrimLeft(after, " ")); contains(stackedObjects, o) {
				return true
			}
		case "shutdown":
			if t := strings.TrimLeft(after, " ;"); t == "" || strings.HasPrefix(t, "--") || t[0] == '#' {
				return true
			}
		case "exec", "execute":
			t := strings.TrimLeft(after, " ")
			if strings.HasPrefix(t, "(") || strings.HasPrefix(t, "xp_") || strings.HasPrefix(t, "sp_") ||
				strings.HasPrefix(t, "master") || strings.HasPrefix(t, "immediate") || strings.HasPrefix(t, "@") {
				return true
			}
		case "declare":
			if strings.HasPrefix(strings.TrimLeft(after, " "), "@") {
				return true
			}
		case "delete", "insert", "update", "select":
			if quoted {
				return true
			}
		}
	}
}

func word(s string) (w, rest string) {
	k := 0
	for k < len(s) && isWordByte(s[k]) {
		k++
	}
	return s[:k], s[k:]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quoteComment finds a quote followed by a comment that swallows the rest of
// the input ("admin'--", "x' #") or by "/*".
func quoteComment(l string) bool {
	for i := 0; i < len(l); i++ {
		if c := l[i]; c != '\'' && c != '"' && c != '`' {
			continue
		}
		k := i + 1
		for k < len(l) && (l[k] == ' ' || l[k] == ')' || l[k] == ';') {
			k++
		}
		rest := l[k:]
		switch {
		case strings.HasPrefix(rest, "/*"):
			return true
		case strings.HasPrefix(rest, "--"), strings.HasPrefix(rest, "#"):
			// The comment must run to the end: "'--" closing the input,
			// not an em-dash in prose followed by more text.
			t := strings.TrimLeft(rest, "-# ")
			if t == "" || len(t) <= 16 && !strings.ContainsAny(t, " '\"\n") {
				return true
			}
		}
	}
	return false
}

// timeProbe finds sleep(/benchmark( right after or/and/select/||.
func timeProbe(n string) bool {
	for _, fn := range []string{"sleep(", "benchmark("} {
		for i := 0; ; {
			j := strings.Index(n[i:], fn)
			if j < 0 {
				break
			}
			j += i
			i = j + len(fn)
			p := strings.TrimRight(n[:j], " ")
			for _, w := range []string{" or", " and", " xor", "select", "||", "'or", "'and", "(or", "(and"} {
				if strings.HasSuffix(p, w) || p == strings.TrimLeft(w, " '(") {
					return true
				}
			}
		}
	}
	return false
}

var sqlObjects = []string{"table", "index", "view", "database", "schema", "function", "procedure",
	"trigger", "sequence", "user", "role", "extension", "type", "unique", "temporary", "temp",
	"materialized", "or"}

// isSQL reports text that starts with a SQL statement; n is normalized.
func isSQL(n string) bool {
	n = strings.TrimLeft(n, "( ")
	w, rest := word(n)
	if rest != "" && rest[0] != ' ' && rest[0] != '(' && rest[0] != '*' {
		return false
	}
	switch w {
	case "select":
		return strings.Contains(rest, " from ") || strings.HasSuffix(rest, " from")
	case "insert", "replace":
		return strings.HasPrefix(rest, " into ")
	case "update":
		return strings.Contains(rest, " set ")
	case "delete":
		return strings.HasPrefix(rest, " from ") || strings.Contains(rest, " from ")
	case "with":
		return strings.Contains(rest, "select ")
	case "create", "drop", "alter":
		o, _ := word(strings.TrimLeft(rest, " "))
		return contains(sqlObjects, o)
	case "truncate":
		return strings.HasPrefix(rest, " table ") || len(rest) > 1 && !strings.Contains(rest[1:], " ")
	case "explain", "pragma":
		return len(rest) > 1
	case "show":
		o, _ := word(strings.TrimLeft(rest, " "))
		return o == "tables" || o == "databases" || o == "columns" || o == "create" || o == "index"
	}
	return false
}

func isURL(l string) bool {
	if strings.ContainsAny(l, " \t\r\n") {
		return false
	}
	k := strings.Index(l, "://")
	if k < 1 || k > 16 || k+3 >= len(l) || l[0] < 'a' || l[0] > 'z' {
		return false
	}
	for i := 1; i < k; i++ {
		if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func isPath(b []byte) bool {
	if len(b) > 4096 || bytes.IndexByte(b, '\n') >= 0 || bytes.Contains(b, []byte("://")) {
		return false
	}
	blank := bytes.ContainsAny(b, " \t")
	abs := b[0] == '/' || bytes.HasPrefix(b, []byte("~/")) || bytes.HasPrefix(b, []byte("./")) ||
		bytes.HasPrefix(b, []byte("../")) || bytes.HasPrefix(b, []byte(`\\`)) ||
		len(b) >= 3 && (b[0]|0x20 >= 'a' && b[0]|0x20 <= 'z') && b[1] == ':' && (b[2] == '\\' || b[2] == '/')
	if abs {
		if b[0] == '/' && len(b) > 1 && b[1] == '/' {
			return false // "//comment"
		}
		seps := bytes.Count(b, []byte("/")) + bytes.Count(b, []byte(`\`))
		return !blank || seps >= 2
	}
	// A relative token like a/b.ext.
	if blank || bytes.IndexByte(b, '/') < 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./~@+-", c) >= 0) {
			return false
		}
	}
	last := b[bytes.LastIndexByte(b, '/')+1:]
	dot := bytes.LastIndexByte(last, '.')
	return dot > 0 && dot < len(last)-1
}

func isBase64(b []byte) bool {
	if len(b) < 24 || len(b)%4 != 0 {
		return false
	}
	var up, lo, dig bool
	pad := 0
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			lo = true
		case c >= '0' && c <= '9':
			dig = true
		case c == '+', c == '/', c == '-', c == '_':
		case c == '=' && i >= len(b)-2:
			pad++
		default:
			return false
		}
		if pad > 0 && c != '=' {
			return false
		}
	}
	return up && lo && dig
}

// Class reads the content class back out of a shape: "sql-injection" or
// "binary" (dangerous) when they occur anywhere in it, else for text shapes
// their class (sql, url, path, long, plain), for JSON the most notable string
// class it contains (sql, base64, url, path, long) or "json", and "base64",
// "empty" or "other" (a shape this package does not produce).
func Class(shape string) (class string, dangerous bool) {
	switch {
	case strings.Contains(shape, ClassSQLi):
		return ClassSQLi, true
	case shape == Binary || hasClass(shape, ClassBinary):
		return ClassBinary, true
	case shape == Base64 || shape == Empty:
		return shape, false
	case strings.HasPrefix(shape, "text/"):
		return shape[len("text/"):], false
	case shape == "text": // bare "text" from runtimes that do not classify
		return ClassPlain, false
	case strings.HasPrefix(shape, "json"):
		for _, c := range []string{ClassSQL, ClassBase64, ClassURL, ClassPath, ClassLong} {
			if hasClass(shape, c) {
				return c, false
			}
		}
		return ClassJSON, false
	}
	return ClassUnknown, false
}

// hasClass finds "str/<c>" ending at a delimiter.
func hasClass(shape, c string) bool {
	for i := 0; ; {
		j := strings.Index(shape[i:], "str/"+c)
		if j < 0 {
			return false
		}
		e := i + j + 4 + len(c)
		if e == len(shape) || strings.IndexByte(",}].", shape[e]) >= 0 {
			return true
		}
		i = e
	}
}

// Kind is the top-level kind of a shape: "json", "text" (also a bare "text"
// from runtimes that do not classify), "binary", "base64", "empty" or "other".
func Kind(shape string) string {
	switch {
	case strings.HasPrefix(shape, "json{"), strings.HasPrefix(shape, "json["):
		return "json"
	case strings.HasPrefix(shape, "text/"), shape == "text":
		return "text"
	case shape == Binary, shape == Base64, shape == Empty:
		return shape
	}
	return ClassUnknown
}
