package baseline

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding/enctest"
)

var update = flag.Bool("update", false, "rewrite the current version's testdata golden file")

// goldenDist is the Dist behind testdata/dist-state.v6.bin and later:
// 3,000 log-normal values (σ 0.8) one every 2 minutes around a daily
// rhythm (e^(±0.5)), judged and learned with the level and drift tests on
// and learning its own hour-of-day rhythm (a tool standing in for its
// key), the last 60 at three times the level (an ongoing shift episode),
// so its body, tail ring, fit, level state, rhythm, rhythm share and (from
// version 7 on) spread and density memory, (from version 8 on) Usable's
// memory, (from version 9 on) the early levels of its first 200
// values and (from version 10 on) the burst window are all in use. Each input
// comes twice in a row (the second skips the level test, version 5 keeps
// the last 4). (dist-state.v9.bin was written by this stream without the
// burst memory, commit 06e48ac; dist-state.v8.bin by this stream without the
// step runs, the first value's time and the early levels, commit 8359f1c;
// v7 by it judged ready on the plain count ≥ 200, without Usable's
// memory, commit 4878570; v6 by it without the spread memory, commit
// f1febcc; v5 by the same stream one a minute
// without the rhythm, commit cc3dcb9; v4 by that stream at twice the
// level without inputs, commit 2b6c376.)
func goldenDist() *Dist {
	g := NewDigester(25, 7*24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(7, 7))
	d := new(Dist)
	for i := range 3000 {
		at := distBase.Add(time.Duration(i) * 2 * time.Minute)
		h := float64(at.Hour()) + float64(at.Minute())/60
		x := 100 * math.Exp(0.8*rng.NormFloat64()+0.5*math.Sin(2*math.Pi*h/24))
		if i >= 2940 {
			x *= 3
		}
		v := d.Judge(g, x, &j, 0)
		v.Input = uint64(i/2 + 1)
		v.LearnRhythm, v.Rhythm = true, d.Rhythm()
		d.Learn(g, x, at, &v, &j, d.Usable(d.Count(), 200), true)
	}
	return d
}

