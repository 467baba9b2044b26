package pipeline

import (
	"bytes"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// simLines is the simulated stream of c, one JSON record a line.
func simLines(t testing.TB, c sim.Config) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, _, _, err := eval.WriteJSONL(c, &buf); err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

// A pipeline restored from a snapshot taken mid-stream raises exactly the
// alerts, byte for byte, that the uninterrupted pipeline raises on the rest
// of the stream — the property the daemon's crash recovery relies on.
func TestRestoredPipelineMatchesUninterrupted(t *testing.T) {
	lines := simLines(t, sim.Config{Seed: 3, Duration: 40 * time.Hour, Scale: 0.5, WarmUp: 24 * time.Hour, Jitter: 2 * time.Second})
	cfg := config.Default()
	emit := func(dst *bytes.Buffer, alerts []alert.Alert) {
		for i := range alerts {
			dst.Write(alert.MarshalJSONLine(&alerts[i], nil))
		}
	}
	for _, cut := range []int{len(lines) / 3, len(lines) * 2 / 3} {
		orig := New(cfg, fixedWall)
		for _, l := range lines[:cut] {
			orig.Handle(l)
		}
		sections, err := orig.MarshalSections()
		if err != nil {
			t.Fatal(err)
		}
		restored := New(cfg, fixedWall)
		missing, err := restored.UnmarshalSections(sections)
		if err != nil || len(missing) != 0 {
			t.Fatalf("restore: missing %v, %v", missing, err)
		}
		var want, got bytes.Buffer
		for _, l := range lines[cut:] {
			a, _, _ := orig.Handle(l)
			emit(&want, a)
			b, _, _ := restored.Handle(l)
			emit(&got, b)
		}
		emit(&want, orig.Flush())
		emit(&got, restored.Flush())
		if want.Len() == 0 {
			t.Fatalf("cut %d: no alerts after the cut; the comparison would be vacuous", cut)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("cut %d: restored pipeline's alerts differ (%d vs %d bytes)", cut, want.Len(), got.Len())
		}
		oa, ol, of := orig.Engine().Counts()
		ra, rl, rf := restored.Engine().Counts()
		if oa != ra || ol != rl || of != rf {
			t.Errorf("cut %d: counts %d/%d/%d vs restored %d/%d/%d", cut, oa, ol, of, ra, rl, rf)
		}
	}
}

func TestUnmarshalSectionsRejectsMissingAndCorrupt(t *testing.T) {
	p := New(config.Default(), fixedWall)
	sections, err := p.MarshalSections()
	if err != nil {
		t.Fatal(err)
	}
	noEngine := map[string][]byte{}
	for k, v := range sections {
		if k != SectionEngine {
			noEngine[k] = v
		}
	}
	if _, err := New(config.Default(), fixedWall).UnmarshalSections(noEngine); err == nil {
		t.Error("snapshot without an engine section accepted")
	}
	corrupt := map[string][]byte{}
	for k, v := range sections {
		corrupt[k] = v
	}
	lat := append([]byte(nil), sections["detector/latency"]...)
	lat[len(lat)/2] ^= 0xff
	corrupt["detector/latency"] = lat
	if _, err := New(config.Default(), fixedWall).UnmarshalSections(corrupt); err == nil {
		t.Error("corrupt latency section accepted")
	}
	delete(corrupt, "detector/latency")
	missing, err := New(config.Default(), fixedWall).UnmarshalSections(corrupt)
	if err != nil || len(missing) != 1 || missing[0] != "latency" {
		t.Errorf("missing detector section: missing %v, err %v", missing, err)
	}
}

// A capture is a copy: encoding it on another goroutine while the pipeline
// goes on handling records gives the bytes MarshalSections gives at the
// capture point (run with -race to check the copy shares nothing). The
// detectors capture copy-on-write (baseline.Capture), so the cases cover
// keys copied by the consumer before it changes them (the encoder starts
// late), by the encoder while the consumer runs, and keys evicted at a
// small cap after the capture.
func TestCaptureSectionsIsACopy(t *testing.T) {
	lines := simLines(t, sim.Config{Seed: 5, Duration: 30 * time.Hour, Scale: 0.3, WarmUp: 24 * time.Hour})
	for _, tc := range []struct {
		name    string
		maxKeys int // 0: the default
		late    int // records handled before the encoder starts
	}{
		{"concurrent", 0, 0},
		{"late encoder", 0, 3000},
		{"evicting", 40, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			if tc.maxKeys > 0 {
				cfg.Baseline.MaxKeys = tc.maxKeys
			}
			cut := len(lines) / 2
			a, b := New(cfg, fixedWall), New(cfg, fixedWall)
			for _, l := range lines[:cut] {
				a.Handle(l)
				b.Handle(l)
			}
			encode, err := a.CaptureSections()
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				s   map[string][]byte
				err error
			}
			done := make(chan result)
			for i, l := range lines[cut:] {
				if i == tc.late {
					go func() {
						s, err := encode()
						done <- result{s, err}
					}()
				}
				a.Handle(l)
			}
			a.Flush()
			got := <-done
			want, err := b.MarshalSections()
			if err != nil || got.err != nil {
				t.Fatal(err, got.err)
			}
			if len(got.s) != len(want) || len(want) < 7 {
				t.Fatalf("sections %d, want %d (>= 7)", len(got.s), len(want))
			}
			for name, w := range want {
				if !bytes.Equal(got.s[name], w) {
					t.Errorf("section %s: captured state changed after the capture", name)
				}
			}
			if now, _ := a.MarshalSections(); bytes.Equal(now[SectionEngine], want[SectionEngine]) {
				t.Fatal("the pipeline did not move after the capture: the check above was vacuous")
			}
			// The live state the capture settled is the state a stop-the-world
			// snapshot leaves: both pipelines go on alike.
			for _, l := range lines[cut:] {
				b.Handle(l)
			}
			b.Flush()
			x, _ := a.MarshalSections()
			y, _ := b.MarshalSections()
			for name := range y {
				if !bytes.Equal(x[name], y[name]) {
					t.Errorf("section %s: the pipeline captured copy-on-write ends in another state", name)
				}
			}
		})
	}
}
