package shape

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOf(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 100)
	manyKeys := "{"
	for i := 0; i < 60; i++ {
		if i > 0 {
			manyKeys += ","
		}
		manyKeys += `"field_` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`
	}
	manyKeys += "}"
	tests := []struct {
		name, in, want string
	}{
		// JSON structure.
		{"object sorted", `{"query":"SELECT * FROM t","limit":10}`, "json{limit:num,query:str/sql}"},
		{"all kinds", `{"s":"hi","n":1.5,"t":true,"f":false,"z":null,"a":[1,2],"e":[],"o":{}}`,
			"json{a:arr[num],e:arr[],f:bool,n:num,o:obj{},s:str,t:bool,z:null}"},
		{"nested one level", `{"a":{"b":{"c":1},"d":"x"}}`, "json{a:obj{b:obj,d:str}}"},
		{"array of objects", `{"items":[{"id":1,"tags":["x"]}]}`, "json{items:arr[obj{id:num,tags:arr[str]}]}"},
		{"top array", `[{"id":1}]`, "json[obj{id:num}]"},
		{"top empty array", `[]`, "json[]"},
		{"empty object", ` {} `, "json{}"},
		{"deep arrays capped", `{"a":[[[[[[1]]]]]]}`, "json{a:arr[arr[arr[arr]]]}"},
		{"duplicate keys", `{"a":1,"a":"x"}`, "json{a:num}"},
		{"map-like keys", `{"jane@acme.com":1,"bob@acme.com":2}`, "json{*:num}"},
		{"digit keys", `{"12345":1,"name":"x"}`, "json{*:num,name:str}"},
		{"long key", `{"` + strings.Repeat("k", 40) + `":1}`, "json{*:num}"},
		{"empty key", `{"":1}`, "json{_:num}"},
		{"blank string", `{"a":" ","b":""}`, "json{a:str,b:str}"},
		{"string classes", `{"u":"https://x.example/a?b=1","p":"/etc/passwd","d":"SGVsbG8gV29ybGQhIFRoaXMgaXMgYjY0ZGF0YTEy","b":"` + long + `"}`,
			"json{b:str/long,d:str/base64,p:str/path,u:str/url}"},
		{"json sqli", `{"q":"x' OR '1'='1"}`, "json{q:str/sql-injection}"},
		{"json nested sqli", `{"filter":{"name":"1 UNION SELECT password FROM users"}}`, "json{filter:obj{name:str/sql-injection}}"},
		{"json binary string", `{"data":"\u0000\u0001abc"}`, "json{data:str/binary}"},
		{"invalid json is text", `{"a":`, "text/plain"},

		// Text.
		{"empty", "  \n\t", "empty"},
		{"plain", "What is the weather in Paris?", "text/plain"},
		{"sql", "SELECT id, name\nFROM customers WHERE id = 4", "text/sql"},
		{"sql insert", "insert into t (a) values (1)", "text/sql"},
		{"sql update", "UPDATE t SET a = 1 WHERE b = 2", "text/sql"},
		{"sql create", "CREATE TABLE t (id int)", "text/sql"},
		{"sql with", "WITH x AS (SELECT 1) SELECT * FROM x", "text/sql"},
		{"select prose no from", "Select the best option", "text/plain"},
		{"url", "https://example.com/path?q=1", "text/url"},
		{"url with blank is text", "see https://example.com now", "text/plain"},
		{"abs path", "/var/log/syslog", "text/path"},
		{"home path", "~/notes.txt", "text/path"},
		{"windows path", `C:\Users\jane\file.txt`, "text/path"},
		{"relative path", "src/main.go", "text/path"},
		{"path with blanks", "/Users/jane/My Documents/x.txt", "text/path"},
		{"slash command", "/imagine a cat", "text/plain"},
		{"and/or", "and/or", "text/plain"},
		{"base64", "SGVsbG8gV29ybGQhIFRoaXMgaXMgYjY0ZGF0YTEy", "base64"},
		{"hex hash not base64", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "text/plain"},
		{"long", long, "text/long"},
		{"binary nul", "abc\x00def", "binary"},
		{"binary invalid utf8", "\xff\xfe\xfd", "binary"},
		{"binary control heavy", "\x01\x02\x03abcdef", "binary"},
		{"tab newline fine", "a\tb\nc", "text/plain"},

		// SQL injection.
		{"tautology quoted", "x' OR '1'='1", "text/sql-injection"},
		{"tautology numeric", "1 or 1=1", "text/sql-injection"},
		{"tautology double quote", `" or "a"="a`, "text/sql-injection"},
		{"union select", "1 UNION SELECT username, password FROM users", "text/sql-injection"},
		{"union comment", "1 union/**/select 1", "text/sql-injection"},
		{"union all", "0 UNION ALL SELECT NULL", "text/sql-injection"},
		{"stacked drop", "1; DROP TABLE users", "text/sql-injection"},
		{"stacked quoted delete", "x'; DELETE FROM users", "text/sql-injection"},
		{"stacked exec", "1; exec xp_dirtree '//x'", "text/sql-injection"},
		{"quote comment", "admin'--", "text/sql-injection"},
		{"quote hash", "admin' #", "text/sql-injection"},
		{"quote block comment", "admin'/*", "text/sql-injection"},
		{"xp_cmdshell", "EXEC xp_cmdshell 'dir'", "text/sql-injection"},
		{"sleep probe", "1 AND SLEEP(5)", "text/sql-injection"},
		{"select sleep", "SELECT SLEEP(5)", "text/sql-injection"},
		{"pg_sleep", "1;select pg_sleep(10)", "text/sql-injection"},
		{"waitfor", "1'; WAITFOR DELAY '0:0:5'--", "text/sql-injection"},
		{"information schema", "SELECT table_name FROM information_schema.tables", "text/sql-injection"},

		// Prose and code that must not look like injection.
		{"prose or", "Should I buy apples or oranges for 2 = 3 people?", "text/plain"},
		{"prose dash", `He said "hello" -- then he left the room`, "text/plain"},
		{"hash char", "use the '#' character for comments", "text/plain"},
		{"python sleep", "import time\ntime.sleep(1)\nprint('done')", "text/plain"},
		{"cli flags", "ls --all --color", "text/plain"},
		{"semicolon prose", "first this; drop me a line later", "text/plain"},
		{"multi insert", "INSERT INTO t VALUES ('a'); INSERT INTO t VALUES ('b')", "text/sql"},
		{"sql with comment", "SELECT a FROM t -- all rows", "text/sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of([]byte(tt.in)); got != tt.want {
				t.Errorf("Of(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
	// Too many keys: truncated cleanly within MaxLen, ending in ",...}".
	got := Of([]byte(manyKeys))
	if len(got) > MaxLen || !strings.HasPrefix(got, "json{field_aa:num,") || !strings.HasSuffix(got, ",...}") {
		t.Errorf("many keys: %d bytes %q", len(got), got)
	}
}

func TestOfTruncatesNested(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"outer":{`)
	for i := 0; i < 26; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"nested_field_` + string(rune('a'+i)) + `":"x"`)
	}
	sb.WriteString(`},"z":1}`)
	got := Of([]byte(sb.String()))
	if !strings.HasPrefix(got, "json{outer:obj{nested_field_a:str,") || !strings.Contains(got, ",...},z:num}") {
		t.Fatalf("got %q", got)
	}
	if len(got) > MaxLen {
		t.Fatalf("len %d > %d", len(got), MaxLen)
	}
}

func TestClassAndKind(t *testing.T) {
	tests := []struct {
		shape, class string
		dangerous    bool
		kind         string
	}{
		{"text/sql-injection", "sql-injection", true, "text"},
		{"json{a:obj{q:str/sql-injection}}", "sql-injection", true, "json"},
		{"binary", "binary", true, "binary"},
		{"json{data:str/binary}", "binary", true, "json"},
		{"text/sql", "sql", false, "text"},
		{"text/plain", "plain", false, "text"},
		{"text/long", "long", false, "text"},
		{"text", "plain", false, "text"},
		{"json{limit:num,query:str/sql}", "sql", false, "json"},
		{"json{u:str/url,d:str/base64}", "base64", false, "json"},
		{"json{customer_id:str}", "json", false, "json"},
		{"json[obj{id:num}]", "json", false, "json"},
		{"base64", "base64", false, "base64"},
		{"empty", "empty", false, "empty"},
		{"xml<a/>", "other", false, "other"},
		{"", "other", false, "other"},
	}
	for _, tt := range tests {
		c, d := Class(tt.shape)
		if c != tt.class || d != tt.dangerous {
			t.Errorf("Class(%q) = %q, %v; want %q, %v", tt.shape, c, d, tt.class, tt.dangerous)
		}
		if k := Kind(tt.shape); k != tt.kind {
			t.Errorf("Kind(%q) = %q, want %q", tt.shape, k, tt.kind)
		}
	}
}

// Every shape Of produces must read back with Class consistently.
func TestClassRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"x' OR '1'='1":                     "sql-injection",
		`{"q":"x' OR '1'='1"}`:             "sql-injection",
		"\x00\x01":                         "binary",
		"SELECT a FROM b":                  "sql",
		`{"q":"SELECT a FROM b","n":1}`:    "sql",
		"https://a.example/":               "url",
		"hello":                            "plain",
		`{"name":"hello"}`:                 "json",
		"SGVsbG8gV29ybGQhIFRoaXMgaXMgYjY0": "base64",
	} {
		if c, _ := Class(Of([]byte(in))); c != want {
			t.Errorf("Class(Of(%q)) = %q, want %q", in, c, want)
		}
	}
}

func FuzzOf(f *testing.F) {
	for _, s := range []string{
		`{"query":"SELECT * FROM t","limit":10}`, `[{"id":1}]`, `{"a":{"b":[{"c":"x' or 1=1--"}]}}`,
		"x' OR '1'='1", "admin'--", "/etc/passwd", "https://x/", "\x00\xff", "", "{", "or", "';",
		"1; DROP TABLE x", "union/*", "sleep(", `{"` + strings.Repeat("a", 300) + `":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := Of(in)
		if len(s) == 0 || len(s) > MaxLen {
			t.Fatalf("Of(%q) = %q: length %d", in, s, len(s))
		}
		if !utf8.ValidString(s) {
			t.Fatalf("Of(%q) = %q: invalid UTF-8", in, s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				t.Fatalf("Of(%q) = %q: non-printable byte", in, s)
			}
		}
		if again := Of(in); again != s {
			t.Fatalf("Of not deterministic: %q vs %q", s, again)
		}
		if k := Kind(s); k == ClassUnknown {
			t.Fatalf("Of(%q) = %q: Kind does not recognise it", in, s)
		}
		Class(s)
	})
}

func BenchmarkOf(b *testing.B) {
	in := []byte(`{"customer_id":"c-123","query":"SELECT * FROM orders WHERE id = 4","limit":10,"opts":{"fast":true}}`)
	b.ReportAllocs()
	for b.Loop() {
		Of(in)
	}
}
