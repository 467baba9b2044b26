package chain_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	"github.com/toolwatch/toolwatch/record"
)

func fileOptions() chain.FileOptions {
	return chain.FileOptions{Params: chain.DefaultParams(), Keys: chain.Keys{"k1": chaintest.PublicKey(1)},
		Lateness: 30 * time.Second, MaxListed: 10}
}

// TestVerifyRecordsLines: an over-long line, a blank line, a CRLF line and
// a late record are reported by line number and lose nothing around them.
func TestVerifyRecordsLines(t *testing.T) {
	rs := stream(100)
	var b bytes.Buffer
	for i, r := range rs {
		switch i {
		case 10:
			b.WriteString(`{"x":"` + strings.Repeat("a", 100<<10) + `"}` + "\n") // line 11
		case 20:
			b.WriteString("\n") // line 22
		case 40:
			b.Write(rs[0].AppendJSON(nil)) // line 43: 39 s late
			b.WriteString("\n")
		}
		b.Write(r.AppendJSON(nil))
		if i == 50 {
			b.WriteByte('\r')
		}
		b.WriteByte('\n')
	}
	rep, err := chain.VerifyRecords(&b, fileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 103 || rep.Invalid != 1 || rep.Late != 1 || rep.Stats.Records != 100 || len(rep.Issues) != 0 {
		t.Fatalf("report %+v", rep)
	}
	want := []chain.Line{{N: 11, Reason: "invalid: record: larger than 65536 bytes"},
		{N: 43, Reason: "late: more than 30s older than the newest record"}}
	if !slices.Equal(rep.Skipped, want) {
		t.Fatalf("skipped %+v", rep.Skipped)
	}
}

// writeBig writes n records of 100 producers (a checkpoint every 1000th
// record of each) with a record altered every n/10, deleted every n/7 and
// forked every n/5 records, and returns the findings it planted as
// "kind@line".
func writeBig(tb testing.TB, path string, n int) []string {
	alter, del, fork := n/10+3, n/7+1, n/5+3
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	t0 := time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)
	ss := make([]*chaintest.Stream, 100)
	for i := range ss {
		ss[i] = &chaintest.Stream{Producer: fmt.Sprint("rt-", i), Agent: fmt.Sprint("agent-", i%10), Tool: fmt.Sprint("tool-", i%7),
			KeyID: "k1", Key: chaintest.Key(1), CheckpointEvery: 1000, Start: t0, Step: 100 * time.Millisecond}
	}
	var (
		want    []string
		line    int
		buf     []byte
		gapNext = map[int]bool{} // producers whose next written record follows a deleted one
	)
	emit := func(r *record.Record) {
		buf = append(r.AppendJSON(buf[:0]), '\n')
		w.Write(buf)
		line++
	}
	for i := range n {
		p := i % len(ss)
		r := ss[p].Next()
		switch {
		case i%del == del-1: // deleted
			gapNext[p] = true
			continue
		case i%alter == alter-1: // altered in transit
			r.Invocation.OutputBytes += 7
			emit(r)
			want = append(want, fmt.Sprint("altered@", line))
		case i%fork == fork-1: // a second, re-hashed record with the same seq
			emit(r)
			f := r.Clone()
			f.Invocation.Status = record.StatusError
			f.Chain.KeyID = ""
			f.Chain.Hash, _ = chain.Hash(f, nil)
			emit(f)
			want = append(want, fmt.Sprint("fork@", line))
		default:
			emit(r)
		}
		if gapNext[p] {
			delete(gapNext, p)
			want = append(want, fmt.Sprint("gap@", line))
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	slices.Sort(want)
	return want
}

func found(rep *chain.Report) []string {
	var got []string
	for _, is := range rep.Issues {
		got = append(got, fmt.Sprint(is.Kind, "@", is.Ref))
	}
	slices.Sort(got)
	return got
}

func TestVerifyRecordsPlanted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	want := writeBig(t, path, 20_000)
	f, _ := os.Open(path)
	defer f.Close()
	o := fileOptions()
	rep, err := chain.VerifyRecords(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := found(rep); !slices.Equal(got, want) || len(want) != 9+6+4 {
		t.Fatalf("findings %v, want %v", got, want)
	}
}

// BenchmarkVerifyRecords1M: `detector verify` on a generated file of
// 1,000,000 records (100 producers, ~600 MB) with planted tampering; the
// findings must be exactly the planted ones. Run with -benchtime 1x.
func BenchmarkVerifyRecords1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.jsonl")
	want := writeBig(b, path, 1_000_000)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := chain.VerifyRecords(f, fileOptions())
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if got := found(rep); !slices.Equal(got, want) || rep.Stats.Records < 1_000_000-10 {
			b.Fatalf("findings %v, want %v (%d records)", got, want, rep.Stats.Records)
		}
	}
	b.ReportMetric(1e6/(b.Elapsed().Seconds()/float64(b.N)), "records/s")
}
