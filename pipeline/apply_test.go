package pipeline

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

// Records decoded on another goroutine, ahead of detection, into a small
// ring of reused records (as ingest's delivery goroutine does) and
// applied with Apply raise exactly the alerts, byte for byte and in the
// same order, that Handle raises on the same messages; invalid messages
// give the same outcome and reason.
func TestApplyDecodedElsewhereMatchesHandle(t *testing.T) {
	lines := simLines(t, sim.Config{Seed: 5, Duration: 30 * time.Hour, Scale: 0.4, WarmUp: 24 * time.Hour, Jitter: 2 * time.Second})
	bad := [][]byte{[]byte(`{"trace_id":`), []byte(`[]`), []byte(`{"trace_id":"t","span_id":"s"}`)}
	for i, b := range bad { // spread invalid messages through the stream
		at := (i + 1) * len(lines) / (len(bad) + 1)
		lines = append(lines[:at], append([][]byte{b}, lines[at:]...)...)
	}
	cfg := config.Default()
	result := func(dst *bytes.Buffer, alerts []alert.Alert, o record.Outcome, err error) {
		fmt.Fprintf(dst, "%v %v\n", o, err)
		for i := range alerts {
			dst.Write(alert.MarshalJSONLine(&alerts[i], nil))
		}
	}

	var want bytes.Buffer
	p := New(cfg, fixedWall)
	for _, l := range lines {
		a, o, err := p.Handle(l)
		result(&want, a, o, err)
	}
	result(&want, p.Flush(), record.Applied, nil)

	type decoded struct {
		rec *record.Record
		err error
	}
	const ring = 8
	recs := make([]record.Record, ring)
	// One slot being applied, ring-2 queued, one being decoded: a slot is
	// reused only after it was applied.
	ch := make(chan decoded, ring-2)
	go func() {
		dec := record.NewDecoder(cfg.Limits)
		for i, l := range lines {
			r := &recs[i%ring]
			ch <- decoded{r, dec.Decode(l, r)}
		}
		close(ch)
	}()
	var got bytes.Buffer
	q := New(cfg, fixedWall)
	for d := range ch {
		a, o, err := q.Apply(d.rec, d.err)
		result(&got, a, o, err)
	}
	result(&got, q.Flush(), record.Applied, nil)

	if n := bytes.Count(want.Bytes(), []byte(`"id"`)); n == 0 {
		t.Fatal("the stream raised no alert; the comparison shows nothing")
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("Apply differs from Handle (%d vs %d bytes)", got.Len(), want.Len())
	}
}
