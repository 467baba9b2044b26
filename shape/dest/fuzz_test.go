package dest

import (
	"slices"
	"strings"
	"testing"
)

// FuzzExtract: any tool name and raw value give valid, sorted, distinct,
// bounded hashes that match the normalised entries, and notes that name
// only configured paths.
func FuzzExtract(f *testing.F) {
	for _, s := range []struct{ tool, raw string }{
		{"send_email", `{"to":"a@b.com, Jane <j@x.org>","cc":["c@d.io"]}`},
		{"post_webpage", `{"url":"HTTPS://u@Bücher.example:443/x"}`},
		{"send_money", `{"recipient":"DE89 3704 0044 0532 0130 00","amount":1}`},
		{"add_user_to_channel", `{"user":"@Bob","channel":"#x"}`},
		{"reserve_hotel", `{"hotel":"Straße  Hotel"}`},
		{"read_inbox", `visit www.evil.com or http://[::1]:80 mail x@y.z GB82 WEST 1234 5698 7654 32`},
		{"fetch", `{"url":[[["http://a.b"]]],"link":{"x":1}}`},
		{"send_email", "{\"to\":\"\xff@\xfe.com\"}"},
	} {
		f.Add(s.tool, []byte(s.raw), false)
		f.Add(s.tool, []byte(s.raw), true)
	}
	e, err := New(DefaultDestinations(), testKey)
	if err != nil {
		f.Fatal(err)
	}
	notes := map[string]bool{"(value): not JSON, argument paths not applied": true}
	for _, r := range Builtins() {
		for _, m := range []map[string]Kind{r.Input, r.Output} {
			for p := range m {
				for _, why := range []string{"not a string", "value without a valid address", "URL without a host", "arrays nested too deep"} {
					notes[p+": "+why] = true
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, tool string, raw []byte, output bool) {
		dir, limit := Input, MaxInput
		if output {
			dir, limit = Output, MaxOutput
		}
		r := e.Extract(tool, dir, raw)
		if len(r.Destinations) > limit || !slices.IsSorted(r.Destinations) || len(slices.Compact(slices.Clone(r.Destinations))) != len(r.Destinations) {
			t.Fatalf("not sorted, distinct and bounded: %d", len(r.Destinations))
		}
		for _, d := range r.Destinations {
			if !Valid(d) {
				t.Fatalf("invalid destination %q", d)
			}
		}
		for _, s := range r.Skipped {
			if !notes[s] {
				t.Fatalf("note %q names no configured path", s)
			}
		}
		norm := e.Normalized(tool, dir, raw)
		var want []string
		for _, n := range norm {
			if strings.IndexByte(n, ':') < 1 {
				t.Fatalf("untyped entry %q", n)
			}
			want = append(want, refHash(testKey, n))
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if len(want) > limit {
			want = want[:limit]
		}
		if !slices.Equal(want, r.Destinations) {
			t.Fatalf("destinations differ from the hashed normalised entries")
		}
	})
}

// FuzzScanWindows: scanning by windows finds exactly what TextPattern
// finds on the whole text.
func FuzzScanWindows(f *testing.F) {
	for _, s := range []string{
		"mail a@b.com and see https://x.y:8/z, IBAN GB82 WEST 1234 5698 7654 32 or DE89370400440532013000.",
		"x DE89 3704\t0044 0532 0130 00 www.a.co.uk\n(NL91 ABNA 0417 1643 00) config.py",
		"AB12 CDEF GHIJ KLMN OPQR STUV WXYZ ABCD EFG1 a@b.cc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > ScanBytes {
			return
		}
		win := &extraction{scanLeft: ScanBytes}
		win.scan(s)
		whole := &extraction{scanLeft: ScanBytes}
		whole.match(s)
		if !slices.Equal(win.entries, whole.entries) {
			t.Fatalf("windows %v, whole text %v", win.entries, whole.entries)
		}
	})
}