// Every Dist state version the build reads has a golden file that decodes
// to the stream's values; the current one re-encodes byte for byte and an
// older one upgrades to a valid current state.
func TestDistStateGolden(t *testing.T) {
	enctest.Golden{
		Name: "dist-state", Versions: []uint64{3, 4, 5, 6, 7, 8, 9, distStateVersion}, Current: distStateVersion,
		Build: func(t testing.TB) []byte {
			b, _ := goldenDist().MarshalState(nil)
			return b
		},
		Restore: func(t testing.TB, version uint64, data []byte) []byte {
			var d Dist
			if err := d.UnmarshalState(data); err != nil {
				t.Fatalf("version %d: %v", version, err)
			}
			enc, _ := d.MarshalState(nil)
			if enc[0] != distStateVersion {
				t.Fatalf("version %d re-encodes as version %d", version, enc[0])
			}
			// Version 5 only appended the inputs, version 6 the rhythm share
			// (f32 rr rd, u8 hourly) and the rhythm (u8 present), version 7
			// the spread memory (a flags byte, 4 float32), version 8 only the
			// usable flag (4), version 9 the step runs (2 × (u16, f32)) and a
			// present rhythm's first value's time and early levels (varint,
			// 24 × 2 float32), version 10 the burst memory (varint last, 5
			// float32): an older state upgrades to its own bytes with none of
			// what it lacks (the time unknown: varint 1; a version 7 state
			// not usable).
			noRhythm, noSpread, noStep, noEarly, noBurst := make([]byte, 10), make([]byte, 17), make([]byte, 12), append([]byte{2}, make([]byte, 24*8)...), make([]byte, 21)
			cur := func(tail ...[]byte) []byte {
				b := append([]byte{distStateVersion}, data[1:]...)
				for _, x := range tail {
					b = append(b, x...)
				}
				return b
			}
			if version == 4 && !bytes.Equal(enc, cur([]byte{0}, noRhythm, noSpread, noStep, noBurst)) {
				t.Error("version 4 state upgrades to other bytes than its own with no inputs, no rhythm, no spread and no burst memory")
			}
			if version == 5 && !bytes.Equal(enc, cur(noRhythm, noSpread, noStep, noBurst)) {
				t.Error("version 5 state upgrades to other bytes than its own with no rhythm, no spread and no burst memory")
			}
			if version == 6 && !bytes.Equal(enc, cur(noSpread, noStep, noEarly, noBurst)) {
				t.Error("version 6 state upgrades to other bytes than its own with an empty spread memory, no early levels and no burst memory")
			}
			if (version == 7 || version == 8) && !bytes.Equal(enc, cur(noStep, noEarly, noBurst)) {
				t.Errorf("version %d state upgrades to other bytes than its own with no step runs, no early levels and no burst memory", version)
			}
			if version == 9 && !bytes.Equal(enc, cur(noBurst)) {
				t.Error("version 9 state upgrades to other bytes than its own with an empty burst memory")
			}
			// Usable's memory from version 8 on (the stream's ends usable;
			// an older state and its upgrade are not).
			if u := d.usable; version < 8 && u || (version == 8 || version == 9) && !u {
				t.Errorf("version %d state restores usable %v", version, u)
			}
			// The v3 file (and its upgrade) holds 1,637 values (see
			// TestDistStateV3); the stream's from version 4 on 3,000 in a
			// shift episode.
			switch n := d.Count(); {
			case n == 1637:
			case n == 3000 && version >= 4:
				if lv := d.tail.lv; lv == nil || lv.shiftAt == 0 || !d.tail.fitValid || d.tail.fitFallback {
					t.Errorf("version %d: level %+v, fit %+v: want a shift episode and a fitted tail", version, lv, d.tail.storedFit())
				}
			default:
				t.Errorf("version %d: %v values", version, n)
			}
			return enc
		},
	}.Run(t, *update)
	// The current file's level test measures against its learned rhythm
	// and keeps its last inputs.
	data, err := os.ReadFile(fmt.Sprintf("testdata/dist-state.v%d.bin", distStateVersion))
	if err != nil {
		t.Fatal(err)
	}
	var d Dist
	if err := d.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	if lv := d.tail.lv; lv == nil || !lv.rh.Active() || !lv.hourly || lv.rr <= 0 || lv.rd <= 0 {
		t.Errorf("version %d: want a rhythm in use by the level test", distStateVersion)
	}
	// The current file keeps the level test's last 4 inputs, most recent
	// first (a version 4 state upgrades with none).
	if lv := d.tail.lv; lv == nil || lv.inputs != [levelInputs]uint64{1500, 1499, 1498, 1497} {
		t.Errorf("level inputs %v, want the last 4 (1500 down to 1497)", lv)
	}
	// ... and the spread memory: windows and long-run deviation in use.
	if lv := d.tail.lv; lv == nil || !(lv.sp.su > 0 && lv.sp.sd > 0 && lv.sp.dw > 0 && lv.sp.dk > 0) {
		t.Errorf("spread memory %+v, want all in use", lv.sp)
	}
	// ... and Usable's memory.
	if !d.usable {
		t.Error("not usable")
	}
	// ... and the early levels of the hours before the Dist was ready (its
	// first 200 values, 6h40m at one every 2 minutes).
	if lv := d.tail.lv; lv == nil || lv.rh.ew[0] != 30 || lv.rh.ew[6] != 20 || lv.rh.ew[7] != 0 || lv.rh.em[0] == 0 || lv.rh.first != distBase.UnixNano() {
		t.Errorf("early levels %v %v, want hours 0–6 (30 values each, 20 in hour 6), first value at the start", lv.rh.em, lv.rh.ew)
	}
	// ... and the burst window (version 10).
	if lv := d.tail.lv; lv == nil || !(lv.bu.last > 0 && lv.bu.w > 0) {
		t.Errorf("burst memory %+v, want its window in use", lv.bu)
	}
}
