package dest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated testdata (vectors' expected hashes, builtins.json)")

type vectorFile struct {
	Comment string   `json:"comment"`
	Key     string   `json:"key"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name       string   `json:"name"`
	Tool       string   `json:"tool"`
	Direction  string   `json:"direction"`
	Rules      []Rule   `json:"rules,omitempty"`
	Raw        string   `json:"raw"`
	Normalized []string `json:"normalized"`
	Expected   []string `json:"expected"`
}

// refHash is the hashing step written independently of Hasher, from the
// documented algorithm.
func refHash(key []byte, typed string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(typed))
	sum := m.Sum(nil)
	i := bytes.IndexByte([]byte(typed), ':')
	return typed[:i+1] + hex.EncodeToString(sum[:16])
}

// The vectors are the cross-runtime contract: normalized entries are
// written by hand from the algorithm in the package doc; expected hashes
// are computed from them by refHash (not by the package); the extractor
// must produce both.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	key := []byte(vf.Key)
	for i := range vf.Vectors {
		v := &vf.Vectors[i]
		var want []string
		for _, n := range v.Normalized {
			want = append(want, refHash(key, n))
		}
		slices.Sort(want)
		if want == nil {
			want = []string{}
		}
		if *update {
			v.Expected = want
		}
		t.Run(v.Name, func(t *testing.T) {
			cfg := DefaultDestinations()
			if v.Rules != nil {
				cfg = Config{Tools: v.Rules}
			}
			e, err := New(cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			dir := Input
			if v.Direction == "output" {
				dir = Output
			}
			norm := e.Normalized(v.Tool, dir, []byte(v.Raw))
			if norm == nil {
				norm = []string{}
			}
			if !slices.Equal(norm, v.Normalized) {
				t.Errorf("normalized:\n got %q\nwant %q", norm, v.Normalized)
			}
			if !slices.Equal(v.Expected, want) {
				t.Errorf("expected hashes in the file differ from the normalized entries' (run with -update)")
			}
			got := e.Extract(v.Tool, dir, []byte(v.Raw)).Destinations
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, v.Expected) {
				t.Errorf("destinations:\n got %q\nwant %q", got, v.Expected)
			}
		})
	}
	if *update {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(vf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors.json", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// builtins.json is the built-in rule table for runtimes that reimplement
// the extractor; it must equal Builtins().
func TestBuiltinsGolden(t *testing.T) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Builtins()); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/builtins.json", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/builtins.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("testdata/builtins.json differs from Builtins() (go test -update)")
	}
	cfg := DefaultDestinations()
	if es := cfg.Validate(); len(es) > 0 {
		t.Fatal(es)
	}
	for i, r := range Builtins() {
		c := Config{Tools: []Rule{r}}
		if es := c.Validate(); len(es) > 0 {
			t.Errorf("builtin %d (%s): %v", i, r.Tool, es)
		}
	}
}
