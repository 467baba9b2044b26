package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tamper damages what a store holds, for the chain tests.
type tamper interface {
	corruptDelta(t *testing.T, base uint64, index uint32)
	deleteDelta(t *testing.T, base uint64, index uint32)
	deleteNewestBase(t *testing.T)
	corruptNewestBase(t *testing.T)
}

type fileTamper struct{ f *FileStore }

func (ft fileTamper) deltaPath(base uint64, index uint32) string {
	return fmt.Sprintf("%s%06d", ft.f.deltaPrefix(base), index)
}

func flipFile(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func (ft fileTamper) corruptDelta(t *testing.T, base uint64, index uint32) {
	flipFile(t, ft.deltaPath(base, index))
}

func (ft fileTamper) deleteDelta(t *testing.T, base uint64, index uint32) {
	if err := os.Remove(ft.deltaPath(base, index)); err != nil {
		t.Fatal(err)
	}
}

func (ft fileTamper) deleteNewestBase(t *testing.T) {
	if err := os.Remove(ft.f.Path); err != nil {
		t.Fatal(err)
	}
}

func (ft fileTamper) corruptNewestBase(t *testing.T) { flipFile(t, ft.f.Path) }

type objTamper struct{ o *ObjectStore }

func (ot objTamper) put(t *testing.T, name string, data []byte) {
	if _, err := ot.o.obs.PutBytes(context.Background(), name, data); err != nil {
		t.Fatal(err)
	}
}

func (ot objTamper) flip(t *testing.T, name string) {
	b, err := ot.o.obs.GetBytes(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	info, err := ot.o.obs.GetInfo(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	meta := info.ObjectMeta
	if _, err := ot.o.obs.Put(context.Background(), meta, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func (ot objTamper) corruptDelta(t *testing.T, base uint64, index uint32) {
	ot.flip(t, deltaName(base, index))
}

func (ot objTamper) deleteDelta(t *testing.T, base uint64, index uint32) {
	if err := ot.o.obs.Delete(context.Background(), deltaName(base, index)); err != nil {
		t.Fatal(err)
	}
}

func (ot objTamper) newest(t *testing.T) string {
	slots, err := ot.o.slots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slots[0].name
}

func (ot objTamper) deleteNewestBase(t *testing.T) {
	if err := ot.o.obs.Delete(context.Background(), ot.newest(t)); err != nil {
		t.Fatal(err)
	}
}

func (ot objTamper) corruptNewestBase(t *testing.T) { ot.flip(t, ot.newest(t)) }

func link(seq uint64) *Delta {
	return &Delta{
		LastAppliedSeq: seq,
		Watermark:      time.Date(2026, 1, 1, 0, 0, int(seq), 0, time.UTC),
		Whole:          map[string][]byte{"engine": {byte(seq)}},
		Changes:        map[string][]byte{"detector/latency": bytes.Repeat([]byte{byte(seq)}, 10)},
	}
}

type storeKind struct {
	name string
	open func(t *testing.T) (Store, tamper)
}

func storeKinds() []storeKind {
	return []storeKind{
		{"file", func(t *testing.T) (Store, tamper) {
			f := &FileStore{Path: filepath.Join(t.TempDir(), "tw.snapshot")}
			return f, fileTamper{f}
		}},
		{"nats", func(t *testing.T) (Store, tamper) {
			cfg := DefaultConfig()
			cfg.Store = StoreNATS
			st, err := Open(context.Background(), cfg, startJS(t), 1)
			if err != nil {
				t.Fatal(err)
			}
			return st, objTamper{st.(*ObjectStore)}
		}},
	}
}

// Restore = the newest base and its deltas in order; a corrupt or missing
// delta ends the chain there, a bad base falls back to the previous base
// and its own chain; a chain the state refuses falls back to its base.
// Both stores.
func TestChainLoad(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			for _, tc := range []struct {
				name       string
				damage     func(t *testing.T, tm tamper, a, b uint64)
				refuse     bool // apply refuses every chain with deltas
				wantSeq    uint64
				wantDeltas int
				wantReason string
			}{
				{name: "intact", wantSeq: 50, wantDeltas: 4},
				{name: "corrupt delta in the middle", damage: func(t *testing.T, tm tamper, _, b uint64) { tm.corruptDelta(t, b, 3) },
					wantSeq: 30, wantDeltas: 2, wantReason: "checksum"},
				{name: "missing delta in the middle", damage: func(t *testing.T, tm tamper, _, b uint64) { tm.deleteDelta(t, b, 2) },
					wantSeq: 20, wantDeltas: 1, wantReason: "chain"},
				{name: "missing first delta", damage: func(t *testing.T, tm tamper, _, b uint64) { tm.deleteDelta(t, b, 1) },
					wantSeq: 10, wantDeltas: 0, wantReason: "chain"},
				{name: "missing base", damage: func(t *testing.T, tm tamper, _, _ uint64) { tm.deleteNewestBase(t) },
					wantSeq: 3, wantDeltas: 2},
				{name: "corrupt base", damage: func(t *testing.T, tm tamper, _, _ uint64) { tm.corruptNewestBase(t) },
					wantSeq: 3, wantDeltas: 2, wantReason: "checksum"},
				{name: "state refuses the deltas", refuse: true, wantSeq: 10, wantDeltas: 0, wantReason: "state"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					st, tm := sk.open(t)
					mg, m := newManager(st)
					mg.SetChain(60, 100) // these bases are tiny
					ctx := context.Background()
					// chain A: base 1, deltas 2, 3; chain B: base 10, deltas 20..50
					var ids []uint64
					for _, c := range [][]uint64{{1, 2, 3}, {10, 20, 30, 40, 50}} {
						if !mg.NeedBase() && len(ids) == 0 {
							t.Fatal("a delta allowed before any base")
						}
						if err := mg.Save(ctx, snap(c[0])); err != nil {
							t.Fatal(err)
						}
						ids = append(ids, mg.chain.base)
						for _, seq := range c[1:] {
							if mg.NeedBase() {
								t.Fatal("premise: a delta allowed")
							}
							if err := mg.SaveDelta(ctx, link(seq)); err != nil {
								t.Fatal(err)
							}
						}
					}
					if tc.damage != nil {
						tc.damage(t, tm, ids[0], ids[1])
					}
					got := -1
					s, _, probs, err := mg.Load(ctx, func(s *Snapshot, ds []*Delta) error {
						if tc.refuse && len(ds) > 0 {
							return errors.New("refused")
						}
						got = len(ds)
						for i, d := range ds {
							if d.Changes["detector/latency"][0] != byte(d.LastAppliedSeq) || d.Index != uint32(i+1) {
								return fmt.Errorf("delta %d out of order", i)
							}
						}
						return nil
					})
					if err != nil {
						t.Fatalf("Load: %v %v", err, probs)
					}
					if s.LastAppliedSeq != tc.wantSeq || got != tc.wantDeltas {
						t.Fatalf("restored seq %d with %d deltas, want %d with %d (problems %v)", s.LastAppliedSeq, got, tc.wantSeq, tc.wantDeltas, probs)
					}
					if tc.wantReason != "" && failures(m, tc.wantReason) != 1 {
						t.Fatalf("reason %q not counted once: problems %v", tc.wantReason, probs)
					}
					if tc.wantReason == "" && len(probs) != 0 {
						t.Fatalf("problems %v", probs)
					}
				})
			}
		})
	}
}

// Compaction: a new base after full_every links or once the deltas
// outgrow max_delta_ratio of the base; the chain before the replaced one
// is removed after the new base is saved, the previous base's kept (it is
// the fallback). A failed delta makes the next snapshot a base.
func TestChainCompaction(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			st, _ := sk.open(t)
			mg, _ := newManager(st)
			mg.SetChain(4, 100)
			ctx := context.Background()
			var bases []uint64
			kinds := ""
			for seq := uint64(1); seq <= 10; seq++ {
				if mg.NeedBase() {
					if err := mg.Save(ctx, snap(seq)); err != nil {
						t.Fatal(err)
					}
					bases = append(bases, mg.chain.base)
					kinds += "B"
				} else {
					if err := mg.SaveDelta(ctx, link(seq)); err != nil {
						t.Fatal(err)
					}
					kinds += "d"
				}
			}
			if kinds != "BdddBdddBd" {
				t.Fatalf("links %s, want BdddBdddBd (full_every 4)", kinds)
			}
			for i, want := range []int{0, 3, 1} {
				ds, err := st.ReadDeltas(ctx, bases[i])
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) != want {
					t.Errorf("base %d: %d deltas stored, want %d", i, len(ds), want)
				}
			}
			// ratio: a delta bigger than half the base ends the chain
			mg.SetChain(100, 0.5)
			big := link(11)
			big.Changes["detector/latency"] = make([]byte, 400)
			if err := mg.SaveDelta(ctx, big); err != nil {
				t.Fatal(err)
			}
			if !mg.NeedBase() {
				t.Fatal("deltas of more than half the base's size: no new base")
			}
			if err := mg.Save(ctx, snap(12)); err != nil {
				t.Fatal(err)
			}
			if mg.NeedBase() {
				t.Fatal("a base just written: no delta allowed")
			}
			mg.BreakChain()
			if !mg.NeedBase() || mg.SaveDelta(ctx, link(13)) == nil {
				t.Fatal("a broken chain accepts a delta")
			}
			s, _, _, err := mg.Load(ctx, nil)
			if err != nil || s.LastAppliedSeq != 12 {
				t.Fatalf("Load after compaction: %v, %v", s, err)
			}
		})
	}
}

