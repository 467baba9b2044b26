package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

// stdlib quotes s with encoding/json, HTML escaping off.
func stdlib(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"b\`, "\n\r\t\b\f\x00\x1f\x7f", "é😀", "<a href='x'>&</a>",
		"line\u2028sep\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80",
	} {
		if got, want := AppendString(nil, s), stdlib(s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
	if got := AppendString([]byte("x"), "y"); string(got) != `x"y"` {
		t.Errorf("does not append: %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString(nil, s), stdlib(s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
