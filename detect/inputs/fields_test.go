package inputs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
)

func pairsOf(t *testing.T, s string) (map[uint64]bool, bool) {
	t.Helper()
	hs := map[uint64]bool{}
	ok := eachPair(s, func(h uint64) { hs[h] = true })
	return hs, ok
}

func TestEachPair(t *testing.T) {
	tests := []struct {
		shape string
		ok    bool
		n     int
	}{
		{"json{query:str}", true, 1},
		{"json{lang:str,query:str,safe:bool}", true, 3},
		{"json{filter:obj{id:num,tags:arr[str]},q:str/url}", true, 4}, // filter:obj, filter.id, filter.tags, q
		{"json{items:arr[obj{a:num,b:str}],q:str}", true, 2},
		{"json{a:obj{b:obj},c:null}", true, 3},
		{"json{*:num}", true, 1},
		{"json{}", false, 0},
		{"json{a:num,b:num,...}", false, 2},
		{"json{a:obj{b:num,...}}", false, 2},
		{"json[obj{id:num}]", false, 0},
		{"text/plain", false, 0},
		{"binary", false, 0},
		{"json{a:num", false, 0},
		{"json{:num}", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.shape, func(t *testing.T) {
			hs, ok := pairsOf(t, tt.shape)
			if ok != tt.ok || len(hs) != tt.n {
				t.Errorf("eachPair(%q) = %d pairs, ok %v; want %d, %v", tt.shape, len(hs), ok, tt.n, tt.ok)
			}
		})
	}
}

// Pairs are (path, type): the same key under another parent, or with
// another type or content class, is another pair.
func TestPairsDistinguishPathAndType(t *testing.T) {
	shapes := []string{"json{a:str}", "json{a:num}", "json{a:str/sql}", "json{b:str}", "json{x:obj{a:str}}", "json{y:obj{a:str}}"}
	seen := map[uint64]string{}
	for _, s := range shapes {
		hs, _ := pairsOf(t, s)
		for h := range hs {
			if prev, dup := seen[h]; dup && !strings.Contains(prev, "obj") {
				t.Errorf("%s and %s share a pair hash", prev, s)
			}
			seen[h] = s
		}
	}
	if len(seen) != 4+1+1+2 { // a:str a:num a:str/sql b:str, x:obj y:obj, x.a y.a
		t.Errorf("%d distinct pairs, want 8", len(seen))
	}
}

