// Package replay runs the detection pipeline over a JSON-lines file of
// audit records in event time and writes the alerts as JSON lines
// (`detector replay`). The output is a pure function of the input and the
// configuration: no wall-clock time or randomness reaches it, so two runs
// are byte-for-byte identical.
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/record"
)

// Options configure a replay.
type Options struct {
	Config *config.Config
	// Stderr receives one line per invalid input line (line number and
	// reason), up to MaxReported of them. Nil discards.
	Stderr io.Writer
	// MaxReported caps the invalid lines reported individually (0: 100);
	// all are counted in the summary.
	MaxReported int
	// Now is the wall clock, used only to reject records stamped in the
	// future. Nil means time.Now.
	Now func() time.Time
}

// Summary counts what a replay did.
type Summary struct {
	Lines    int // non-empty input lines
	Applied  int
	Late     int
	Invalid  int
	Firing   int                       // firing alerts emitted
	Resolved int                       // resolve notices emitted
	Alerts   map[string]map[string]int // pattern → severity → firing alerts
	Elapsed  time.Duration
}

// RecordsPerSecond is the replay throughput.
func (s Summary) RecordsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Lines) / s.Elapsed.Seconds()
}

// WriteTo prints the summary for a human.
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "records read: %d (applied %d, late %d, invalid %d)\n", s.Lines, s.Applied, s.Late, s.Invalid)
	fmt.Fprintf(&b, "alerts: %d firing, %d resolved\n", s.Firing, s.Resolved)
	patterns := make([]string, 0, len(s.Alerts))
	for p := range s.Alerts {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, p := range patterns {
		bySev := s.Alerts[p]
		fmt.Fprintf(&b, "  %-14s info %d, warning %d, critical %d\n", p, bySev[alert.SeverityInfo], bySev[alert.SeverityWarning], bySev[alert.SeverityCritical])
	}
	fmt.Fprintf(&b, "wall time: %s (%.0f records/s)\n", s.Elapsed.Round(time.Millisecond), s.RecordsPerSecond())
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Run replays in to out. Invalid lines are reported and counted, never
// fatal; only I/O errors and cancellation stop a replay.
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) (Summary, error) {
	start := time.Now()
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	maxReported := opts.MaxReported
	if maxReported <= 0 {
		maxReported = 100
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}

	p, err := pipeline.Build(cfg, now)
	if err != nil {
		return Summary{}, fmt.Errorf("build detectors: %w", err)
	}
	sum := Summary{Alerts: map[string]map[string]int{}}
	w := bufio.NewWriterSize(out, 256<<10)
	var buf []byte
	emit := func(alerts []alert.Alert) error {
		for i := range alerts {
			a := &alerts[i]
			if a.Status == alert.StatusFiring {
				sum.Firing++
				if sum.Alerts[a.Pattern] == nil {
					sum.Alerts[a.Pattern] = map[string]int{}
				}
				sum.Alerts[a.Pattern][a.Severity]++
			} else {
				sum.Resolved++
			}
			buf = alert.MarshalJSONLine(a, buf[:0])
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write alert: %w", err)
			}
		}
		return nil
	}

	// The reader's buffer bounds a line: longer lines are invalid and
	// skipped without being held in memory.
	limit := cfg.Limits.MaxRecordBytes
	r := bufio.NewReaderSize(in, limit+2)
	lineNo, reported := 0, 0
	report := func(reason string) {
		sum.Invalid++
		if reported < maxReported {
			fmt.Fprintf(stderr, "line %d: %s\n", lineNo, reason)
		} else if reported == maxReported {
			fmt.Fprintf(stderr, "further invalid lines are counted but not reported\n")
		}
		reported++
	}
	for {
		if lineNo&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
		}
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lineNo++
			sum.Lines++
			if err := discardLine(r); err != nil && !errors.Is(err, io.EOF) {
				return sum, fmt.Errorf("read input: %w", err)
			}
			report(fmt.Sprintf("record: larger than %d bytes", limit))
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return sum, fmt.Errorf("read input: %w", err)
		}
		if len(line) > 0 {
			lineNo++
			line = trimSpace(line)
			if len(line) > 0 {
				sum.Lines++
				alerts, outcome, herr := p.Handle(line)
				switch outcome {
				case record.Invalid:
					report(record.Reason(herr))
				case record.Late:
					sum.Late++
				default:
					sum.Applied++
				}
				if err := emit(alerts); err != nil {
					return sum, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := emit(p.Flush()); err != nil {
		return sum, err
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("write alerts: %w", err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func discardLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
