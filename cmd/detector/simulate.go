package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/tools/demo"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/sim"
	"github.com/toolwatch/toolwatch/tools/sim/fleet"
)

func cmdSimulate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("simulate", stderr)
	outPath := fs.String("out", "-", "where to write records, one JSON object per line ('-' is stdout)")
	planPath := fs.String("plan", "", "also write the injected anomalies (ground truth) as JSON lines here")
	profile := fs.String("profile", sim.ProfileRealistic, "scenario: realistic (a week of heavy-tailed, bursty, irregular fleet traffic), easy (the original smooth 72 h run) or fleet (the independent generator tools/sim/fleet: tenants, autoscaled agent instances, deploys, outages; file output only)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same bytes")
	hours := fs.Float64("hours", 0, "hours of event time (0: the profile's, 168 realistic, 72 easy)")
	warmUp := fs.Duration("warm-up", 0, "anomaly-free start of the run (0: the profile's, 48h realistic, 24h easy)")
	scale := fs.Float64("scale", 1, "traffic multiplier (realistic: 1 ≈ 330k records a week; easy: 1 ≈ 450k per 72h, 2.2 ≈ 1M)")
	start := fs.String("start", sim.DefaultStart.Format(time.RFC3339), "event time of the first record (RFC 3339)")
	jitter := fs.Duration("jitter", 0, "emit records up to this much out of event-time order")
	noAnomalies := fs.Bool("no-anomalies", false, "normal traffic only")
	natsURL := fs.String("nats", "", "publish in real time to this NATS server instead of writing a file")
	rate := fs.Float64("rate", 1.5, "with --nats: mean simulated calls/s (before the day/night swing)")
	duration := fs.Duration("duration", 0, "with --nats: how long to publish (0: until interrupted)")
	every := fs.Duration("anomaly-every", 30*time.Second, "with --nats: inject one anomaly this often (unless --no-anomalies)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *natsURL != "" && *profile == profileFleet {
		fmt.Fprintln(stderr, "simulate: --profile fleet writes files only; --nats publishes the demo traffic")
		return 2
	}
	if *natsURL != "" {
		return simulateNATS(*natsURL, demo.SimulateConfig{Seed: *seed, Rate: *rate, Duration: *duration,
			Anomalies: !*noAnomalies, AnomalyEvery: *every}, stderr)
	}
	if *profile == profileFleet {
		return simulateFleet(fleet.Config{Seed: *seed, Duration: time.Duration(*hours * float64(time.Hour)), Scale: *scale,
			NoAnomalies: *noAnomalies, WarmUp: *warmUp}, *start, *outPath, *planPath, stdout, stderr)
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: --start: %v\n", err)
		return 2
	}
	p, err := parseProfile(*profile)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 2
	}
	cfg := sim.Config{
		Profile: p, Seed: *seed, Start: st.UTC(), Duration: time.Duration(*hours * float64(time.Hour)),
		Scale: *scale, Jitter: *jitter, NoAnomalies: *noAnomalies, WarmUp: *warmUp,
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

// simulateNATS publishes simulated traffic stamped with the wall clock to
// a NATS server until the duration ends or the user interrupts.
func simulateNATS(url string, cfg demo.SimulateConfig, stderr io.Writer) int {
	nc, err := nats.Connect(url, nats.Name("toolwatch-simulate"))
	if err != nil {
		fmt.Fprintf(stderr, "simulate: connect %s: %v\n", url, err)
		return 1
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	records := 0
	cfg.Progress = func(p demo.Progress) {
		records = p.Records
		if p.Injected != nil {
			fmt.Fprintf(stderr, "injecting %s: %s\n", p.Injected.Pattern, p.Injected.Description)
		}
	}
	fmt.Fprintf(stderr, "publishing simulated audit records to %s (Ctrl-C stops)\n", url)
	err = demo.Simulate(ctx, nc, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "published %d records\n", records)
	return 0
}

// profileFleet selects the independent generator (tools/sim/fleet).
const profileFleet = "fleet"

// simulateFleet writes the fleet generator's records (and plan) to files;
// --start keeps the fleet's own default (a Monday) unless given.
func simulateFleet(cfg fleet.Config, start, outPath, planPath string, stdout, stderr io.Writer) int {
	if start != sim.DefaultStart.Format(time.RFC3339) {
		st, err := time.Parse(time.RFC3339, start)
		if err != nil {
			fmt.Fprintf(stderr, "simulate: --start: %v\n", err)
			return 2
		}
		cfg.Start = st.UTC()
	}
	out := stdout
	var f *os.File
	if outPath != "-" {
		var err error
		if f, err = os.Create(outPath); err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return 1
		}
		out = f
	}
	w := bufio.NewWriterSize(out, 1<<20)
	sum, err := fleet.WriteJSONL(cfg, w)
	if err == nil {
		err = w.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && planPath != "" {
		err = writePlan(planPath, sum.Plan)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %d records (%d normal, %d anomalous) from %d agent instances with %d injected anomalies\n",
		sum.Records, sum.Normal, sum.Records-sum.Normal, sum.Agents, len(sum.Plan))
	return 0
}

func parseProfile(p string) (string, error) {
	switch p {
	case sim.ProfileRealistic:
		return p, nil
	case sim.ProfileEasy, "":
		return "", nil
	}
	return "", fmt.Errorf("--profile %q: want realistic, easy or fleet", p)
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
