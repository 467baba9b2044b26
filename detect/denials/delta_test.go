package denials

import (
	"bytes"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// A base and the deltas after it restore, at every link, exactly the
// state a full snapshot at the same point holds, byte for byte: the
// stream is run twice, once taking the chain and once (the same records)
// taking full snapshots at the same event times. A small key cap and idle
// TTL evict keys at the cap and idle, and bring them back.
func TestDeltaChainRestoresFullState(t *testing.T) {
	bcfg := baseline.DefaultConfig()
	bcfg.MaxKeys, bcfg.IdleTTL = 3, 30*time.Minute
	mk := func() *Detector { return newDetector(t, DefaultConfig(), bcfg) }
	every := 97 * time.Minute
	type link struct {
		at           time.Time
		base, order  []byte
		deltas       [][]byte
		tombs, dirty int
	}
	var links []link
	a := mk()
	next := base.Add(every)
	stream(&detecttest.Hooked{Detector: a, Hook: func(ts time.Time) {
		if ts.Before(next) {
			return
		}
		next = next.Add(every)
		var l link
		if len(links) > 0 && len(links)%12 != 0 {
			l = links[len(links)-1]
			enc, ok, err := a.CaptureDelta()
			if err != nil || !ok {
				t.Fatalf("delta: ok %v, %v", ok, err)
			}
			d, err := enc(nil)
			if err != nil {
				t.Fatal(err)
			}
			l.deltas = append(append([][]byte(nil), l.deltas...), d)
		} else {
			st, ord, err := a.CaptureBase()
			if err != nil {
				t.Fatal(err)
			}
			l.base, _ = st(nil)
			l.order, _ = ord(nil)
			l.deltas = nil
		}
		l.at = ts
		links = append(links, l)
	}}, 60, anomalies)

	b := mk()
	i := 0
	next = base.Add(every)
	stream(&detecttest.Hooked{Detector: b, Hook: func(ts time.Time) {
		if ts.Before(next) {
			return
		}
		next = next.Add(every)
		l := links[i]
		i++
		want := detecttest.MustMarshal(t, b)
		r := mk()
		if err := r.RestoreChain(l.base, l.order, l.deltas); err != nil {
			t.Fatalf("link %d (%d deltas): %v", i, len(l.deltas), err)
		}
		if got := detecttest.MustMarshal(t, r); !bytes.Equal(got, want) {
			t.Fatalf("link %d at %s: base + %d deltas restore %d bytes, the full snapshot %d, and differ", i, ts, len(l.deltas), len(got), len(want))
		}
	}}, 60, anomalies)
	if i != len(links) || i < 30 {
		t.Fatalf("%d of %d links checked", i, len(links))
	}
	_, idle, capacity := b.KeyStats()
	if idle == 0 || capacity == 0 {
		t.Fatalf("premise: evictions idle %d, at the cap %d", idle, capacity)
	}
}
