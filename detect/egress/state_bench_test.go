package egress

import (
	"fmt"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// BenchmarkCaptureState is the snapshot of a full egress detector: 100
// tools with 4,096 destinations each (max_destinations) and 100,000 tasks
// (max_tasks) with 16 output destinations each. "capture" is the pause on
// the consumer (detect.Capturer), "encode" the write that runs off it.
func BenchmarkCaptureState(b *testing.B) {
	c := DefaultConfig()
	d := New(detect.NewParams(c), baseline.Config{MaxKeys: 200, IdleTTL: 30 * 24 * time.Hour})
	h := uint64(1)
	for i := range 100 {
		t := tool{cfg: &c, calls: 10_000, uses: 10_000}
		for range c.MaxDestinations {
			h = h*6364136223846793005 + 1442695040888963407
			t.set.Insert(h | 1).Flags = flagRepeat
			t.exact++
		}
		d.tools.Put(fmt.Sprint("tool-", i), int64(i), t)
	}
	for i := range c.MaxTasks {
		outs := make([]uint64, 16)
		for j := range outs {
			h = h*6364136223846793005 + 1442695040888963407
			outs[j] = h
		}
		d.tasks.Put(uint64(i)+1, int64(i), task{outs: outs})
	}
	enc, err := d.CaptureState()
	if err != nil {
		b.Fatal(err)
	}
	buf, _ := enc(nil)
	b.Run("capture", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.CaptureState(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() { // the encoder of one capture may run again
			buf, _ = enc(buf[:0])
		}
	})
}
