package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/toolwatch/toolwatch/internal/eval"
	"github.com/toolwatch/toolwatch/internal/sim"
)

func cmdSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outPath := fs.String("out", "-", "where to write records, one JSON object per line ('-' is stdout)")
	planPath := fs.String("plan", "", "also write the injected anomalies (ground truth) as JSON lines here")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same bytes")
	hours := fs.Float64("hours", 72, "hours of event time")
	scale := fs.Float64("scale", 1, "traffic multiplier (1 ≈ 450k records per 72h; 2.2 ≈ 1M)")
	start := fs.String("start", sim.DefaultStart.Format(time.RFC3339), "event time of the first record (RFC 3339)")
	jitter := fs.Duration("jitter", 0, "emit records up to this much out of event-time order")
	noAnomalies := fs.Bool("no-anomalies", false, "normal traffic only")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: --start: %v\n", err)
		return 2
	}
	cfg := sim.Config{
		Seed: *seed, Start: st.UTC(), Duration: time.Duration(*hours * float64(time.Hour)),
		Scale: *scale, Jitter: *jitter, NoAnomalies: *noAnomalies,
	}
	out := stdout
	var f *os.File
	if *outPath != "-" {
		if f, err = os.Create(*outPath); err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return 1
		}
		out = f
	}
	w := bufio.NewWriterSize(out, 1<<20)
	plan, normal, total, err := eval.WriteJSONL(cfg, w)
	if err == nil {
		err = w.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 1
	}
	if *planPath != "" {
		if err := writePlan(*planPath, plan); err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "wrote %d records (%d normal, %d anomalous) with %d injected anomalies\n", total, normal, total-normal, len(plan))
	return 0
}

func writePlan(path string, plan []sim.Anomaly) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, a := range plan {
		if err := enc.Encode(a); err != nil {
			f.Close()
			return fmt.Errorf("write plan %s: %w", path, err)
		}
	}
	return f.Close()
}
