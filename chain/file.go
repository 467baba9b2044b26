package chain

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

// FileOptions configure VerifyRecords.
type FileOptions struct {
	Params Params
	Keys   Keys
	// Lateness is the daemon's time.allowed_lateness: a record older than
	// the newest event time seen minus Lateness is late and skipped, as the
	// daemon skips it, so offline and live findings agree.
	Lateness time.Duration
	// TickInterval is the event-time step at which gaps are declared (the
	// daemon's time.tick_interval).
	TickInterval time.Duration
	Limits       record.Limits
	// MaxListed bounds the invalid and late lines kept in the report.
	MaxListed int
}

// Line is a line of the input that was not checked, with the reason.
type Line struct {
	N      int64  `json:"line"`
	Reason string `json:"reason"`
}

// Report is what VerifyRecords found. Issue refs are 1-based line numbers.
type Report struct {
	Lines     int64   `json:"lines"`
	Invalid   int64   `json:"invalid"`
	Late      int64   `json:"late"`
	Producers int     `json:"producers"`
	Stats     Stats   `json:"stats"`
	Issues    []Issue `json:"findings"`
	Skipped   []Line  `json:"skipped,omitempty"` // first MaxListed invalid or late lines
}

// VerifyRecords checks the chains of a JSON-lines stream of audit records
// (a file or an export of the stream, in stream order), with the same
// Verifier, lateness and gap rules as the chain_integrity detector.
func VerifyRecords(in io.Reader, o FileOptions) (*Report, error) {
	if o.TickInterval <= 0 {
		o.TickInterval = 10 * time.Second
	}
	rep := &Report{}
	v := NewVerifier(o.Params, o.Keys)
	dec := record.NewDecoder(o.Limits)
	maxLine := o.Limits.MaxRecordBytes
	if maxLine <= 0 {
		maxLine = record.DefaultLimits().MaxRecordBytes
	}
	br := bufio.NewReaderSize(in, 64<<10)
	var (
		r        record.Record
		newest   time.Time
		nextTick time.Time
		issues   []Issue
	)
	skip := func(reason string) {
		if len(rep.Skipped) < o.MaxListed {
			rep.Skipped = append(rep.Skipped, Line{N: rep.Lines, Reason: reason})
		}
	}
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it (up to the record
			// limit) so it is judged like any other.
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long) <= maxLine {
					long = append(long, line...)
				}
			}
			line = long
		}
		if len(line) > 0 {
			rep.Lines++
			body := trimEOL(line)
			switch derr := dec.Decode(body, &r); {
			case len(body) == 0:
				// blank line
			case derr != nil:
				rep.Invalid++
				skip("invalid: " + record.Reason(derr))
			case !newest.IsZero() && r.Timestamp.Before(newest.Add(-o.Lateness)):
				rep.Late++
				skip(fmt.Sprintf("late: more than %s older than the newest record", o.Lateness))
			default:
				if r.Timestamp.After(newest) {
					newest = r.Timestamp
					wm := newest.Add(-o.Lateness)
					if nextTick.IsZero() {
						nextTick = wm.Truncate(o.TickInterval).Add(o.TickInterval)
					} else if !wm.Before(nextTick) {
						issues = v.Tick(wm, issues)
						nextTick = wm.Truncate(o.TickInterval).Add(o.TickInterval)
					}
				}
				issues = v.Observe(&r, rep.Lines, issues)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, err
		}
	}
	issues = v.Flush(issues)
	rep.Issues, rep.Stats, rep.Producers = issues, v.Stats(), v.Producers()
	return rep, nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
