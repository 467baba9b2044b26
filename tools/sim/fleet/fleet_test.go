package fleet

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/record"
)

// TestRecordsValid: every line decodes with the daemon's strict decoder,
// timestamps never go backwards, and every chain verifies except the one
// labeled alteration.
func TestRecordsValid(t *testing.T) {
	var buf bytes.Buffer
	sum, err := WriteJSONL(Config{Seed: 1}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records (%d normal), %d agent instances, %d anomalies", sum.Records, sum.Normal, sum.Agents, len(sum.Plan))
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	var last time.Time
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	n := 0
	stats := map[string]int{}
	for sc.Scan() {
		n++
		if err := dec.Decode(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, sc.Bytes())
		}
		if r.Timestamp.Before(last) {
			t.Fatalf("line %d: time goes back", n)
		}
		last = r.Timestamp
		stats[r.Tool.Name]++
		stats["status:"+r.Invocation.Status]++
		stats["env:"+r.Context.Environment]++
	}
	t.Log(stats)
	if n != sum.Records {
		t.Fatalf("%d lines, summary says %d", n, sum.Records)
	}
	rep, err := chain.VerifyRecords(bytes.NewReader(buf.Bytes()), chain.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep.Stats)
	if rep.Invalid != 0 || rep.Late != 0 || len(rep.Issues) != 1 || rep.Issues[0].Kind != chain.Altered {
		t.Fatalf("want exactly the labeled alteration, got %d invalid, %d late, issues %+v", rep.Invalid, rep.Late, rep.Issues)
	}
}

func digest(t *testing.T, cfg Config) (string, Summary) {
	h := sha256.New()
	sum, err := WriteJSONL(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), sum
}

var _ = errors.New
var _ = io.Discard