// DecodeDelta accepts only what EncodeDelta writes.
func TestDeltaFormat(t *testing.T) {
	d := link(7)
	d.CreatedAt = time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	d.BaseID, d.PrevID, d.Index, d.Version = 1, 2, 3, "v"
	b, err := EncodeDelta(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDelta(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeDelta(got)
	if !bytes.Equal(again, b) {
		t.Fatal("decoded delta re-encodes differently")
	}
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"magic":     {append([]byte("TWSNAP"), b[6:]...), ErrBadMagic},
		"truncated": {b[:len(b)-1], ErrTruncated},
		"checksum":  {func() []byte { x := bytes.Clone(b); x[70] ^= 1; return x }(), ErrChecksum},
		"version":   {func() []byte { x := bytes.Clone(b); x[7] = 9; return x }(), ErrVersion},
	} {
		if _, err := DecodeDelta(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	both := link(1)
	both.Whole["detector/latency"] = nil
	if _, err := EncodeDelta(both); err == nil {
		t.Error("a section both whole and changed encoded")
	}
}

// FuzzDecodeDelta: arbitrary bytes never panic DecodeDelta, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeDelta(f *testing.F) {
	good, _ := EncodeDelta(link(9))
	f.Add(good)
	f.Add([]byte("TWDELT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDelta(data)
		if err != nil {
			return
		}
		again, err := EncodeDelta(d)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted delta re-encodes differently: %v", err)
		}
	})
}

// A delta write cut short (its .tmp left behind) is never read and is
// removed by the next base's Prune.
func TestFileStorePrunesLeftoverTmp(t *testing.T) {
	f := &FileStore{Path: filepath.Join(t.TempDir(), "tw.snapshot")}
	mg, _ := newManager(f)
	mg.SetChain(60, 100)
	ctx := context.Background()
	if err := mg.Save(ctx, snap(1)); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s%06d.tmp", f.deltaPrefix(mg.chain.base), 1)
	if err := os.WriteFile(tmp, []byte("partial"), 0o640); err != nil {
		t.Fatal(err)
	}
	if ds, err := f.ReadDeltas(ctx, mg.chain.base); err != nil || len(ds) != 0 {
		t.Fatalf("a .tmp read as a delta: %v %v", ds, err)
	}
	if err := mg.Save(ctx, snap(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover %s not removed: %v", tmp, err)
	}
}