func TestEachPairDoesNotAllocate(t *testing.T) {
	var n int
	if a := testing.AllocsPerRun(100, func() {
		eachPair("json{filter:obj{id:num,tags:arr[str]},lang:str,query:str,safe:bool}", func(h uint64) { n += int(h & 1) })
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

// searchShape is the search tool's query with the optional fields of
// mask (bit i: opt[i]).
var searchOpt = []string{"lang:str", "safe:bool", "since:str", "site:str", "type:str"}

func searchShape(mask int) string {
	fs := []string{"query:str"}
	for i, f := range searchOpt {
		if mask&(1<<i) != 0 {
			fs = append(fs, f)
		}
	}
	// Keys sorted as the shape grammar writes them.
	for i := range fs {
		for j := i + 1; j < len(fs); j++ {
			if fs[j] < fs[i] {
				fs[i], fs[j] = fs[j], fs[i]
			}
		}
	}
	return "json{" + strings.Join(fs, ",") + "}"
}

// A search tool using some combinations of its optional fields: a new
// combination is a recombination, scored 3 decades lower (silent at a
// half-open vocabulary, still info at a closed one), while a new field, a
// changed type, sql-injection and binary shapes score as before.
func TestRecombination(t *testing.T) {
	// Masks covering every optional field: 10 shapes in use (o = 10/16).
	half := []int{0, 1, 2, 4, 8, 16, 3, 5, 9, 17}
	closed := []int{0, 3, 12, 16} // o = 4/16: closed
	tests := []struct {
		name    string
		masks   []int
		shape   string
		min     float64 // lowest score wanted; 0: no finding
		max     float64
		recomb  bool
		oldLess float64 // without the recombination prior it would have scored at least this
	}{
		{"recombination at a half-open tool is silent", half, searchShape(1 | 4 | 16), 0, 0, true, 40},
		{"recombination at a closed tool is still info", closed, searchShape(1 | 4), 40, 60, true, 70},
		{"new field", half, "json{exec:str,query:str}", 40, 100, false, 0},
		{"changed type", half, "json{query:num}", 40, 100, false, 0},
		{"changed class", half, "json{query:str/sql,safe:bool}", 40, 100, false, 0},
		{"sql-injection", half, "json{query:str/sql-injection}", 80, 100, false, 0},
		{"binary", half, "json{query:str/binary}", 40, 100, false, 0},
		{"truncated shape", half, "json{lang:str,query:str,...}", 40, 100, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shapes := make([]string, len(tt.masks))
			for i, m := range tt.masks {
				shapes[i] = searchShape(m)
			}
			d := newDet(testConfig())
			if fs := stream(d, 0, 20000, "web-search", "agent-a", shapes); len(fs) != 0 {
				t.Fatalf("learning raised %d findings: %+v", len(fs), fs[0])
			}
			fs := d.Observe(rec(20000, "web-search", "agent-b", tt.shape), nil)
			if tt.min == 0 {
				if len(fs) != 0 {
					t.Fatalf("finding %+v, want none", fs[0])
				}
			} else {
				f := one(t, fs)
				if f.Score < tt.min || f.Score > tt.max {
					t.Errorf("score %v, want in [%v, %v]", f.Score, tt.min, tt.max)
				}
				if got, _ := f.Details["recombination"].(bool); got != tt.recomb {
					t.Errorf("details.recombination %v, want %v", got, tt.recomb)
				}
			}
			if tt.oldLess > 0 {
				// The same stream with the tool's pairs forgotten scores the shape as before.
				d := newDet(testConfig())
				stream(d, 0, 20000, "web-search", "agent-a", shapes)
				d.store.Peek(baseline.Key{Tool: "web-search"}).fields = hashset.Set{}
				f := one(t, d.Observe(rec(20000, "web-search", "agent-b", tt.shape), nil))
				if f.Score < tt.oldLess || f.Details["recombination"] != nil {
					t.Errorf("without field pairs: score %v, details %v; want at least %v", f.Score, f.Details, tt.oldLess)
				}
			}
		})
	}
}

// A flood of recombinations (every shape made of known pairs) from one
// agent at a tool whose reference is closed is still a vocabulary_opening:
// recombination lowers a shape's own score, not the novelty it adds.
func TestRecombinationFloodStillOpens(t *testing.T) {
	d := newDet(testConfig())
	const day = 24 * time.Hour
	// All five optional fields in use, four shapes: a closed reference.
	normal := []string{searchShape(0), searchShape(1 | 2), searchShape(4 | 8), searchShape(16)}
	if fs := (traffic{tool: "web-search", agents: fleet, shapes: cycle(normal...), step: 20 * time.Second, to: day}).run(d, nil); len(fs) != 0 {
		t.Fatalf("a day of a closed vocabulary raised %d findings, first %+v", len(fs), fs[0])
	}
	if tl := d.store.Peek(baseline.Key{Tool: "web-search"}); !tl.refClosed() {
		t.Fatalf("reference openness %v, want closed", tl.refOpen)
	}
	var masks []int
	for m := range 32 {
		if !slices.Contains([]int{0, 3, 12, 16}, m) {
			masks = append(masks, m)
		}
	}
	flood := traffic{tool: "web-search", agents: []string{"agent-f"}, from: day, to: day + time.Duration(len(masks))*10*time.Second,
		step: 10 * time.Second, shapes: func(i int) string { return searchShape(masks[i]) }}
	fs := flood.run(d, nil)
	_, openings := kinds(fs)
	if len(openings) != 1 || openings[0].AgentID != "agent-f" || openings[0].Score < 40 {
		t.Fatalf("%d vocabulary_opening findings (%+v), want 1 from agent-f; all: %+v", len(openings), openings, fs)
	}
	for _, f := range fs {
		if f.Details["kind"] == kindShape && f.Details["recombination"] != true {
			t.Errorf("flood shape finding without recombination: %+v", f)
		}
	}
}

// BenchmarkRecombination is the per-new-shape cost of the pair check of a
// six-field shape against a tool's pairs (known shapes never run it).
func BenchmarkRecombination(b *testing.B) {
	d := newDet(testConfig())
	stream(d, 0, 200, "web-search", "agent-a", []string{searchShape(0), searchShape(3), searchShape(12), searchShape(16)})
	tl := d.store.Peek(baseline.Key{Tool: "web-search"})
	s := searchShape(31)
	b.ReportAllocs()
	for b.Loop() {
		if !tl.recombination(s) {
			b.Fatal("not a recombination")
		}
	}
}

// Poisoning: a flood of shapes with new fields from one agent opens the
// vocabulary; the pairs its first shapes taught are dropped with the
// opening and its quarantined shapes teach none, so another agent's
// combination of the flood's fields is judged in full, not as a
// recombination.
func TestOpeningDropsFloodPairs(t *testing.T) {
	d := newDet(testConfig())
	const day = 24 * time.Hour
	normal := []string{searchShape(0), searchShape(1 | 2), searchShape(4 | 8), searchShape(16)}
	(traffic{tool: "web-search", agents: fleet, shapes: cycle(normal...), step: 20 * time.Second, to: day}).run(d, nil)
	tl := d.store.Peek(baseline.Key{Tool: "web-search"})
	if tl.fields.Len() != 6 {
		t.Fatalf("%d field pairs after a day, want 6", tl.fields.Len())
	}
	flood := traffic{tool: "web-search", agents: []string{"agent-f"}, from: day, to: day + 400*time.Second, step: 10 * time.Second,
		shapes: func(i int) string {
			return "json{f" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":str,query:str}"
		}}
	_, openings := kinds(flood.run(d, nil))
	if len(openings) != 1 {
		t.Fatalf("%d openings, want 1", len(openings))
	}
	if tl.fields.Len() != 6 {
		t.Errorf("%d field pairs after the flood, want the 6 from before it", tl.fields.Len())
	}
	f := one(t, probe(d, day+410*time.Second, "web-search", "agent-b", "json{faa:str,fba:str,fca:str,query:str}"))
	if f.Details["recombination"] != nil {
		t.Errorf("a combination of the flood's fields was judged a recombination: %+v", f)
	}
}

// A tool release adds one or two optional arguments: the first shape with
// them is a known shape plus one or two new plain fields, scored
// extensionDecades lower (info instead of warning at a closed, stable
// tool). Every other kind of new shape — three or more new fields, a
// risky one among two, a new type or content class on a known
// key, a field named for a destination or for code, a known shape that is
// not the base — is judged as before, and the injection cases keep
// alerting at warning or above.
func TestExtension(t *testing.T) {
	crm := []string{"json{customer_id:str}", "json{customer_id:str,fields:arr[str]}", "json{email:str}"}
	mail := []string{"json{body:str,subject:str,to:str}", "json{body:str,subject:str,to:str,urgent:bool}"}
	llm := []string{"json{prompt:str}", "json{max_tokens:num,prompt:str}", "json{prompt:str/long}"}
	kb := []string{"json{query:str}", "json{query:str,top_k:num}"}
	tests := []struct {
		name  string
		tool  string
		known []string
		shape string
		ext   bool
		min   float64 // lowest score wanted
		max   float64
	}{
		{"new bool argument", "crm", crm, "json{customer_id:str,include_history:bool}", true, 40, 59.9},
		{"new argument with another optional one", "crm", crm, "json{customer_id:str,fields:arr[str],include_history:bool}", true, 40, 59.9},
		{"new num argument", "kb", kb, "json{query:str,top_k:num,min_score:num}", true, 40, 59.9},
		{"new flat object argument", "llm", llm, "json{prompt:str/long,response_format:obj{type:str}}", true, 40, 59.9},
		{"two new plain arguments (one release)", "crm", crm, "json{customer_id:str,history_days:num,include_history:bool}", true, 40, 59.9},
		{"two new plain arguments with an optional one", "crm", crm, "json{customer_id:str,fields:arr[str],history_days:num,include_history:bool}", true, 40, 59.9},
		{"three new plain arguments", "crm", crm, "json{customer_id:str,history_days:num,include_history:bool,verbose:bool}", false, 60, 100},
		{"two new arguments, one an export", "crm", crm, "json{customer_id:str,export_all:bool,limit:num}", false, 60, 100},
		{"two new arguments, one a destination", "crm", crm, "json{customer_id:str,include_history:bool,notify_email:str}", false, 60, 100},
		{"two new arguments, one carrying a URL", "crm", crm, "json{customer_id:str,include_history:bool,source:str/url}", false, 60, 100},
		{"only new arguments", "crm", crm, "json{history_days:num,include_history:bool}", false, 60, 100},
		// tools/sim's realistic labeled anomaly: two fields at once.
		{"export_all and fields at a look-up", "crm-lookup", []string{"json{customer_id:str}", "json{email:str}"},
			"json{customer_id:str,export_all:bool,fields:str}", false, 60, 100},
		{"two new arguments on a base", "crm", crm, "json{customer_id:str,export_all:bool,fields:str}", false, 60, 100},
		{"new type on a known key", "crm", crm, "json{customer_id:str,fields:str}", false, 60, 100},
		{"query becomes SQL", "kb", kb, "json{query:str/sql}", false, 60, 100},
		{"query becomes SQL injection", "kb", kb, "json{query:str/sql-injection}", false, 80, 100},
		{"new argument carrying a URL", "crm", crm, "json{customer_id:str,source:str/url}", false, 60, 100},
		{"new argument carrying long text", "crm", crm, "json{customer_id:str,note:str/long}", false, 60, 100},
		{"new argument carrying a path", "crm", crm, "json{customer_id:str,out:str/path}", false, 60, 100},
		{"bcc added to send_email", "send_email", mail, "json{bcc:str,body:str,subject:str,to:str}", false, 60, 100},
		{"cc added to send_email", "send_email", mail, "json{body:str,cc:str,subject:str,to:str}", false, 60, 100},
		{"webhook_url added to send_email", "send_email", mail, "json{body:str,subject:str,to:str,webhook_url:str}", false, 60, 100},
		{"forward_to added", "send_email", mail, "json{body:str,forward_to:str,subject:str,to:str}", false, 60, 100},
		{"notify_email added to a look-up", "crm", crm, "json{customer_id:str,notify_email:str}", false, 60, 100},
		{"export flag added", "crm", crm, "json{customer_id:str,export:bool}", false, 60, 100},
		{"object with a destination inside", "llm", llm, "json{prompt:str,options:obj{callback_url:str}}", false, 60, 100},
		{"object with a URL inside", "llm", llm, "json{prompt:str,options:obj{sink:str/url}}", false, 60, 100},
		{"new field on an unknown base", "crm", crm, "json{email:str,fields:arr[str],include_history:bool}", false, 60, 100},
		{"array argument", "crm", crm, "json{customer_id:str,tags:arr[str]}", false, 60, 100},
		{"truncated", "crm", crm, "json{customer_id:str,include_history:bool,...}", false, 60, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDet(testConfig())
			if fs := stream(d, 0, 20000, tt.tool, "agent-a", tt.known); len(fs) != 0 {
				t.Fatalf("learning raised %d findings: %+v", len(fs), fs[0])
			}
			fs := d.Observe(rec(20000, tt.tool, "agent-b", tt.shape), nil)
			if tt.ext && tt.max < 60 {
				// An info extension is emitted after its hold (hold_test.go).
				if len(fs) != 0 {
					t.Fatalf("extension emitted before its hold: %+v", fs)
				}
				fs = d.Tick(base.Add(20000*time.Second+testConfig().ExtensionHold+time.Second), nil)
			}
			f := one(t, fs)
			if f.Score < tt.min || f.Score > tt.max {
				t.Errorf("score %v, want in [%v, %v]", f.Score, tt.min, tt.max)
			}
			if got, _ := f.Details["extension"].(bool); got != tt.ext {
				t.Errorf("details.extension %v, want %v", got, tt.ext)
			}
			if f.Details["recombination"] != nil {
				t.Errorf("judged a recombination: %+v", f.Details)
			}
		})
	}
}

// Once a release's argument is accepted, the tool's other agents use it
// in their own combinations with the tool's other optional arguments:
// those shapes are recombinations of known pairs, learned tool-wide, and
// no agent alerts on its own first use.
func TestExtensionLearnedToolWide(t *testing.T) {
	d := newDet(testConfig())
	crm := []string{"json{customer_id:str}", "json{customer_id:str,fields:arr[str]}", "json{customer_id:str,limit:num}"}
	stream(d, 0, 20000, "crm", "agent-a", crm)
	if fs := d.Observe(rec(20000, "crm", "agent-a", "json{customer_id:str,include_history:bool}"), nil); len(fs) != 0 {
		t.Fatalf("first use raised %+v; want an info extension, held", fs)
	}
	if n, _ := d.Held(); n != 1 {
		t.Fatalf("%d findings held, want 1", n)
	}
	rollout := []string{"json{customer_id:str,include_history:bool}", "json{customer_id:str,fields:arr[str],include_history:bool}",
		"json{customer_id:str,include_history:bool,limit:num}", "json{customer_id:str,fields:arr[str],include_history:bool,limit:num}"}
	var fs []detect.Finding
	for i, agent := range []string{"agent-b", "agent-c", "agent-d", "agent-e"} {
		fs = append(fs, stream(d, 20001+i*500, 20001+(i+1)*500, "crm", agent, append(slices.Clone(crm), rollout...))...)
	}
	if len(fs) != 0 {
		t.Fatalf("the rollout raised %d findings, first %+v", len(fs), fs[0])
	}
	if n, rollouts := d.Held(); n != 0 || rollouts != 1 {
		t.Fatalf("%d findings held, %d rollouts; want the first use dropped as a rollout", n, rollouts)
	}
}

// The per-new-shape cost of the extension check (known shapes never run it).
func BenchmarkExtension(b *testing.B) {
	d := newDet(testConfig())
	stream(d, 0, 200, "crm", "agent-a", []string{"json{customer_id:str}", "json{customer_id:str,fields:arr[str]}"})
	tl := d.store.Peek(baseline.Key{Tool: "crm"})
	s := "json{customer_id:str,fields:arr[str],include_history:bool}"
	b.ReportAllocs()
	for b.Loop() {
		if !tl.extension(s) {
			b.Fatal("not an extension")
		}
	}
}
