package inputs

import (
	"os"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// FuzzUnmarshalState: arbitrary snapshots must not panic UnmarshalState,
// must leave the state unchanged on error and re-encode stably on success
// (detecttest.FuzzUnmarshalState). The version 2, 3, 4 and 5 golden
// records seed the upgrade paths.
func FuzzUnmarshalState(f *testing.F) {
	d := newMixed()
	feed(d, 0, 1500)
	for _, v := range []string{"v2", "v3", "v4", "v5"} {
		if old, err := os.ReadFile("testdata/input_novelty-state." + v + ".bin"); err != nil {
			f.Fatal(err)
		} else {
			f.Add(old[:len(old)-4])
		}
	}
	detecttest.FuzzUnmarshalState(f, func(testing.TB) detecttest.Detector { return newMixed() },
		detecttest.MustMarshal(f, d), (&StateV6{}).encode(nil))
}

// FuzzEachPair: any shape string (runtimes may send shapes this build's
// shape package does not produce) must not panic the field walk; a
// listed shape is a JSON object with at least one pair, and its pairs are
// the same on a second walk.
func FuzzEachPair(f *testing.F) {
	for _, s := range []string{"json{a:str}", "json{f:obj{a:num,b:arr[obj{c:str}]},q:str/url}", "json{a:num,...}",
		"json{}", "json{a:obj{}}", "json{{:}}", "json{a:obj{b:obj{c:num}}}", "text/plain", "json{,}", "json{a:}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var a, b []uint64
		ok := eachPair(s, func(h uint64) { a = append(a, h) })
		ok2 := eachPair(s, func(h uint64) { b = append(b, h) })
		if ok != ok2 || len(a) != len(b) {
			t.Fatalf("%q: walks differ", s)
		}
		for i := range a {
			if a[i] != b[i] || a[i] == 0 {
				t.Fatalf("%q: pair %d hash %x / %x", s, i, a[i], b[i])
			}
		}
		if ok && (len(a) == 0 || len(s) < len("json{}")) {
			t.Fatalf("%q listed with %d pairs", s, len(a))
		}
	})
}

// FuzzExtension: any shape string must not panic the extension check; a
// shape it accepts is a JSON object with a pair the tool does not know.
func FuzzExtension(f *testing.F) {
	for _, s := range []string{"json{a:str,c:bool}", "json{a:str,b:num,c:obj{d:str}}", "json{c:bool}", "json{a:str,c:bool,...}",
		"json{a:str,b:num,c:obj{d:str/url}}", "json{,c:bool}", "json{a:str,,}", "json{a:str,c:obj{}"} {
		f.Add(s)
	}
	d := newDet(testConfig())
	stream(d, 0, 10, "t", "agent-a", []string{"json{a:str}", "json{a:str,b:num}", "json{}"})
	tl := d.store.Peek(baseline.Key{Tool: "t"})
	f.Fuzz(func(t *testing.T, s string) {
		if !tl.extension(s) {
			return
		}
		var unknown int
		if !eachPair(s, func(h uint64) {
			if tl.fields.Find(h) == nil {
				unknown++
			}
		}) || unknown == 0 {
			t.Fatalf("%q: an extension without a new pair (%d)", s, unknown)
		}
	})
}
