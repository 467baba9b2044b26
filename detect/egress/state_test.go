package egress

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// Every truncation, a flipped bit, a wrong version and values that cannot
// be right are errors and leave the detector as it was.
func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	d := goldenState(t)
	good := mustMarshal(t, d)
	body := good[:len(good)-4]
	for n := range len(good) {
		if err := d.UnmarshalState(good[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	for n := 1; n < len(body); n++ { // a truncated record with a valid checksum
		if err := d.UnmarshalState(encoding.Seal(body[:n])); !errors.Is(err, encoding.ErrTruncated) && !errors.Is(err, encoding.ErrInvalid) {
			t.Fatalf("sealed body truncated to %d of %d bytes: %v", n, len(body), err)
		}
	}
	rec := func(v uint64, st *StateV3) []byte {
		var e encoding.Encbuf
		e.PutUvarint(v)
		st.put(&e)
		e.PutCRC32(0)
		return e.Get()
	}
	hll, _ := new(baseline.HLL).MarshalState(nil)
	dest := account("GB00 X")[0]
	okTool := ToolV3{Tool: "send_money", Calls: 2, Uses: 2, Dests: []DestV2{{H: 7}, {H: 9, Flags: flagCoarse}}, Over: hll,
		Learned: 3, Sources: []SourceV2{{H: 11, N: 2}, {H: 12, N: 1}}, AtKnownN: 2, AtKnownK: 1}
	okEntry := Entry{Tool: "send_money", Destination: dest, Domains: []string{dest}, FirstSeen: base, LastSeen: base, Count: 1, Score: 70}
	okTask := TaskV2{Key: 1, Outs: []uint64{3, 4}, Srcs: []uint64{11, 0}, Pos: 2, Sensitive: true}
	ok := func() *StateV3 { // a deep copy: the cases below edit it
		tl, tk := okTool, okTask
		tl.Dests, tk.Outs, tk.Srcs = slices.Clone(tl.Dests), slices.Clone(tk.Outs), slices.Clone(tk.Srcs)
		tl.Sources = slices.Clone(tl.Sources)
		return &StateV3{Tools: []ToolV3{tl}, Tasks: []TaskV2{tk}, Pending: []Entry{okEntry}}
	}
	if err := newGolden().UnmarshalState(rec(3, ok())); err != nil {
		t.Fatalf("well-formed crafted record rejected: %v", err)
	}
	bad := map[string]func(st *StateV3){
		"duplicate tool":            func(st *StateV3) { st.Tools = append(st.Tools, okTool) },
		"zero hash":                 func(st *StateV3) { st.Tools[0].Dests = []DestV2{{H: 0}} },
		"duplicate hash":            func(st *StateV3) { st.Tools[0].Dests = []DestV2{{H: 7}, {H: 7, Flags: flagRepeat}} },
		"unknown flag":              func(st *StateV3) { st.Tools[0].Dests[0].Flags = 8 },
		"repeated domain":           func(st *StateV3) { st.Tools[0].Dests[1].Flags = flagCoarse | flagRepeat },
		"more dests than uses":      func(st *StateV3) { st.Tools[0].Uses = 0 },
		"bad sketch":                func(st *StateV3) { st.Tools[0].Over = []byte{1, 12, 1, 0, 0, 9} },
		"duplicate task":            func(st *StateV3) { st.Tasks = append(st.Tasks, okTask) },
		"task position":             func(st *StateV3) { st.Tasks[0].Pos = 3 },
		"huge task":                 func(st *StateV3) { st.Tasks[0].Outs = make([]uint64, maxOuts+1) },
		"entry without tool":        func(st *StateV3) { st.Pending[0].Tool = "" },
		"raw destination":           func(st *StateV3) { st.Pending[0].Destination = "mallory@attacker.example" },
		"raw domain":                func(st *StateV3) { st.Pending[0].Domains = []string{"attacker.example"} },
		"NaN score":                 func(st *StateV3) { st.Pending[0].Score = math.NaN() },
		"duplicate entry":           func(st *StateV3) { st.Pending = append(st.Pending, okEntry) },
		"pending and rejected":      func(st *StateV3) { st.Rejected = []Entry{okEntry} },
		"more sourced than learned": func(st *StateV3) { st.Tools[0].Learned = 2 },
		"zero source":               func(st *StateV3) { st.Tools[0].Sources[0].H = 0 },
		"empty source":              func(st *StateV3) { st.Tools[0].Sources[0].N = 0 },
		"duplicate source":          func(st *StateV3) { st.Tools[0].Sources[1].H = 11 },
		"more reads than known":     func(st *StateV3) { st.Tools[0].AtKnownK = 3 },
		"more known than learned":   func(st *StateV3) { st.Tools[0].AtKnownN, st.Tools[0].AtKnownK = 4, 0 },
		"too many sources": func(st *StateV3) {
			st.Tools[0].Learned = maxSources + 1
			for i := range maxSources - 1 {
				st.Tools[0].Sources = append(st.Tools[0].Sources, SourceV2{H: uint64(100 + i), N: 1})
			}
		},
	}
	cases := map[string][]byte{
		"empty": nil, "garbage": []byte("garbage garbage"), "version 4": rec(4, ok()),
		"trailing byte": encoding.Seal(append(bytes.Clone(body), 0)),
		"huge count":    encoding.Seal([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		"bad time":      encoding.Seal(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'x', 1, 'y', 0, 2}, make([]byte, 20)...)),
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0x08
	cases["flipped bit"] = flipped
	for name, edit := range bad {
		st := ok()
		edit(st)
		cases[name] = rec(3, st)
	}
	for name, data := range cases {
		if err := d.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if got := mustMarshal(t, d); !bytes.Equal(got, good) {
			t.Fatalf("%s: state changed by a failed restore", name)
		}
	}
	if len(d.pending) == 0 || len(d.rejected) == 0 || d.tasks.Len() == 0 {
		t.Fatal("no triage or task state: the check above was vacuous")
	}
}

// CaptureState copies: the detector keeps running (task destinations
// overwritten in place, triage decided, vocabularies learning) and the
// encoder still writes the state of the capture.
func TestCaptureIsACopy(t *testing.T) {
	d := goldenState(t)
	want := mustMarshal(t, d)
	enc, err := d.CaptureState()
	if err != nil {
		t.Fatal(err)
	}
	at := 4 * time.Hour
	for i := range 20 { // more than max_task_destinations: the ring wraps
		d.Observe(call{at: at, tool: "read_file", task: "open", outs: account(string(rune('A' + i)))}.record(), nil)
	}
	if err := d.Accept("send_money", account("GB00 WAIT")[0]); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Triage() {
		if e.Status == StatusPending {
			if err := d.Reject(e.Tool, e.Destination); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.Observe(call{at: at, tool: "post_webpage", task: "web", dests: []string{dh("host", "new.example")}}.record(), nil)
	got, err := enc(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the captured state changed with the detector")
	}
	if bytes.Equal(mustMarshal(t, d), want) {
		t.Fatal("the detector did not change: the check above was vacuous")
	}
}
