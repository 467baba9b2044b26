package inputs

import (
	"flag"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenState defines testdata/input_novelty-state.v6.bin (.v5.bin was
// written by an earlier build whose last record, a one-field extension,
// was json{customer_id:str,include_history:bool}; .v4.bin and .v3.bin
// from the stream without "crm"): records
// 0..1199 one second apart from base, in turn "db" (3 shapes), "wide" (40
// shapes, 16 fit: the rest overflow) and "search" (1 shape); a tick every
// 60 (the version 2 file holds this much). Then two hours of "db" every 10
// seconds from three agents (its shapes join the reference), and a flood
// of 40 new shapes from agent-f that opens its vocabulary (quarantined
// shapes, an opening under way).
func goldenState() *Detector {
	d := newMixed()
	for i := range 1200 {
		switch i % 3 {
		case 0:
			d.Observe(rec(i, "db", "agent-a", fmt.Sprintf("json{id:num,k%d:str}", i%9/3)), nil)
		case 1:
			d.Observe(rec(i, "wide", "agent-b", fmt.Sprintf("json{f%d:num}", i/3%40)), nil)
		default:
			d.Observe(rec(i, "search", "agent-c", "json{q:str}"), nil)
		}
		if i%60 == 59 {
			d.Tick(rec(i, "", "", "").Timestamp, nil)
		}
	}
	for i := 1200; i < 1200+7200; i += 10 {
		d.Observe(rec(i, "db", fmt.Sprintf("agent-%d", i/10%3), fmt.Sprintf("json{id:num,k%d:str}", i/10%3)), nil)
		if i%60 == 0 {
			d.Tick(rec(i, "", "", "").Timestamp, nil)
		}
	}
	for j := range 40 {
		d.Observe(rec(8400+j, "db", "agent-f", fmt.Sprintf("json{flood%d:num}", j)), nil)
	}
	// Version 5: two hours of "crm" every 2 seconds (no tick: db's opening
	// stays as it was), then agent-x's first use of a new argument: an info
	// extension, held. Version 6: two new arguments at once.
	for i := 8440; i < 8440+7200; i += 2 {
		d.Observe(rec(i, "crm", fmt.Sprintf("agent-%d", i/2%3), []string{"json{customer_id:str}", "json{email:str}"}[i/2%2]), nil)
	}
	d.Observe(rec(8440+7200, "crm", "agent-x", "json{customer_id:str,history_days:num,include_history:bool}"), nil)
	return d
}

// The golden records decode to the stream's tools, shapes and overflow and
// re-encode byte for byte; version 2 upgrades to a reference equal to the
// known set (checked also on the upgrade's re-encoding). The live type the record copies keeps its field count.
func TestStateGolden(t *testing.T) {
	enctest.Fields(t, reflect.TypeFor[tool](), 31)
	enctest.Fields(t, reflect.TypeFor[ToolV4](), 2)
	enctest.Fields(t, reflect.TypeFor[ToolV2](), 16)
	enctest.Fields(t, reflect.TypeFor[ToolV3](), 12)
	enctest.Fields(t, reflect.TypeFor[hold](), 8)
	enctest.Fields(t, reflect.TypeFor[HeldV6](), 7)
	enctest.Fields(t, reflect.TypeFor[detect.Finding](), 16)
	// Run restores an older file, then its upgrade as the current
	// version: the upgrade keeps the older file's (empty) field pairs.
	var prev uint64
	enctest.Golden{
		Name: "input_novelty-state", Versions: stateDecoders.Versions(), Current: stateVersion,
		Build: func(t testing.TB) []byte {
			b, err := goldenState().MarshalState(nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Restore: func(t testing.TB, v uint64, data []byte) []byte {
			d := newMixed()
			again := detecttest.Restore(t, d, data)
			fv := v
			if v == stateVersion && prev != 0 && prev < stateVersion {
				fv = prev // the upgrade of the file just read
			}
			prev = v
			// The version 2 file's stream, read from it or upgraded from it.
			if db := d.store.Peek(baseline.Key{Tool: "db"}); db != nil && db.records == 400 {
				v = 2
			}
			var tools []string
			held, _ := d.Held()
			if wantHeld := fv >= 5; (held == 1) != wantHeld || held > 1 {
				t.Errorf("v%d: %d findings held, want 1 in a version 5 record", fv, held)
			} else if held == 1 {
				// Version 5 held for 10m, its span ending then (upgraded);
				// version 6 for 3h, up to 6h.
				hold, last, pairs := 10*time.Minute, 10*time.Minute, [2]uint64{pairHash(0, "include_history", "bool")}
				if fv >= 6 {
					hold, last = 3*time.Hour, 6*time.Hour
					pairs = [2]uint64{pairHash(0, "history_days", "num"), pairHash(0, "include_history", "bool")}
				}
				hd := d.held[0]
				if f := hd.f; f.Tool != "crm" || f.AgentID != "agent-x" || f.Details["extension"] != true || f.Details["held_for"] != hold.String() ||
					f.Details["records"] != uint64(3601) || !f.EventTime.Equal(rec(8440+7200, "", "", "").Timestamp) ||
					hd.due != f.EventTime.Add(hold).UnixNano() || hd.last != f.EventTime.Add(last).UnixNano() ||
					hd.pairs != pairs || len(hd.shapes) != 1 || hd.n != 0 {
					t.Errorf("v%d held finding %+v", fv, hd)
				}
			}
			d.store.RangeSeen(func(k baseline.Key, _ int64, tl *tool) bool {
				tools = append(tools, k.Tool)
				if k.Tool == "crm" {
					return true // version 5's stream: its held finding is checked above
				}
				want := map[string][3]uint64{"db": {3, 400, 0}, "wide": {16, 400, 24}, "search": {1, 400, 0}}[k.Tool]
				if v >= 3 && k.Tool == "db" {
					want = [3]uint64{3 + 40, 400 + 720 + 40, 0}
				}
				if uint64(tl.set.Len()) != want[0] || tl.records != want[1] {
					t.Errorf("v%d tool %s: %d shapes, %d records; want %v", v, k.Tool, tl.set.Len(), tl.records, want)
				}
				if got := tl.overAll.Refresh(); (got == 0) != (want[2] == 0) || got > want[2]+2 || got+2 < want[2] {
					t.Errorf("tool %s: overflow sketch estimates %d distinct shapes, want about %d", k.Tool, got, want[2])
				}
				switch {
				case v == 2:
					// Upgrade: the known set is the reference, its openness the vocabulary's.
					o, _ := tl.openness()
					if int(tl.refLen) != tl.set.Len() || tl.refWindows != 1 || tl.refOpen != o || tl.refRecords != tl.records || tl.flood != nil {
						t.Errorf("v2 tool %s upgraded to reference %d of %d shapes, %d windows, openness %v (vocabulary %v)",
							k.Tool, tl.refLen, tl.set.Len(), tl.refWindows, tl.refOpen, o)
					}
				case k.Tool == "db":
					if tl.fields.Len() != wantFields(fv, k.Tool) {
						t.Errorf("v%d db: %d field pairs, want %d", v, tl.fields.Len(), wantFields(fv, k.Tool))
					}
					if tl.refLen != 3 || tl.refWindows == 0 || tl.refOpen > 0.5 || tl.flood == nil || tl.flood.agents[0] != agentHash("agent-f") || tl.floodShapes != 40 {
						t.Errorf("v3 db: reference %d shapes, %d windows, openness %v; opening %v, %d quarantined",
							tl.refLen, tl.refWindows, tl.refOpen, tl.flood, tl.floodShapes)
					}
				default:
					if tl.fields.Len() != wantFields(fv, k.Tool) {
						t.Errorf("v%d %s: %d field pairs, want %d", v, k.Tool, tl.fields.Len(), wantFields(fv, k.Tool))
					}
					if tl.refLen != 0 || tl.flood != nil {
						t.Errorf("v3 %s: reference %d shapes, opening %v", k.Tool, tl.refLen, tl.flood)
					}
				}
				return true
			})
			want := "[search wide db]" // newest first
			switch {
			case fv >= 5:
				want = "[crm db search wide]"
			case v >= 3:
				want = "[db search wide]"
			}
			if fmt.Sprint(tools) != want {
				t.Errorf("v%d tools in recency order %v, want %s", v, tools, want)
			}
			return again
		},
	}.Run(t, *update)
}

// wantFields is the golden stream's field pairs per tool: none before
// version 4 (not rebuilt on upgrade); db's four (id and k0..k2; the
// flood's pairs, learned in the opening's window, were dropped with it),
// wide's first 16 (max_shapes), search's one.
func wantFields(v uint64, tool string) int {
	if v < 4 {
		return 0
	}
	return map[string]int{"db": 4, "wide": 16, "search": 1}[tool]
}
